/** Backoff after an error: doubles from `initialMs` per failure up to `maxMs`. */
export interface BackoffSettings {
  initialMs: number;
  maxMs: number;
}

/**
 * The delay before retry number `failures` (1 = first retry), with jitter ("equal jitter"): a random
 * time between half and all of the exponential step, so many routers that lost Consul at the
 * same moment do not come back in lock step.
 */
export function backoffDelay(failures: number, settings: BackoffSettings, random: () => number = Math.random): number {
  const step = Math.min(settings.maxMs, settings.initialMs * 2 ** Math.min(failures - 1, 30));
  return Math.round(step / 2 + random() * (step / 2));
}

import type { ServiceConfig } from '../config/schema.js';

/**
 * Caps concurrent retries to a share of the requests in flight (Envoy's retry budget), with a
 * small floor so a quiet service can still retry. When every instance fails, retries cannot
 * multiply the load: at most `percent`% extra requests, whatever the retry policy says.
 */
export class RetryBudget {
  /** Retries now in flight. */
  activeRetries = 0;

  constructor(public settings: ServiceConfig['retryBudget']) {}

  /** Takes one retry from the budget if there is room; release it when that try ends. */
  tryAcquire(activeRequests: number): boolean {
    const limit = Math.max(this.settings.minConcurrency, Math.floor((activeRequests * this.settings.percent) / 100));
    if (this.activeRetries >= limit) return false;
    this.activeRetries++;
    return true;
  }

  release(): void {
    this.activeRetries--;
  }
}

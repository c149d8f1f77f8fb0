/** What to do after an app instance exited unexpectedly. */
export type RestartDecision = { restart: true; delayMs: number; recentRestarts: number } | { restart: false; recentRestarts: number };

export interface RestartPolicySettings {
  initialBackoff: number;
  maxBackoff: number;
  crashLoopRestarts: number;
  crashLoopWindow: number;
}

/**
 * Exponential backoff with a crash-loop limit, for one app instance. The backoff exponent is
 * the number of restarts within the crash-loop window, so an instance that has been stable
 * for a window starts again from the initial delay; reaching `crashLoopRestarts` restarts
 * within the window means the instance cannot stay up and the supervisor gives up.
 */
export class RestartPolicy {
  /** Times (ms) of the restarts still inside the window, oldest first. */
  private restarts: number[] = [];

  constructor(private readonly settings: RestartPolicySettings) {}

  /** Records an exit at `now` and decides whether and when to restart. */
  onExit(now: number): RestartDecision {
    const since = now - this.settings.crashLoopWindow;
    this.restarts = this.restarts.filter((t) => t > since);
    const recent = this.restarts.length;
    if (recent >= this.settings.crashLoopRestarts) return { restart: false, recentRestarts: recent };
    this.restarts.push(now);
    const delayMs = Math.min(this.settings.initialBackoff * 2 ** recent, this.settings.maxBackoff);
    return { restart: true, delayMs, recentRestarts: recent + 1 };
  }
}

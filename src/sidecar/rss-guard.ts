import { readFile } from 'node:fs/promises';
import type { Logger } from '../observability/logger.js';

/** Resident set size of a process in bytes, from /proc/<pid>/status (Linux); null when unreadable. */
export async function readRss(pid: number): Promise<number | null> {
  let text: string;
  try {
    text = await readFile(`/proc/${pid}/status`, 'utf8');
  } catch {
    return null;
  }
  const at = text.indexOf('VmRSS:');
  if (at < 0) return null;
  const kb = Number.parseInt(text.slice(at + 6).trimStart(), 10);
  return Number.isFinite(kb) ? kb * 1024 : null;
}

export interface RssGuardSettings {
  limitBytes: number;
  /** How long the RSS must stay above the limit before a restart. */
  forMs: number;
  intervalMs: number;
}

/**
 * Restarts app instances whose resident set stays above a limit: every interval it reads each
 * instance's VmRSS (asynchronously, off every request path) and calls `restart` for one that
 * has been above the limit on every read for at least `forMs`. Only the direct child is
 * measured (not its own children). Linux only: where /proc is missing it logs once and stops.
 */
export class RssGuard {
  private timer: NodeJS.Timeout | null = null;
  /** Per instance: the pid measured and since when it has been above the limit. */
  private readonly overSince = new Map<number, { pid: number; since: number }>();
  private warnedUnavailable = false;

  constructor(
    private readonly settings: RssGuardSettings,
    private readonly pidOf: (instance: number) => number | undefined,
    private readonly instances: number,
    private readonly restart: (instance: number, reason: string) => void,
    private readonly logger: Logger,
  ) {}

  start(): void {
    this.schedule();
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    this.timer = setTimeout(() => {
      void this.check().then(() => {
        if (this.timer !== null) this.schedule();
      });
    }, this.settings.intervalMs);
  }

  private async check(): Promise<void> {
    const now = Date.now();
    for (let instance = 0; instance < this.instances; instance++) {
      const pid = this.pidOf(instance);
      if (pid === undefined) {
        this.overSince.delete(instance);
        continue;
      }
      const rss = await readRss(pid);
      if (rss === null) {
        if (!this.warnedUnavailable && process.platform !== 'linux') {
          this.warnedUnavailable = true;
          this.logger.warn({ platform: process.platform }, 'app.memory.rssLimit needs /proc (Linux); the RSS guard is off');
          this.stop();
          return;
        }
        continue;
      }
      if (rss <= this.settings.limitBytes) {
        this.overSince.delete(instance);
        continue;
      }
      const previous = this.overSince.get(instance);
      const since = previous !== undefined && previous.pid === pid ? previous.since : now;
      this.overSince.set(instance, { pid, since });
      this.logger.debug({ instance, pid, rssBytes: rss, limitBytes: this.settings.limitBytes }, 'app instance above its RSS limit');
      if (now - since >= this.settings.forMs) {
        this.overSince.delete(instance);
        this.logger.warn({ instance, pid, rssBytes: rss, limitBytes: this.settings.limitBytes, forMs: this.settings.forMs }, 'app instance stayed above its RSS limit; restarting it');
        this.restart(instance, `resident set ${Math.round(rss / 1048576)} MiB above the limit of ${Math.round(this.settings.limitBytes / 1048576)} MiB for ${this.settings.forMs} ms`);
      }
    }
  }
}

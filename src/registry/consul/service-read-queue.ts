import { setTimeout as sleep } from 'node:timers/promises';

export interface ServiceReadQueueOptions {
  /** Most reads in flight at once. */
  concurrency: number;
  /** Most reads started per second (token bucket refilled continuously, burst = concurrency). */
  ratePerSecond: number;
  /** Reads one service; rejections are the caller's to handle inside `read`. */
  read(name: string): Promise<void>;
  /** Called each time the queue runs empty with nothing in flight. */
  onIdle(): void;
}

/**
 * The reads of /v1/health/service/<name> that the registry sends, with two priorities and one
 * rate limit towards Consul:
 * - `urgent` names (a check or tag said the service changed) are read before any `background`
 *   name (a budgeted sweep), so a sweep never delays a known change by more than the reads
 *   already in flight;
 * - a name queued twice is read once;
 * - at most `concurrency` reads are in flight and at most `ratePerSecond` start per second,
 *   whatever the churn in Consul, so the load one router puts on Consul has a ceiling.
 * Hand-written: a token bucket and two ordered sets are a few lines; a queue library would
 * not know the urgent/background rule.
 */
export class ServiceReadQueue {
  private readonly urgentNames = new Set<string>();
  private readonly backgroundNames = new Set<string>();
  private inFlight = 0;
  private workers = 0;
  private tokens: number;
  private lastRefill = performance.now();
  private closed = false;
  private readonly abort = new AbortController();

  constructor(private readonly options: ServiceReadQueueOptions) {
    this.tokens = options.concurrency;
  }

  urgent(name: string): void {
    this.backgroundNames.delete(name);
    this.urgentNames.add(name);
    this.pump();
  }

  background(names: Iterable<string>): void {
    for (const name of names) if (!this.urgentNames.has(name)) this.backgroundNames.add(name);
    this.pump();
  }

  /** Names waiting (not yet started). */
  get pending(): number {
    return this.urgentNames.size + this.backgroundNames.size;
  }

  get idle(): boolean {
    return this.pending === 0 && this.inFlight === 0;
  }

  close(): void {
    this.closed = true;
    this.abort.abort();
    this.urgentNames.clear();
    this.backgroundNames.clear();
  }

  private pump(): void {
    while (!this.closed && this.workers < this.options.concurrency && this.workers < this.pending) {
      this.workers += 1;
      void this.work();
    }
  }

  private next(): string | undefined {
    for (const set of [this.urgentNames, this.backgroundNames]) {
      for (const name of set) {
        set.delete(name);
        return name;
      }
    }
    return undefined;
  }

  private async work(): Promise<void> {
    try {
      while (!this.closed && this.pending > 0) {
        const wait = this.takeToken();
        if (wait > 0) {
          try {
            await sleep(wait, undefined, { signal: this.abort.signal });
          } catch {
            return;
          }
          continue;
        }
        const name = this.next();
        if (name === undefined) break;
        this.inFlight += 1;
        try {
          await this.options.read(name);
        } finally {
          this.inFlight -= 1;
        }
      }
    } finally {
      this.workers -= 1;
      if (!this.closed && this.idle) this.options.onIdle();
    }
  }

  /** Takes a token: 0 when taken, else the ms until one is available. */
  private takeToken(): number {
    const now = performance.now();
    const rate = this.options.ratePerSecond / 1000;
    this.tokens = Math.min(this.options.concurrency, this.tokens + (now - this.lastRefill) * rate);
    this.lastRefill = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return 0;
    }
    return Math.ceil((1 - this.tokens) / rate);
  }
}

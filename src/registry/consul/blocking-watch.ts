import { setTimeout as sleep } from 'node:timers/promises';
import { isAbort, type ConsulClient, type ConsulResponse } from './consul-client.js';
import { ConsulRequestError } from './consul-request-error.js';
import { backoffDelay, type BackoffSettings } from './retry-backoff.js';
import type { ResponseOf, ResponseSchema } from './response-schema.js';

export interface BlockingWatchOptions<S extends ResponseSchema<unknown>> {
  path: string;
  query: readonly (readonly [string, string])[];
  schema: S;
  waitMs: number;
  /** Least time between the starts of two requests (rate limit of re-issues). */
  minIntervalMs: number;
  backoff: BackoffSettings;
  /** A 404 is an empty result (a KV key not written yet) rather than an error. */
  notFoundIsEmpty?: boolean;
  /**
   * After a failed request, read once without blocking: the answer comes at once, so the
   * caller learns straight away that the source is back (a blocking read at an unchanged index
   * would only answer after `waitMs`).
   */
  nonBlockingAfterError?: boolean;
}

export interface BlockingWatchHandlers<T> {
  /**
   * A result with a new index (the content may still be the same: compare it). `fresh` is
   * true for a non-blocking read (the first one, or the one after an index reset): its index
   * says nothing about a change, only its content does. `unchanged` is true when the body is
   * the same text as the last result's (then `body` is that result's object, not parsed again):
   * only the index moved.
   */
  onResult(body: T, index: number, fresh: boolean, unchanged: boolean): void;
  // May throw a ConsulRequestError to refuse the answer (its body did not decode): the watch
  // then counts a failed read (onError, backoff) and keeps its index, so the next read sees the
  // change again. onSuccess follows an accepted answer only.
  /** A failed request; the watch retries after a backoff delay. */
  onError(error: ConsulRequestError): void;
  /** A request succeeded (used to clear an error state). */
  onSuccess(): void;
  /** The index went backwards; the watch does a fresh non-blocking read next. */
  onIndexReset(from: number, to: number): void;
}

/**
 * One Consul blocking-query loop on one endpoint, following Consul's rules:
 * - each request sends the last X-Consul-Index with `wait`; an answer with the same index
 *   is a timeout (nothing new) and is not reported;
 * - an index lower than the last one (server restart, snapshot restore) resets the index to
 *   0 and the next read is a fresh non-blocking one; an index of 0 is never sent as a
 *   blocking index (an answered 0 is taken as 1);
 * - requests start at least `minIntervalMs` apart, so a flapping index cannot busy-loop;
 * - the fresh read after a reset waits at least `minIntervalMs` after the answer that showed
 *   the reset, and resets in a row back off like errors, so an index that keeps going
 *   backwards costs no more than a quiet one;
 * - errors back off exponentially with jitter, and the loop keeps going until stopped.
 */
export class BlockingWatch<S extends ResponseSchema<unknown>> {
  private index = 0;
  /** The last answer's text and parsed body: an answer with the same text is not parsed again. */
  private last: { text: string; body: unknown; bytes: Buffer } | undefined;
  private readonly abort = new AbortController();
  private running: Promise<void> | null = null;
  /** Requests sent so far (observability and tests). */
  requests = 0;

  constructor(
    private readonly client: ConsulClient,
    private readonly options: BlockingWatchOptions<S>,
    private readonly handlers: BlockingWatchHandlers<ResponseOf<S>>,
  ) {}

  /** Starts the loop from `index` (0: the first read is non-blocking). */
  start(index: number): void {
    this.index = index;
    this.running ??= this.loop();
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.running;
  }

  get currentIndex(): number {
    return this.index;
  }

  private async loop(): Promise<void> {
    const { signal } = this.abort;
    let failures = 0;
    let resets = 0;
    while (!signal.aborted) {
      const started = Date.now();
      const blocking = this.index > 0 && !(failures > 0 && this.options.nonBlockingAfterError === true);
      let res: ConsulResponse<ResponseOf<S>>;
      try {
        this.requests += 1;
        res = await this.client.read(this.options.path, this.options.query, this.options.schema, {
          blocking: blocking ? { index: this.index, waitMs: this.options.waitMs } : undefined,
          signal,
          notFoundIsEmpty: this.options.notFoundIsEmpty,
          previous: this.last,
        });
        if (res.index === null) throw new ConsulRequestError('garbage', `Consul answered ${this.options.path} without an X-Consul-Index header; it cannot be watched`);
      } catch (err) {
        if (signal.aborted || isAbort(err)) return;
        failures += 1;
        this.handlers.onError(err instanceof ConsulRequestError ? err : new ConsulRequestError('unreachable', (err as Error).message));
        if (!(await this.pause(backoffDelay(failures, this.options.backoff)))) return;
        continue;
      }
      const next = Math.max(1, res.index);
      if (next < this.index) {
        failures = 0;
        this.handlers.onSuccess();
        this.handlers.onIndexReset(this.index, next);
        this.index = 0;
        resets += 1;
        const delay = Math.max(this.options.minIntervalMs, resets > 1 ? backoffDelay(resets - 1, this.options.backoff) : 0);
        if (!(await this.pause(delay))) return;
        continue;
      }
      if (blocking) resets = 0;
      const changed = !blocking || next !== this.index;
      if (changed) {
        try {
          this.handlers.onResult(res.body, next, !blocking, res.unchanged);
        } catch (err) {
          // The handler refused the answer (a body read as text that did not decode): a failed
          // read, retried with backoff from the index before it.
          if (!(err instanceof ConsulRequestError)) throw err;
          failures += 1;
          this.handlers.onError(err);
          if (!(await this.pause(backoffDelay(failures, this.options.backoff)))) return;
          continue;
        }
      }
      failures = 0;
      this.handlers.onSuccess();
      this.index = next;
      this.last = { text: res.text, body: res.body, bytes: res.bytes };
      const elapsed = Date.now() - started;
      if (elapsed < this.options.minIntervalMs && !(await this.pause(this.options.minIntervalMs - elapsed))) return;
    }
  }

  /** Sleeps; false when the watch was stopped meanwhile. */
  private async pause(ms: number): Promise<boolean> {
    try {
      await sleep(ms, undefined, { signal: this.abort.signal });
      return true;
    } catch {
      return false;
    }
  }
}

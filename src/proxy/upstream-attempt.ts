import type { Dispatcher } from 'undici';
import type { Endpoint } from '../upstream/endpoint.js';
import { ClientClosedError } from './client-closed-error.js';
import { ExchangeTimeoutError } from './exchange-timeout-error.js';
import type { Exchange } from './exchange.js';


/**
 * One try of an exchange on one endpoint (Envoy's UpstreamRequest): the pool's dispatch
 * handler, with the try's own timer and state. It reports each event to its exchange, which
 * decides what the client sees and whether another try follows.
 */
export class UpstreamAttempt implements Dispatcher.DispatchHandler {
  /** Waiting for a connection (counted in the breaker's pendingRequests). */
  pending = true;
  /** It reached the upstream (the pool gave it a connection). */
  connected = false;
  gotHeaders = false;
  /** Its 5xx (or retried gRPC status) response is read and dropped before a retry. */
  discarding = false;
  timedOut = false;
  ended = false;
  private abortUpstream: ((err?: Error) => void) | null = null;
  private resumeUpstream: (() => void) | null = null;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly exchange: Exchange,
    readonly endpoint: Endpoint,
  ) {}

  start(options: Dispatcher.DispatchOptions, perTryMs: number): void {
    this.endpoint.tries++;
    if (perTryMs > 0) this.timer = setTimeout(onTryTimeout, perTryMs, this);
    this.endpoint.pool.dispatch(options, this);
  }

  onConnect(abort: (err?: Error) => void): void {
    this.exchange.attemptConnecting(this, true);
    if (this.exchange.over) {
      abort(new ClientClosedError());
    } else if (this.timedOut) {
      // Timed out while waiting for a connection: cancelled before anything was written.
      abort(new ExchangeTimeoutError('try', this.exchange.route.timeouts.perTry));
    } else {
      this.connected = true;
      this.abortUpstream = abort;
    }
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) {
      if (!this.discarding) this.exchange.interimResponse(statusCode, rawHeaders);
      return true;
    }
    this.clearTimer();
    this.gotHeaders = true;
    this.resumeUpstream = resume;
    return this.exchange.responseHead(this, statusCode, rawHeaders, statusText);
  }

  onData(chunk: Buffer): boolean {
    return this.discarding || this.exchange.responseChunk(chunk);
  }

  onComplete(trailers: string[] | null): void {
    this.end();
    this.exchange.attemptComplete(this, trailers);
  }

  onError(err: Error & { code?: string }): void {
    this.exchange.attemptConnecting(this, false);
    this.end();
    this.exchange.attemptFailed(this, err);
  }

  /** Cancels the try; its onError follows. False when it holds no connection to cancel yet. */
  cancel(err: Error): boolean {
    if (this.abortUpstream === null) return false;
    this.abortUpstream(err);
    return true;
  }

  resume(): void {
    this.resumeUpstream?.();
  }

  timeout(): void {
    this.timer = null;
    if (this.gotHeaders || this.ended) return;
    this.timedOut = true;
    // Without a connection yet, onConnect cancels the try before anything is written.
    this.abortUpstream?.(new ExchangeTimeoutError('try', this.exchange.route.timeouts.perTry));
  }

  private end(): void {
    this.clearTimer();
    this.ended = true;
    this.endpoint.triesEnded++;
    this.abortUpstream = null;
    this.resumeUpstream = null;
  }

  private clearTimer(): void {
    if (this.timer === null) return;
    clearTimeout(this.timer);
    this.timer = null;
  }
}

function onTryTimeout(attempt: UpstreamAttempt): void {
  attempt.timeout();
}

import type { ServerStream } from '../codec/server-stream.js';
import type { Logger } from '../observability/logger.js';
import { PROXY_ERROR_HEADER, PROXY_ERRORS } from './proxy-error.js';

/** An HTTP/2 request whose body the watch waits for. */
export interface BodyAwaitingRequest extends Pick<ServerStream, 'url'> {
  /** Answers `statusCode` with `headers` (or resets the stream once its response started). */
  timedOut(statusCode: number, headers: readonly string[]): void;
}

/** What the watch asks of its engine's requests. */
export interface BodyAwaitingEngine<R> {
  /** The body arrived whole, or the stream is gone: no longer watched. */
  bodyDone(request: R): boolean;
  /** The client's address, for the log line. */
  remoteAddress(request: R): string | undefined;
}

/** The answer to a request whose body stalled past limits.requestTimeout. */
const REQUEST_TIMEOUT_HEADERS: readonly string[] = ['content-length', '0', PROXY_ERROR_HEADER, 'request_timeout'];

/**
 * limits.requestTimeout for the bodies of HTTP/2 requests, on either HTTP/2 listener engine:
 * requests whose body is still arriving, with when each arrived, checked by one interval while
 * any is watched (as often as the HTTP/1.1 listener checks the same limit), each answered 408
 * once its body is late.
 */
export class RequestBodyDeadlines<R extends BodyAwaitingRequest> {
  private readonly watched = new Map<R, number>();
  private timer: NodeJS.Timeout | null = null;
  private readonly intervalMs: number;

  constructor(
    private readonly limitMs: number,
    private readonly engine: BodyAwaitingEngine<R>,
    private readonly logger: Logger,
    private readonly listenerName: string,
  ) {
    this.intervalMs = Math.min(1_000, Math.max(100, Math.floor(limitMs / 4)));
  }

  watch(request: R): void {
    this.watched.set(request, performance.now());
    if (this.timer === null) {
      this.timer = setInterval(expireLate, this.intervalMs, this);
      this.timer.unref();
    }
  }

  /** Answers 408 to requests whose body did not arrive whole within the limit. */
  expire(): void {
    const now = performance.now();
    for (const [request, since] of this.watched) {
      if (this.engine.bodyDone(request)) {
        this.watched.delete(request);
        continue;
      }
      if (now - since < this.limitMs) continue;
      this.watched.delete(request);
      this.logger.debug(
        { listener: this.listenerName, remoteAddress: this.engine.remoteAddress(request), path: request.url, limit: this.limitMs },
        'HTTP/2 request body not received within limits.requestTimeout; stream reset',
      );
      request.timedOut(PROXY_ERRORS.request_timeout.status, REQUEST_TIMEOUT_HEADERS);
    }
    if (this.watched.size === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }
}

function expireLate(deadlines: RequestBodyDeadlines<BodyAwaitingRequest>): void {
  deadlines.expire();
}

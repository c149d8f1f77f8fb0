import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { BodyFraming, requestHead, type RequestFraming } from './http1-request-head.js';
import { isIdempotent } from './retry-policy.js';
import { trailerSourceOf, type RequestTrailerSource } from './request-trailer-source.js';
import { UpstreamError } from './upstream-error.js';

/** undici's default headers and body timeouts, for callers that give none. */
const DEFAULT_TIMEOUT = 300_000;

const kRequest = Symbol('http1UpstreamRequest');
type RequestBody = Readable & { [kRequest]?: Http1UpstreamRequest };

/** A request's body stream failed: a request not on a connection yet fails with it. */
function onRequestBodyError(this: RequestBody, err: Error): void {
  const request = this[kRequest];
  if (request !== undefined && request.carrier === null) request.fail(err);
}

/** The connection a request is on, as far as the request needs it. */
export interface RequestCarrier {
  abortRequest(request: Http1UpstreamRequest, err: Error): void;
}

/**
 * One dispatched request: its options as the pool needs them (head already built, timeouts
 * resolved), its handler, and where it is (queued, on a connection, done). Allocated once per
 * dispatch, with one function: the `abort` the handler contract hands out in onConnect, which
 * must be tied to this request so that a late call cannot cancel the next request on the same
 * connection.
 */
export class Http1UpstreamRequest implements RequestFraming {
  framing = BodyFraming.NONE;
  length = -1;
  close = false;
  /** The request head, or why it cannot be sent. */
  readonly head: string | UpstreamError;
  readonly method: string;
  readonly isHead: boolean;
  /** The method may be sent twice (RFC 9110 §9.2.2): the exchange may retry it after a reset. */
  readonly idempotent: boolean;
  readonly body: Buffer | Readable | null;
  /**
   * Where the body's trailer fields come from once it ends. Sent only after a chunked body
   * (RFC 9112 §7.1.2); a body framed by Content-Length has no place for them.
   */
  readonly trailers: RequestTrailerSource | null;
  readonly upgrade: string | null;
  readonly headersTimeout: number;
  readonly bodyTimeout: number;
  /** The handler has been told the outcome (onComplete, onError or onUpgrade) or is being told. */
  done = false;
  /** The connection carrying the request once written (or being validated for it). */
  carrier: RequestCarrier | null = null;
  readonly abort = (err?: Error): void => {
    if (this.done) return;
    const reason = err ?? new UpstreamError('Request aborted', 'UND_ERR_ABORTED', 'AbortError');
    if (this.carrier !== null) this.carrier.abortRequest(this, reason);
  };

  constructor(
    options: Dispatcher.DispatchOptions,
    readonly handler: Dispatcher.DispatchHandler,
    hostFallback: string,
  ) {
    const body = options.body;
    this.body = body === undefined || body === null ? null : (body as Buffer | Readable);
    if (this.body !== null && !Buffer.isBuffer(this.body) && typeof (this.body as Readable).on === 'function') {
      // From dispatch on, as undici does: a body stream that fails while the request waits for
      // a connection (or after it was written) fails the request instead of the process. On a
      // connection, the connection's own listener handles it.
      (this.body as RequestBody)[kRequest] = this;
      (this.body as Readable).on('error', onRequestBodyError);
    }
    this.trailers = trailerSourceOf(options);
    this.method = options.method;
    this.isHead = options.method === 'HEAD';
    this.idempotent = isIdempotent(options.method);
    const upgrade = options.upgrade;
    this.upgrade = typeof upgrade === 'string' && upgrade !== '' ? upgrade : null;
    this.headersTimeout = options.headersTimeout ?? DEFAULT_TIMEOUT;
    this.bodyTimeout = options.bodyTimeout ?? DEFAULT_TIMEOUT;
    const headers = options.headers;
    if (upgrade !== undefined && upgrade !== null && typeof upgrade !== 'string') {
      this.head = new UpstreamError('upgrade must be the protocol offered, e.g. "websocket"', 'UND_ERR_INVALID_ARG', 'InvalidArgumentError');
    } else if (headers !== null && headers !== undefined && !Array.isArray(headers)) {
      this.head = new UpstreamError('the request headers must be a flat [name, value, ...] list', 'UND_ERR_INVALID_ARG', 'InvalidArgumentError');
    } else if (typeof this.body === 'string' || (this.body !== null && !Buffer.isBuffer(this.body) && typeof (this.body as Readable).on !== 'function')) {
      this.head = new UpstreamError('the request body must be null, a Buffer or a Readable stream', 'UND_ERR_INVALID_ARG', 'InvalidArgumentError');
    } else {
      this.head = requestHead(this, options.method, options.path, (headers as string[] | null | undefined) ?? null, this.upgrade, this.body, hostFallback);
    }
  }

  /** Tells the handler the request failed (once). */
  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.carrier = null;
    this.handler.onError?.(err);
  }
}

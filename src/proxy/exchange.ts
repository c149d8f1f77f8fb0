import type { Dispatcher } from 'undici';
import type { BodySink, ServerStream, StreamObserver } from '../codec/server-stream.js';
import type { FilterExchange } from '../filters/route-filter.js';
import type { Route } from '../routing/route.js';
import type { BreakerLimit } from '../upstream/circuit-breaker.js';
import type { Endpoint } from '../upstream/endpoint.js';
import { GRPC_RETRY_BITS, grpcStatusCondition, isIdempotent, RetryOn, statusCondition } from '../upstream/retry-policy.js';
import { ClientClosedError } from './client-closed-error.js';
import { ExchangeTimeoutError } from './exchange-timeout-error.js';
import { encodeGrpcMessage, GrpcStatus } from './grpc-status.js';
import type { ProxyContext } from './proxy-context.js';
import { classifyUpstreamError, grpcStatusOf, PROXY_ERRORS, sendStreamError, type ProxyErrorCode } from './proxy-error.js';
import { RecordedExchange } from './recorded-exchange.js';
import { requestTlsVersion } from './request-connection.js';
import { RequestBodyStream } from './request-body-stream.js';
import { buildUpstreamTrailers } from './request-trailers.js';
import type { ExchangeRecord } from './request-observer.js';
import { fieldNamed } from '../codec/field-named.js';
import { buildClientHeaders, buildClientTrailers, grpcStatusIn, selectClientFields, type RawTrailers } from './response-headers.js';
import { mayRetry } from './retry-planner.js';
import { UpstreamAttempt } from './upstream-attempt.js';
import type { RequestTrailerSource, UpstreamDispatchOptions } from '../upstream/request-trailer-source.js';

const BREAKER_ERRORS: Record<BreakerLimit, ProxyErrorCode> = {
  requests: 'breaker_requests',
  pending: 'breaker_pending',
  connections: 'breaker_connections',
};

/**
 * One proxied request from a codec stream (Envoy's router filter for one request): the client
 * side, the total timer, breaker admission, the retry budget and the single finish(). Each try
 * is an UpstreamAttempt; whether a failed try is retried is mayRetry's decision (retry-planner).
 *
 * The response streams from the try into the client stream with backpressure both ways
 * (a slow client pauses the upstream read; a slow upstream pauses the client's body). Failures
 * before the response head become a JSON 502/503/504; after it, the client stream is cut so a
 * truncated body is never mistaken for a complete one. The exchange is its own ExchangeRecord
 * (reported once, at finish(); its access-log facts are RecordedExchange's accessors, shared
 * with the node:http engine's exchanges) and the FilterExchange its route's filters see.
 */
export class Exchange extends RecordedExchange implements ExchangeRecord, FilterExchange, BodySink, StreamObserver, RequestTrailerSource {
  upstreamStartedAt = 0;
  upstreamEndedAt = 0;
  upstreamStatus = 0;
  bytesOut = 0;
  retries = 0;
  failure: (Error & { code?: string }) | null = null;
  traceId: string | undefined = undefined;
  spanId: string | undefined = undefined;
  parentSpanId = '';
  sampled = false;
  grpc = false;
  grpcStatus = -1;
  readonly res: ServerStream;
  /** The exchange is over, or its client is gone: a try that gets a connection now is cancelled. */
  over = false;
  private finished = false;
  private clientGone = false;
  private admitted = false;
  private holdsBudget = false;
  private totalMs = 0;
  private totalTimer: NodeJS.Timeout | null = null;
  private totalTimedOut = false;
  private attempt: UpstreamAttempt | null = null;
  private dispatchOptions: UpstreamDispatchOptions | null = null;
  /**
   * The client's request trailers, filtered for the upstream (buildUpstreamTrailers); null until
   * its body ended, or without any. Kept for a retry: a replayed body ends with them again.
   */
  requestTrailers: string[] | null = null;
  /** Trailers can follow the body: an HTTP/2 client, or a chunked HTTP/1.1 body. */
  private trailersPossible = false;
  /** The request body: null, buffered whole, or streamed (spent once a try takes it). */
  private body: Buffer | RequestBodyStream | null = null;
  private replayable = false;
  private bodySpent = false;
  /** Chunks of a body being buffered for replay; null when not buffering. */
  private bodyChunks: Buffer[] | null = null;
  private bodyBytes = 0;
  /** Bytes a chunked body may have (route or listener maxBodySize; 0 = no limit). */
  private bodyLimit = 0;
  private tried: Endpoint[] | null = null;
  private refusedWith: ProxyErrorCode | null = null;
  /** Why the last try failed (null: it got a response that is being retried), reported when retried. */
  private tryFailure: (Error & { code?: string }) | null = null;
  /**
   * Copy of a streamed gRPC request body kept while it goes upstream, for a retry on a status
   * in retries.grpcRetryOn; null when not kept, or past retries.bufferBody bytes.
   */
  private bodyCopy: Buffer[] | null = null;
  /** A trailers-only gRPC response held until the upstream ends it (see responseHead). */
  private heldStatus = 0;
  private heldHeaders: string[] | null = null;

  constructor(
    private readonly ctx: ProxyContext,
    readonly req: ServerStream,
    readonly route: Route,
    public endpoint: Endpoint,
    readonly requestId: string,
    readonly startedAt: number,
    /** Resolved once by the handler (proxy/client-address.ts). */
    clientAddress: string,
  ) {
    super(clientAddress, requestTlsVersion(req));
    this.res = req;
  }

  /**
   * `deadline`: ms the client allows (gRPC's grpc-timeout; 0 = the route's total timeout alone).
   * `bodyLimit`: bytes a body of unknown length may have (0 = no limit).
   */
  start(path: string, headers: string[], deadline: number, bodyLimit: number): void {
    const stream = this.req;
    stream.observe(this);
    if (stream.destroyed) {
      // The client left while a filter was deciding (or the codec answered it meanwhile).
      this.clientGone = true;
      this.failure = new ClientClosedError();
      if (this.grpc) this.grpcStatus = GrpcStatus.CANCELLED;
      this.finish();
      return;
    }
    const cluster = this.route.cluster;
    const refused = cluster.breaker.admitRequest() ?? cluster.breaker.admitDispatch(this.endpoint);
    if (refused !== null) {
      this.refuse(refused);
      return;
    }
    this.admitted = true;
    cluster.breaker.activeRequests++;
    const routeTotal = this.route.timeouts.total;
    const total = deadline > 0 && (routeTotal === 0 || deadline < routeTotal) ? deadline : routeTotal;
    this.totalMs = total;
    if (total > 0) this.totalTimer = setTimeout(onTotalTimeout, total, this);
    const timeouts = this.route.timeouts;
    this.dispatchOptions = {
      path,
      method: stream.method as Dispatcher.HttpMethod,
      headers,
      body: null,
      headersTimeout: timeouts.headers,
      bodyTimeout: timeouts.bodyIdle,
      trailers: null,
    };
    this.trailersPossible = stream.hasBody && (stream.protocol === 'HTTP/2' || stream.headers['transfer-encoding'] !== undefined);
    const idempotent = isIdempotent(stream.method);
    this.bodyLimit = bodyLimit;
    if (!stream.hasBody) {
      this.replayable = idempotent;
      this.dispatch();
      return;
    }
    if (idempotent && this.shouldBuffer()) {
      this.bodyChunks = [];
      stream.readBody(this);
      return;
    }
    if (this.grpc) {
      const retries = this.route.retries;
      if ((retries.on & GRPC_RETRY_BITS) !== 0 && retries.maxRetries > 0 && retries.bufferBody > 0) this.bodyCopy = [];
    }
    this.body = new RequestBodyStream(stream);
    stream.readBody(this);
    this.dispatch();
  }

  // BodySink: the client's request body.

  onBodyChunk(chunk: Buffer): boolean {
    this.bodyBytes += chunk.length;
    if (this.bodyLimit > 0 && this.bodyBytes > this.bodyLimit) {
      this.bodyTooLarge();
      return false;
    }
    if (this.bodyChunks !== null) {
      this.bodyChunks.push(chunk);
      return true;
    }
    if (this.bodyCopy !== null) {
      if (this.bodyBytes > this.route.retries.bufferBody) this.bodyCopy = null;
      else this.bodyCopy.push(chunk);
    }
    const body = this.body;
    return body instanceof RequestBodyStream ? body.push(chunk) : true;
  }

  onBodyEnd(trailers: string[] | null): void {
    if (trailers !== null && trailers.length > 0) this.requestTrailers = buildUpstreamTrailers(trailers, this.req.headers.connection);
    const chunks = this.bodyChunks;
    if (chunks !== null) {
      this.bodyChunks = null;
      this.body = Buffer.concat(chunks, this.bodyBytes);
      this.replayable = true;
      if (!this.finished) this.dispatch();
      return;
    }
    if (this.body instanceof RequestBodyStream) this.body.push(null);
  }

  // StreamObserver: the client side.

  onDrain(): void {
    this.attempt?.resume();
  }

  onAborted(): void {
    if (this.finished) return;
    this.clientGone = true;
    this.over = true;
    const err = new ClientClosedError();
    if (this.body instanceof RequestBodyStream) this.body.destroy();
    if (this.attempt !== null && !this.attempt.ended && this.attempt.cancel(err)) return; // its onError finishes
    if (this.attempt === null || this.attempt.ended) {
      // Buffering the body or between tries: no try to cancel.
      this.bodyChunks = null;
      this.failure = err;
      if (this.grpc) this.grpcStatus = GrpcStatus.CANCELLED;
      this.finish();
    }
    // Otherwise a try waits for a connection: onConnect cancels it.
  }

  // From the current UpstreamAttempt.

  /**
   * The try left the pool's queue: it got a connection (`connected`, the pool now reads a
   * streamed body, which cannot be sent again) or failed before one (nothing was read).
   */
  attemptConnecting(attempt: UpstreamAttempt, connected: boolean): void {
    if (connected && this.body instanceof RequestBodyStream) this.bodySpent = true;
    if (!attempt.pending) return;
    attempt.pending = false;
    this.route.cluster.breaker.pendingRequests--;
  }

  interimResponse(statusCode: number, rawHeaders: Buffer[]): void {
    // 103 Early Hints is relayed (filtered like any head); other 1xx are the proxy's own business.
    if (statusCode !== 103) return;
    let headers: string[];
    try {
      headers = buildClientHeaders(rawHeaders, this.ctx.headers.requestIdHeader, this.requestId);
    } catch (err) {
      this.ctx.logger.debug({ requestId: this.requestId, error: (err as Error).message }, '103 Early Hints dropped: framing headers on an interim response');
      return;
    }
    for (let i = 0; i < headers.length; i += 2) {
      if (headers[i]!.toLowerCase() === 'link') {
        try {
          this.req.writeInformational(103, headers);
        } catch (err) {
          this.ctx.logger.debug({ requestId: this.requestId, error: (err as Error).message }, '103 Early Hints dropped: the client codec refused a field');
        }
        return;
      }
    }
  }

  responseHead(attempt: UpstreamAttempt, statusCode: number, rawHeaders: Buffer[], statusText: string): boolean {
    this.upstreamStatus = statusCode;
    const cluster = this.route.cluster;
    if (this.grpc) {
      // A trailers-only response carries its gRPC status in the headers.
      this.grpcStatus = grpcStatusIn(rawHeaders);
      if (this.grpcStatus > 0 && this.planRetry(attempt, grpcStatusCondition(this.grpcStatus))) {
        attempt.discarding = true;
        return true;
      }
    }
    if (statusCode >= 500) {
      if (cluster.outlier.failure(attempt.endpoint)) this.route.metrics.upstream.ejected();
      if (this.planRetry(attempt, statusCondition(statusCode))) {
        // Read and drop this response, then retry (attemptComplete). Keeps the connection reusable.
        attempt.discarding = true;
        return true;
      }
    } else {
      cluster.outlier.success(attempt.endpoint);
    }
    try {
      const req = this.req;
      const filters = this.route.filters;
      const requestIdHeader = this.ctx.headers.requestIdHeader;
      if (req.writeUpstreamHead !== undefined && !this.grpc && (filters === null || filters.response === null)) {
        // Nothing reads or changes the fields on the way: they pass as the bytes they came in.
        const selected = selectClientFields(rawHeaders, requestIdHeader);
        req.writeUpstreamHead(statusCode, statusText || undefined, rawHeaders, selected.passes, selected.passedBytes, selected.addRequestId ? requestIdHeader : null, this.requestId);
        return true;
      }
      const headers = buildClientHeaders(rawHeaders, requestIdHeader, this.requestId);
      if (filters !== null) filters.runResponse(this, headers);
      if (this.grpcStatus >= 0 && this.req.protocol === 'HTTP/2') {
        // grpc-status in the headers: a trailers-only response. It must reach the client as
        // one HEADERS frame that ends the stream, so it waits for the upstream's end.
        this.heldStatus = statusCode;
        this.heldHeaders = headers;
        return true;
      }
      // Room for trailers unless none can come (an HTTP/1.1 response framed by Content-Length);
      // gRPC always keeps it, for a status the proxy may have to add (fail()).
      const trailers = this.grpc || attempt.endpoint.protocol !== 'http1' || !hasContentLength(rawHeaders);
      this.req.writeHead(statusCode, headers, statusText || undefined, trailers);
    } catch (err) {
      // Ambiguous framing, or a field the client codec refuses: the try fails with it (502),
      // and the upstream connection is dropped.
      attempt.cancel(err as Error);
      return false;
    }
    return true;
  }

  responseChunk(chunk: Buffer): boolean {
    if (this.heldHeaders !== null) this.releaseHeld();
    this.bytesOut += chunk.length;
    return this.req.write(chunk);
  }

  /** Sends a held gRPC response head as an ordinary one (a body or trailers followed it after all). */
  private releaseHeld(): void {
    const headers = this.heldHeaders!;
    this.heldHeaders = null;
    this.req.writeHead(this.heldStatus, headers);
  }

  attemptComplete(attempt: UpstreamAttempt, trailers: string[] | null): void {
    this.upstreamEndedAt = performance.now();
    this.attempt = null;
    if (attempt.discarding) {
      this.tryFailure = null;
      process.nextTick(startRetry, this);
      return;
    }
    const raw = trailers as RawTrailers | null;
    if (this.heldHeaders !== null) {
      if (raw == null || (Array.isArray(raw) ? raw.length === 0 : !hasOwnFields(raw))) {
        const headers = this.heldHeaders;
        this.heldHeaders = null;
        this.req.respond(this.heldStatus, headers);
        this.finish();
        return;
      }
      this.releaseHeld();
    }
    let forwarded: string[] | null = null;
    if (raw != null && this.req.takesTrailers) {
      const fields = buildClientTrailers(raw);
      for (const name in fields) {
        const value = fields[name]!;
        if (this.grpc && name === 'grpc-status') this.grpcStatus = Number(value);
        if (typeof value === 'string') (forwarded ??= []).push(name, value);
        else for (const v of value) (forwarded ??= []).push(name, v);
      }
    }
    this.req.end(null, forwarded);
    this.finish();
  }

  attemptFailed(attempt: UpstreamAttempt, err: Error & { code?: string }): void {
    this.upstreamEndedAt = performance.now();
    this.attempt = null;
    if (this.finished) return; // answered already (e.g. total timeout while waiting for a connection)
    if (err instanceof ClientClosedError || this.clientGone) {
      this.failure = err;
      if (this.grpc) this.grpcStatus = GrpcStatus.CANCELLED;
      this.finish();
      this.ctx.logger.debug({ requestId: this.requestId, route: this.route.name, endpoint: attempt.endpoint.key }, 'client closed the connection; upstream request cancelled');
      return;
    }
    const code = classifyUpstreamError(err);
    if (!attempt.gotHeaders && this.route.cluster.outlier.failure(attempt.endpoint)) this.route.metrics.upstream.ejected();
    if (attempt.discarding) {
      // The retry was planned when the error status arrived; the rest of its body does not matter.
      if (!this.totalTimedOut) {
        this.tryFailure = null;
        process.nextTick(startRetry, this);
        return;
      }
    } else if (!this.req.headersSent) {
      const condition = code === 'upstream_timeout' ? RetryOn.timeout : attempt.connected ? RetryOn.reset : RetryOn.connectFailure;
      if (this.planRetry(attempt, condition)) {
        this.ctx.logger.debug(
          { requestId: this.requestId, route: this.route.name, endpoint: attempt.endpoint.key, next: this.endpoint.key, errorCode: err.code, error: err.message, retry: this.retries },
          'upstream try failed; retrying on another endpoint',
        );
        this.tryFailure = err;
        process.nextTick(startRetry, this);
        return;
      }
    }
    this.fail(code, err);
  }

  /** Starts the try planned by planRetry. */
  retry(): void {
    if (this.finished) return;
    if (this.clientGone) {
      this.failure = new ClientClosedError();
      this.finish();
      return;
    }
    this.ctx.observer.attemptRetried(this, this.tryFailure);
    this.dispatch();
  }

  totalTimeout(): void {
    this.totalTimer = null;
    if (this.finished) return;
    this.totalTimedOut = true;
    const err = new ExchangeTimeoutError('total', this.totalMs);
    if (this.attempt !== null && this.attempt.cancel(err)) return; // attemptFailed answers
    // Waiting for a connection, buffering the body or between tries: answer now.
    this.bodyChunks = null;
    this.over = true;
    this.fail('upstream_timeout', err);
  }

  private dispatch(): void {
    const options = this.dispatchOptions!;
    options.body = this.body;
    // A streamed body's trailers are read by the pool when it ends; a buffered body's are known.
    options.trailers = this.requestTrailers !== null || (this.trailersPossible && this.body instanceof RequestBodyStream) ? this : null;
    this.upstreamStartedAt = performance.now();
    this.route.cluster.breaker.pendingRequests++;
    const attempt = new UpstreamAttempt(this, this.endpoint);
    this.attempt = attempt;
    attempt.start(options, this.route.timeouts.perTry);
  }

  /**
   * Decides whether a failed try is retried (mayRetry), picks where, and takes the breaker's
   * and the retry budget's admission for it. Sets `endpoint` to the next try's endpoint.
   */
  private planRetry(attempt: UpstreamAttempt, condition: number): boolean {
    const retry = mayRetry({
      policy: this.route.retries,
      condition,
      retries: this.retries,
      totalTimedOut: this.totalTimedOut,
      responseStarted: this.req.headersSent,
      reachedUpstream: attempt.connected,
      replayable: this.replayable,
      bodySpent: this.bodySpent,
      grpcBodyWhole: this.grpcBodyWhole(),
    });
    if (!retry) return false;
    const cluster = this.route.cluster;
    const tried = (this.tried ??= []);
    tried.push(attempt.endpoint);
    const next = cluster.pickAnother(this.req, this.clientAddress, tried);
    if (next === undefined) return false;
    const refused = cluster.breaker.admitDispatch(next);
    if (refused !== null) {
      this.countRefusal(refused);
      return false;
    }
    if (this.holdsBudget) {
      cluster.retryBudget.release();
      this.holdsBudget = false;
    }
    if (!cluster.retryBudget.tryAcquire(cluster.breaker.activeRequests)) {
      cluster.stats.retryBudgetExhausted++;
      this.route.metrics.upstream.retryRefusedByBudget();
      return false;
    }
    this.holdsBudget = true;
    this.retries++;
    cluster.stats.retries++;
    this.route.metrics.upstream.retried();
    this.endpoint = next;
    return true;
  }

  /** A gRPC try can be sent again: no body was handed to it, or the whole body was copied on its way up. */
  private grpcBodyWhole(): boolean {
    if (!this.bodySpent) return true;
    const copy = this.bodyCopy;
    if (copy === null || !this.req.bodyComplete) return false;
    this.body = Buffer.concat(copy, this.bodyBytes);
    this.bodyCopy = null;
    this.bodySpent = false;
    return true;
  }

  private shouldBuffer(): boolean {
    const retries = this.route.retries;
    if (retries.bufferBody === 0 || retries.maxRetries === 0 || this.req.headers['transfer-encoding'] !== undefined) return false;
    const length = Number(this.req.headers['content-length']);
    return length > 0 && length <= retries.bufferBody;
  }

  /** A chunked body went past the size limit: 413 if nothing was answered yet; the connection closes. */
  private bodyTooLarge(): void {
    if (this.finished) return;
    this.bodyChunks = null;
    this.over = true;
    const err = new Error(`the request body is over ${this.bodyLimit} bytes`) as Error & { code?: string };
    err.code = 'SWITCHYARD_BODY_TOO_LARGE';
    if (this.body instanceof RequestBodyStream) this.body.destroy(err);
    this.req.closeAfterResponse();
    if (!this.req.headersSent) {
      this.refusedWith = 'body_too_large';
      sendStreamError(this.req, 'body_too_large', this.ctx.headers.requestIdHeader, this.requestId, `the body is over ${this.bodyLimit} bytes`);
    } else {
      this.req.abort();
    }
    this.finish();
    // After the answer: a pool that reports the cancel at once (the HTTP/2 codec) would
    // otherwise have it answered as an upstream failure (502) before the 413.
    this.attempt?.cancel(err);
  }

  private refuse(limit: BreakerLimit): void {
    this.countRefusal(limit);
    this.refusedWith = BREAKER_ERRORS[limit];
    if (this.req.hasBody) this.req.closeAfterResponse();
    sendStreamError(this.req, this.refusedWith, this.ctx.headers.requestIdHeader, this.requestId, `service "${this.route.cluster.name}"`);
    this.finish();
  }

  private countRefusal(limit: BreakerLimit): void {
    this.route.metrics.upstream.breakerRejected();
    const stats = this.route.cluster.stats;
    if (limit === 'requests') stats.breakerRequests++;
    else if (limit === 'pending') stats.breakerPending++;
    else stats.breakerConnections++;
  }

  /** Ends the exchange with a proxy error (or a cut connection once the response started). */
  private fail(code: ProxyErrorCode, err: Error & { code?: string }): void {
    this.failure = err;
    this.ctx.logger.warn(
      {
        requestId: this.requestId,
        route: this.route.name,
        service: this.route.cluster.name,
        endpoint: this.endpoint.key,
        errorCode: err.code,
        error: err.message,
        retries: this.retries,
        responseStarted: this.req.headersSent,
      },
      'upstream request failed',
    );
    if (this.grpc) this.grpcStatus = grpcStatusOf(code);
    this.heldHeaders = null;
    if (this.req.headersSent) {
      // Too late for an HTTP status. A gRPC client on HTTP/2 gets the status in trailers; any
      // other client's response is cut so the truncation is visible.
      if (this.grpc && this.req.protocol === 'HTTP/2' && !this.req.destroyed) {
        this.req.end(null, ['grpc-status', String(this.grpcStatus), 'grpc-message', encodeGrpcMessage(`${PROXY_ERRORS[code].message} (the response had started)`)]);
      } else {
        this.req.abort();
      }
    } else {
      // The body may be unread: the connection closes after the answer unless it was read whole.
      if (!this.req.bodyComplete) this.req.closeAfterResponse();
      sendStreamError(this.req, code, this.ctx.headers.requestIdHeader, this.requestId);
    }
    this.finish();
  }

  /** The one place an exchange ends: releases what it holds and reports the request. Idempotent. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.over = true;
    if (this.totalTimer !== null) {
      clearTimeout(this.totalTimer);
      this.totalTimer = null;
    }
    const cluster = this.route.cluster;
    if (this.admitted) cluster.breaker.activeRequests--;
    if (this.holdsBudget) {
      cluster.retryBudget.release();
      this.holdsBudget = false;
    }
    this.endedAt = performance.now();
    if (this.refusedWith !== null) {
      this.ctx.observer.requestRejected(this.req, this.req, this.route, this.requestId, this.refusedWith, this.startedAt, this.clientAddress);
    } else {
      this.ctx.observer.requestEnded(this);
    }
  }
}

/** The response is framed by Content-Length (so an HTTP/1.1 response has no trailers). */
function hasContentLength(raw: readonly Buffer[]): boolean {
  for (let i = 0; i < raw.length; i += 2) if (fieldNamed(raw[i]!, 'content-length')) return true;
  return false;
}

function hasOwnFields(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

function startRetry(exchange: Exchange): void {
  exchange.retry();
}

function onTotalTimeout(exchange: Exchange): void {
  exchange.totalTimeout();
}

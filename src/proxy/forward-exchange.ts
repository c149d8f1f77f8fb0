import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { FilterExchange } from '../filters/route-filter.js';
import type { Route } from '../routing/route.js';
import type { BreakerLimit } from '../upstream/circuit-breaker.js';
import type { Endpoint } from '../upstream/endpoint.js';
import { GRPC_RETRY_BITS, grpcStatusCondition, isIdempotent, RetryOn, statusCondition } from '../upstream/retry-policy.js';
import { ClientClosedError } from './client-closed-error.js';
import { ExchangeTimeoutError } from './exchange-timeout-error.js';
import { writeInformational } from './informational-response.js';
import type { ProxyContext } from './proxy-context.js';
import { GrpcStatus } from './grpc-status.js';
import { grpcTimeoutMs } from './grpc-timeout.js';
import { RecordedExchange } from './recorded-exchange.js';
import { requestTlsVersion } from './request-connection.js';
import { classifyUpstreamError, grpcStatusOf, sendProxyError, type ProxyErrorCode } from './proxy-error.js';
import type { ExchangeRecord } from './request-observer.js';
import { buildClientHeaders, buildClientTrailers, grpcStatusIn, type RawTrailers } from './response-headers.js';
import { buildUpstreamTrailers } from './request-trailers.js';
import type { RequestTrailerSource, UpstreamDispatchOptions } from '../upstream/request-trailer-source.js';

const kExchange = Symbol('switchyard.exchange');
const kPushBefore = Symbol('switchyard.pushBefore');
type TaggedResponse = ServerResponse & { [kExchange]?: ForwardExchange };
type TaggedRequest = IncomingMessage & { [kExchange]?: ForwardExchange; [kPushBefore]?: IncomingMessage['push'] };


const BREAKER_ERRORS: Record<BreakerLimit, ProxyErrorCode> = {
  requests: 'breaker_requests',
  pending: 'breaker_pending',
  connections: 'breaker_connections',
};

/**
 * One proxied request: an undici dispatch handler that streams the upstream response into
 * the client response with backpressure (a full client socket pauses the upstream read),
 * cancels the upstream request when the client goes away, and turns failures before the
 * response into a JSON 502/503/504. Failures after the response started end the client
 * connection, so a truncated body is never mistaken for a complete one.
 *
 * An exchange makes one or more tries. A failed try is retried on another endpoint when the
 * route's retry policy names the failure, retries are left, the retry budget allows it, and it
 * is safe: the try never reached the upstream, or the method is idempotent and the body (if
 * any) was buffered. There is never more than one try in flight; the same object is the
 * handler of each. Limits: circuit breaker (before the first try and each retry), per-try and
 * total timeouts. Each try's outcome is reported to the cluster's outlier detector.
 *
 * The exchange ends in one place, finish(), which releases what it holds and reports the
 * request once to the observer (metrics, access log); the exchange is its own ExchangeRecord.
 *
 * Uses undici's core handler callbacks (onConnect/onHeaders/onData/onComplete/onError): they
 * hand over the raw header list, which we filter in one pass, where the newer controller API
 * would first parse it into an object. HTTP/2 upstreams (Http2Pool) call the same callbacks.
 *
 * The node:http engine's exchange (HTTP/1.x clients on node:http's parser; HTTP/2 clients
 * and the HTTP/1.1 codec go through Exchange). Trailers reach clients that sent "TE:
 * trailers". gRPC requests (startGrpc) also get: `grpc-timeout` as the deadline, proxy errors
 * as gRPC statuses, retries on the statuses the route lists, and their status counted.
 */
export class ForwardExchange extends RecordedExchange implements Dispatcher.DispatchHandler, ExchangeRecord, FilterExchange, RequestTrailerSource {
  upstreamStartedAt = 0;
  upstreamEndedAt = 0;
  upstreamStatus = 0;
  bytesOut = 0;
  /** Tries after the first. */
  retries = 0;
  failure: (Error & { code?: string }) | null = null;
  /** W3C trace id, set by the trace-context filter; undefined without one. */
  traceId: string | undefined = undefined;
  spanId: string | undefined = undefined;
  parentSpanId = '';
  sampled = false;
  /** A gRPC request (startGrpc); its status is counted in gRPC metrics. */
  grpc = false;
  /** The gRPC status the client got (from the upstream or the proxy); -1 before it is known or for non-gRPC requests. */
  grpcStatus = -1;
  /** The client went away before the exchange finished. */
  private clientGone = false;
  /**
   * Copy of a gRPC request body kept while it streams upstream, for a retry on a status in
   * retries.grpcRetryOn; null when not kept or past retries.bufferBody bytes.
   */
  private bodyCopy: Buffer[] | null = null;
  private bodyCopyBytes = 0;
  /** The client's body ended (the copy is whole if bodyCopy is not null). */
  private bodyCopyDone = false;
  /** Total timeout of this request in ms (the route's, or a shorter gRPC deadline); 0 = none. */
  private totalMs = 0;
  private abortUpstream: ((err?: Error) => void) | null = null;
  private resumeUpstream: (() => void) | null = null;
  private finished = false;
  /** Counted in the breaker's activeRequests (released by finish()). */
  private admitted = false;
  private path = '';
  private headers: string[] = [];
  private body: IncomingMessage | Buffer | null = null;
  /** A try that reached the upstream may be sent again: idempotent method, and no body or a buffered one. */
  private replayable = false;
  /** undici got a connection for a try with the streamed client body: the stream is spent. */
  private streamTaken = false;
  /** Why the last try failed (null: it got a 5xx that is being retried), reported when it is retried. */
  private tryFailure: (Error & { code?: string }) | null = null;
  /** The circuit breaker refused the request (reported as a rejection, not an upstream attempt). */
  private refusedWith: ProxyErrorCode | null = null;
  /** Chunks of a body being buffered for replay; null when not buffering. */
  private bodyChunks: Buffer[] | null = null;
  /** requestTrailers once the body ended (undefined before). */
  private upstreamTrailers: string[] | null | undefined = undefined;
  /** Endpoints tried so far (allocated on the first retry only). */
  private tried: Endpoint[] | null = null;
  /** Where the planned retry goes. */
  private nextEndpoint: Endpoint | null = null;
  /** The current try holds a retry-budget slot. */
  private holdsBudget = false;
  /** The current try waits for a connection (counted in the breaker's pendingRequests). */
  private pending = false;
  /** The current try reached the upstream (undici gave it a connection and wrote it). */
  private connected = false;
  /** The current try got response headers. */
  private gotHeaders = false;
  /** The current try's 5xx response is being read and dropped before a retry. */
  private discarding = false;
  private tryTimedOut = false;
  private totalTimedOut = false;
  private tryTimer: NodeJS.Timeout | null = null;
  private totalTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly ctx: ProxyContext,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly route: Route,
    public endpoint: Endpoint,
    readonly requestId: string,
    /** performance.now() when the request arrived. */
    readonly startedAt: number,
    /** Resolved once by the handler (proxy/client-address.ts). */
    clientAddress: string,
  ) {
    super(clientAddress, requestTlsVersion(req));
  }

  /**
   * A gRPC request: `grpc-timeout` becomes the request's deadline when shorter than the
   * route's total timeout; proxy errors reach the client as gRPC statuses.
   */
  startGrpc(path: string, headers: string[], hasBody: boolean): void {
    this.grpc = true;
    const retries = this.route.retries;
    if (hasBody && (retries.on & GRPC_RETRY_BITS) !== 0 && retries.maxRetries > 0 && retries.bufferBody > 0) {
      this.bodyCopy = [];
      const req = this.req as TaggedRequest;
      req[kExchange] = this;
      req[kPushBefore] = req.push;
      req.push = copyingPush;
    }
    const deadline = grpcTimeoutMs(this.req.headers['grpc-timeout']);
    this.start(path, headers, hasBody, deadline);
  }

  /** `deadline`: ms the client allows for the whole request (0 = the route's total timeout alone). */
  start(path: string, headers: string[], hasBody: boolean, deadline = 0): void {
    (this.res as TaggedResponse)[kExchange] = this;
    this.res.on('close', onClientClose);
    const cluster = this.route.cluster;
    const refused = cluster.breaker.admitRequest() ?? cluster.breaker.admitDispatch(this.endpoint);
    if (refused !== null) {
      this.refuse(refused);
      return;
    }
    this.admitted = true;
    cluster.breaker.activeRequests++;
    this.path = path;
    this.headers = headers;
    const idempotent = isIdempotent(this.req.method);
    this.replayable = idempotent && !hasBody;
    const routeTotal = this.route.timeouts.total;
    const total = deadline > 0 && (routeTotal === 0 || deadline < routeTotal) ? deadline : routeTotal;
    this.totalMs = total;
    if (total > 0) this.totalTimer = setTimeout(onTotalTimeout, total, this);
    if (hasBody && idempotent && this.shouldBuffer()) {
      this.bufferBody();
      return;
    }
    this.body = hasBody ? this.req : null;
    this.dispatch();
  }

  onConnect(abort: (err?: Error) => void): void {
    this.leavePending();
    if (this.body === this.req) this.streamTaken = true;
    if (this.finished || this.clientGone || this.res.destroyed) {
      abort(new ClientClosedError());
    } else if (this.tryTimedOut) {
      // Timed out while waiting for a connection: cancelled before anything was written.
      abort(new ExchangeTimeoutError('try', this.route.timeouts.perTry));
    } else {
      this.connected = true;
      this.abortUpstream = abort;
    }
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) {
      // Interim response (103 relayed, others dropped); the final response follows.
      if (!this.discarding) writeInformational(this.res, statusCode, rawHeaders, this.ctx.logger, this.ctx.headers.requestIdHeader, this.requestId);
      return true;
    }
    this.clearTryTimer();
    this.gotHeaders = true;
    this.resumeUpstream = resume;
    this.upstreamStatus = statusCode;
    const cluster = this.route.cluster;
    if (this.grpc) {
      // A trailers-only response carries its gRPC status in the headers.
      this.grpcStatus = grpcStatusIn(rawHeaders);
      if (this.grpcStatus > 0 && this.planRetry(grpcStatusCondition(this.grpcStatus))) {
        this.discarding = true;
        return true;
      }
    }
    if (statusCode >= 500) {
      if (cluster.outlier.failure(this.endpoint)) this.route.metrics.upstream.ejected();
      if (this.planRetry(statusCondition(statusCode))) {
        // Read and drop this response, then retry (onComplete). Keeps the connection reusable.
        this.discarding = true;
        return true;
      }
    } else {
      cluster.outlier.success(this.endpoint);
    }
    try {
      const headers = buildClientHeaders(rawHeaders, this.ctx.headers.requestIdHeader, this.requestId);
      if (this.route.filters !== null) this.route.filters.runResponse(this, headers);
      this.res.writeHead(statusCode, statusText || undefined, headers);
    } catch (err) {
      // Ambiguous framing, or Node refused a header the upstream sent (e.g. an invalid character).
      this.abortUpstream?.(err as Error);
      return false;
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.discarding) return true;
    this.bytesOut += chunk.length;
    if (this.res.write(chunk)) return true;
    this.res.once('drain', resumeOnDrain);
    return false;
  }

  /** `trailers`: undici hands HTTP/1.1 trailers as a raw list, HTTP/2 trailers as an object. */
  onComplete(trailers: string[] | null): void {
    this.endTry();
    if (this.discarding) {
      this.tryFailure = null;
      process.nextTick(startRetry, this);
      return;
    }
    // undici's type says string[]; at run time HTTP/1.1 gives Buffers and HTTP/2 an object.
    const raw = trailers as RawTrailers | null;
    const hasTrailers = raw != null && (Array.isArray(raw) ? raw.length > 0 : hasOwnFields(raw));
    if (hasTrailers && this.takesTrailers()) {
      const forwarded = buildClientTrailers(raw!);
      if (this.grpc) {
        const status = forwarded['grpc-status'];
        if (status !== undefined) this.grpcStatus = Number(status);
      }
      this.res.addTrailers(forwarded);
    }
    this.res.end();
    this.finish();
  }

  /** Whether the client gets trailers: only when it sent "TE: trailers" (Node writes them on chunked responses only). */
  private takesTrailers(): boolean {
    const te = this.req.headers.te;
    return typeof te === 'string' && te.toLowerCase().includes('trailers');
  }

  onError(err: Error & { code?: string }): void {
    this.leavePending();
    this.endTry();
    if (this.finished) return; // answered already (total timeout while waiting for a connection)
    if (err instanceof ClientClosedError || this.clientGone || this.res.destroyed) {
      this.failure = err;
      if (this.grpc) this.grpcStatus = GrpcStatus.CANCELLED;
      this.finish();
      this.ctx.logger.debug({ requestId: this.requestId, route: this.route.name, endpoint: this.endpoint.key }, 'client closed the connection; upstream request cancelled');
      return;
    }
    const code = classifyUpstreamError(err);
    if (!this.gotHeaders && this.route.cluster.outlier.failure(this.endpoint)) this.route.metrics.upstream.ejected();
    if (this.discarding) {
      // The retry was already planned when the 5xx arrived; the rest of its body does not matter.
      if (!this.totalTimedOut) {
        this.tryFailure = null;
        process.nextTick(startRetry, this);
        return;
      }
    } else if (!this.res.headersSent) {
      const condition = code === 'upstream_timeout' ? RetryOn.timeout : this.connected ? RetryOn.reset : RetryOn.connectFailure;
      if (this.planRetry(condition)) {
        this.ctx.logger.debug(
          { requestId: this.requestId, route: this.route.name, endpoint: this.endpoint.key, next: this.nextEndpoint!.key, errorCode: err.code, error: err.message, retry: this.retries },
          'upstream try failed; retrying on another endpoint',
        );
        this.tryFailure = err;
        process.nextTick(startRetry, this);
        return;
      }
    }
    this.fail(code, err);
  }

  /**
   * The client's request trailers for the upstream (RequestTrailerSource): node:http fills
   * `rawTrailers` before the body's 'end', when the pools read them. Filtered once.
   */
  get requestTrailers(): readonly string[] | null {
    if (this.upstreamTrailers === undefined) {
      if (!this.req.complete) return null;
      const raw = this.req.rawTrailers;
      this.upstreamTrailers = raw.length > 0 ? buildUpstreamTrailers(raw, this.req.headers.connection) : null;
    }
    return this.upstreamTrailers;
  }

  /** Called when the client response closes (finished or aborted). */
  clientClosed(): void {
    if (this.finished) return;
    this.clientGone = true;
    if (this.abortUpstream !== null) {
      this.abortUpstream(new ClientClosedError());
    } else if (this.bodyChunks !== null) {
      // Still buffering the request body: no try in flight.
      this.bodyChunks = null;
      this.failure = new ClientClosedError();
      this.finish();
    }
    // Otherwise a try waits for a connection (onConnect cancels it) or a retry is about to
    // start (retry() sees the closed response).
  }

  resume(): void {
    this.resumeUpstream?.();
  }

  /** Starts the retry planned by planRetry. */
  retry(): void {
    if (this.finished) return;
    if (this.clientGone || this.res.destroyed) {
      this.failure = new ClientClosedError();
      this.finish();
      return;
    }
    this.ctx.observer.attemptRetried(this, this.tryFailure);
    this.endpoint = this.nextEndpoint!;
    this.nextEndpoint = null;
    this.dispatch();
  }

  /** The per-try timer fired: cancel the try (it is retried if the policy allows). */
  tryTimeout(): void {
    this.tryTimer = null;
    if (this.gotHeaders || this.finished) return;
    this.tryTimedOut = true;
    // Without a connection yet, onConnect cancels the try before anything is written.
    this.abortUpstream?.(new ExchangeTimeoutError('try', this.route.timeouts.perTry));
  }

  /** The total timer fired: end the exchange with a 504 (or cut a response already started). */
  totalTimeout(): void {
    this.totalTimer = null;
    if (this.finished) return;
    this.totalTimedOut = true;
    const err = new ExchangeTimeoutError('total', this.totalMs);
    if (this.abortUpstream !== null) {
      this.abortUpstream(err); // onError answers
    } else {
      // Waiting for a connection, buffering the body or between tries: answer now.
      this.bodyChunks = null;
      this.fail('upstream_timeout', err);
    }
  }

  /** A chunk (or, null, the end) of a gRPC request body on its way upstream. */
  bodyCopied(chunk: Buffer | null): void {
    if (chunk === null) {
      this.bodyCopyDone = true;
      return;
    }
    if (this.bodyCopy === null) return;
    this.bodyCopyBytes += chunk.length;
    if (this.bodyCopyBytes > this.route.retries.bufferBody) this.bodyCopy = null;
    else this.bodyCopy.push(chunk);
  }

  /** A chunk of a request body being buffered. */
  bodyChunk(chunk: Buffer): void {
    this.bodyChunks?.push(chunk);
  }

  /** The whole request body is buffered: it can be replayed, so the try may be retried. */
  bodyEnd(): void {
    const chunks = this.bodyChunks;
    if (chunks === null) return;
    this.bodyChunks = null;
    this.body = Buffer.concat(chunks);
    this.replayable = true;
    this.dispatch();
  }

  private dispatch(): void {
    const endpoint = this.endpoint;
    const timeouts = this.route.timeouts;
    endpoint.tries++;
    this.upstreamStartedAt = performance.now();
    this.route.cluster.breaker.pendingRequests++;
    this.pending = true;
    this.connected = false;
    this.gotHeaders = false;
    this.discarding = false;
    this.tryTimedOut = false;
    this.abortUpstream = null;
    this.resumeUpstream = null;
    if (timeouts.perTry > 0) this.tryTimer = setTimeout(onTryTimeout, timeouts.perTry, this);
    endpoint.pool.dispatch(
      {
        path: this.path,
        method: this.req.method as Dispatcher.HttpMethod,
        headers: this.headers,
        body: this.body,
        headersTimeout: timeouts.headers,
        bodyTimeout: timeouts.bodyIdle,
        // Only a chunked HTTP/1.1 body can end with trailers (a buffered one has Content-Length).
        trailers: this.body === this.req && this.req.headers['transfer-encoding'] !== undefined ? this : null,
      } as UpstreamDispatchOptions,
      this,
    );
  }

  /**
   * Decides whether a failed try is retried, and where. Takes a retry-budget slot for it.
   * `condition`: RetryOn bits the failure meets.
   */
  private planRetry(condition: number): boolean {
    const policy = this.route.retries;
    if ((policy.on & condition) === 0 || this.retries >= policy.maxRetries || this.totalTimedOut || this.res.headersSent) return false;
    // Safe to send again: it never reached the upstream, or it is idempotent with a replayable body.
    // A streamed body that undici took hold of (written, or destroyed by a cancel) is gone either way.
    if ((condition & GRPC_RETRY_BITS) !== 0) {
      // A gRPC status the route retries: safe once the whole body can be sent again (the
      // route's word that the call may run twice, as in Envoy's retry_on).
      if (!this.grpcReplayable()) return false;
    } else if (this.streamTaken || (this.connected && !this.replayable)) {
      return false;
    }
    const cluster = this.route.cluster;
    const tried = (this.tried ??= []);
    tried.push(this.endpoint);
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
    this.nextEndpoint = next;
    return true;
  }

  /** A gRPC try can be sent again: no body, or the whole body was copied on its way up. */
  private grpcReplayable(): boolean {
    if (!this.streamTaken) return true;
    if (this.bodyCopy === null || !this.bodyCopyDone) return false;
    this.body = Buffer.concat(this.bodyCopy, this.bodyCopyBytes);
    this.bodyCopy = null;
    this.streamTaken = false;
    return true;
  }

  private shouldBuffer(): boolean {
    const limit = this.route.retries.bufferBody;
    if (limit === 0 || this.route.retries.maxRetries === 0 || this.req.headers['transfer-encoding'] !== undefined) return false;
    const length = Number(this.req.headers['content-length']);
    return length > 0 && length <= limit;
  }

  private bufferBody(): void {
    this.bodyChunks = [];
    const req = this.req as TaggedRequest;
    req[kExchange] = this;
    req.on('data', onRequestChunk);
    req.once('end', onRequestEnd);
  }

  private refuse(limit: BreakerLimit): void {
    this.countRefusal(limit);
    this.refusedWith = BREAKER_ERRORS[limit];
    sendProxyError(this.res, this.refusedWith, this.ctx.headers.requestIdHeader, this.requestId, `service "${this.route.cluster.name}"`);
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
        responseStarted: this.res.headersSent,
      },
      'upstream request failed',
    );
    if (this.grpc) this.grpcStatus = grpcStatusOf(code);
    if (this.res.headersSent) {
      // Too late for an HTTP status: the client connection is cut so the truncation is visible.
      this.res.destroy(err);
    } else {
      sendProxyError(this.res, code, this.ctx.headers.requestIdHeader, this.requestId);
    }
    this.finish();
  }

  private leavePending(): void {
    if (!this.pending) return;
    this.pending = false;
    this.route.cluster.breaker.pendingRequests--;
  }

  /** The current try is over (undici called onComplete or onError). */
  private endTry(): void {
    this.clearTryTimer();
    this.upstreamEndedAt = performance.now();
    this.endpoint.triesEnded++;
    // The try's controls are spent; clientClosed()/totalTimeout() must not rely on them.
    this.abortUpstream = null;
    this.resumeUpstream = null;
  }

  private clearTryTimer(): void {
    if (this.tryTimer === null) return;
    clearTimeout(this.tryTimer);
    this.tryTimer = null;
  }

  /** The one place an exchange ends: releases what it holds and reports the request. Idempotent. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.clearTryTimer();
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
      this.ctx.observer.requestRejected(this.req, this.res, this.route, this.requestId, this.refusedWith, this.startedAt, this.clientAddress);
    } else {
      this.ctx.observer.requestEnded(this);
    }
  }
}

// Callbacks shared by all exchanges (no closure per request): the exchange is `this` or an argument.
function onClientClose(this: TaggedResponse): void {
  this[kExchange]?.clientClosed();
}

function resumeOnDrain(this: TaggedResponse): void {
  this[kExchange]?.resume();
}

function onRequestChunk(this: TaggedRequest, chunk: Buffer): void {
  this[kExchange]?.bodyChunk(chunk);
}

/**
 * The request stream's push while a gRPC body is copied: every chunk the listener hands to the
 * stream (and its end) is also given to the exchange; the stream and its consumer (undici) are
 * untouched otherwise. Chains to the push it replaced (the body size guard's, or the stream's).
 */
function copyingPush(this: TaggedRequest, chunk: unknown, encoding?: BufferEncoding): boolean {
  this[kExchange]?.bodyCopied(chunk as Buffer | null);
  return this[kPushBefore]!.call(this, chunk, encoding);
}

function onRequestEnd(this: TaggedRequest): void {
  this[kExchange]?.bodyEnd();
}

function startRetry(exchange: ForwardExchange): void {
  exchange.retry();
}

function onTryTimeout(exchange: ForwardExchange): void {
  exchange.tryTimeout();
}

function onTotalTimeout(exchange: ForwardExchange): void {
  exchange.totalTimeout();
}

function hasOwnFields(o: object): boolean {
  for (const _ in o) return true;
  return false;
}

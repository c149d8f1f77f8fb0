import { EventEmitter } from 'node:events';
import { connect as http2Connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type IncomingHttpStatusHeader, type OutgoingHttpHeaders } from 'node:http2';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { endTrailers, trailerSourceOf } from './request-trailer-source.js';
import { sniServerName } from './sni-server-name.js';

const { NGHTTP2_CANCEL, NGHTTP2_REFUSED_STREAM, HTTP2_HEADER_STATUS } = constants;

/** Settings of an Http2Pool, from the service's settings. */
export interface Http2PoolOptions {
  /** Most connections (sessions) to the instance. */
  readonly connections: number;
  readonly connectTimeout: number;
  /** A connection with no stream open for this long is closed. */
  readonly keepAliveTimeout: number;
  /** Most streams per connection (the instance's SETTINGS may lower it). */
  readonly maxConcurrentStreams: number;
  /** TLS options (h2), or null for cleartext prior knowledge (h2c). */
  readonly tls: ConnectionOptions | null;
  /** SNI name and certificate name for TLS; undefined: the instance address (no SNI). */
  readonly servername?: string;
}

/** An upstream answer or failure that undici would report with these codes. */
class Http2UpstreamError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
  }
}

/**
 * Header fields HTTP/2 forbids (RFC 9113 §8.2.2) or carries as pseudo-headers. The request
 * list reaching the pool has hop-by-hop fields removed already; these are what is left of
 * HTTP/1.1 framing.
 */
const NOT_SENT = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

/**
 * Upstream connections for services whose protocol is h2 or h2c with `http2Client: node`
 * (Http2CodecPool, Switchyard's own HTTP/2 client codec, is the default): node:http2 client sessions,
 * each carrying up to `maxConcurrentStreams` requests at once (fewer if the instance's
 * SETTINGS say so), more sessions opened when all are full, up to `connections`; requests
 * beyond wait in a queue.
 *
 * Written here rather than taken from undici (whose Pool served HTTP/1.1 before Http1Pool): undici 7's
 * HTTP/2 client runs a request with a streamed body (every proxied request body, every gRPC
 * call) or a non-idempotent method only when no other request is in flight on its connection,
 * so a long gRPC stream blocks the calls queued behind it, and it has no h2c option at the
 * pool level. It implements the part of undici's Dispatcher the proxy uses — `dispatch()` with
 * the same handler callbacks (onConnect, onHeaders, onData, onComplete, onError), `close()`,
 * 'connect'/'disconnect' events and `stats.free` — so the exchanges and the circuit breaker
 * do not know which kind of pool they talk to.
 */
export class Http2Pool extends EventEmitter {
  private readonly sessions: PooledSession[] = [];
  /** Requests waiting for a stream slot. */
  private readonly queue: Http2Request[] = [];
  /** Sessions being connected (counted against `connections`). */
  private connecting = 0;
  private closed = false;
  private closeWaiters: (() => void)[] = [];

  constructor(
    private readonly origin: string,
    private readonly options: Http2PoolOptions,
  ) {
    super();
  }

  /** Connections with room for another stream (the circuit breaker's "no new connection needed"). */
  get stats(): { free: number } {
    let free = 0;
    for (const s of this.sessions) if (s.usable && s.active < s.limit) free++;
    return { free };
  }

  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const request = new Http2Request(this, options, handler);
    if (this.closed) {
      request.fail(new Http2UpstreamError('the upstream pool is closed', 'UND_ERR_CLOSED'));
      return false;
    }
    const session = this.sessionWithRoom();
    if (session !== null) request.start(session);
    else {
      this.queue.push(request);
      this.grow();
    }
    return true;
  }

  /** Closes every connection once its streams are done; queued requests fail. */
  close(): Promise<void> {
    this.closed = true;
    const queued = this.queue.splice(0);
    for (const r of queued) r.fail(new Http2UpstreamError('the upstream pool is closed', 'UND_ERR_CLOSED'));
    for (const s of this.sessions) s.session.close();
    if (this.sessions.length === 0 && this.connecting === 0) return Promise.resolve();
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  /** A request gave up its place in the queue (cancelled before it got a stream). */
  dequeue(request: Http2Request): void {
    const i = this.queue.indexOf(request);
    if (i >= 0) this.queue.splice(i, 1);
  }

  /** A stream ended on `session`: its slot goes to the next queued request. */
  streamEnded(session: PooledSession): void {
    session.active--;
    this.drainQueue();
    if (session.active === 0) session.idleSince();
  }

  private sessionWithRoom(): PooledSession | null {
    // The busiest session with room: streams gather on few connections, so idle ones close.
    let best: PooledSession | null = null;
    for (const s of this.sessions) {
      if (!s.usable || s.active >= s.limit) continue;
      if (best === null || s.active > best.active) best = s;
    }
    return best;
  }

  private drainQueue(): void {
    while (this.queue.length > 0) {
      const session = this.sessionWithRoom();
      if (session === null) {
        this.grow();
        return;
      }
      this.queue.shift()!.start(session);
    }
  }

  /** Opens another connection if queued requests need one and the limit allows. */
  private grow(): void {
    if (this.closed || this.queue.length === 0) return;
    // Connections being set up will take up to maxConcurrentStreams queued requests each.
    if (this.connecting * this.options.maxConcurrentStreams >= this.queue.length) return;
    if (this.sessions.length + this.connecting >= this.options.connections) return;
    this.connecting++;
    const pooled = new PooledSession(this, this.openSession(), this.options);
    // Ready once the instance's SETTINGS are in (they come first on every HTTP/2 connection):
    // its SETTINGS_MAX_CONCURRENT_STREAMS must be known before streams are opened on it.
    pooled.session.once('remoteSettings', () => {
      this.connecting--;
      pooled.connected = true;
      this.sessions.push(pooled);
      this.emit('connect', this.origin, [this]);
      this.drainQueue();
    });
  }

  private openSession(): ClientHttp2Session {
    const { tls, connectTimeout, servername } = this.options;
    const url = new URL(this.origin);
    const session = http2Connect(this.origin, {
      settings: { enablePush: false },
      ...(tls !== null
        ? {
            createConnection: () => {
              const host = url.hostname.replace(/^\[|\]$/g, '');
              return tlsConnect({ ...tls, host, port: Number(url.port), servername: sniServerName(servername, host), ALPNProtocols: ['h2'] });
            },
          }
        : null),
    });
    const timer = setTimeout(() => session.destroy(new Http2UpstreamError(`no HTTP/2 connection within ${connectTimeout} ms (connect, TLS and SETTINGS)`, 'UND_ERR_CONNECT_TIMEOUT')), connectTimeout);
    session.once('remoteSettings', () => clearTimeout(timer));
    session.once('close', () => clearTimeout(timer));
    return session;
  }

  /** A session closed (or failed to connect). */
  sessionClosed(pooled: PooledSession, error: Error | null): void {
    const i = this.sessions.indexOf(pooled);
    if (i >= 0) {
      this.sessions.splice(i, 1);
      this.emit('disconnect', this.origin, [this], error);
    } else if (!pooled.connected) {
      this.connecting--;
      // Nothing to connect to: the requests waiting for this connection fail as undici's
      // would (ECONNREFUSED, connect timeout, TLS errors), so they can be retried elsewhere.
      if (this.sessions.length === 0 && this.connecting === 0) {
        const queued = this.queue.splice(0);
        const err = error ?? new Http2UpstreamError('the upstream connection closed before it was set up', 'UND_ERR_SOCKET');
        for (const r of queued) r.fail(err);
      }
      // With connections still open, the queue waits for their streams to end (streamEnded),
      // rather than trying to connect again at once in a loop.
      if (!this.closed) return;
    }
    if (this.closed && this.sessions.length === 0 && this.connecting === 0) {
      for (const resolve of this.closeWaiters.splice(0)) resolve();
    } else {
      this.drainQueue();
    }
  }
}

/** One connection of the pool and its stream count. */
class PooledSession {
  active = 0;
  /** Streams allowed at once: ours, lowered by the instance's SETTINGS_MAX_CONCURRENT_STREAMS. */
  limit: number;
  connected = false;
  /** False after GOAWAY (streams in flight finish; no new ones). */
  usable = true;
  private lastError: Error | null = null;
  private readonly keepAliveTimeout: number;
  /** When the last stream ended (performance.now()). */
  private idleAt = 0;
  private idleTimer: NodeJS.Timeout | null = null;

  constructor(
    pool: Http2Pool,
    readonly session: ClientHttp2Session,
    options: Http2PoolOptions,
  ) {
    this.limit = options.maxConcurrentStreams;
    this.keepAliveTimeout = options.keepAliveTimeout;
    session.on('remoteSettings', (settings) => {
      const max = settings.maxConcurrentStreams;
      if (max !== undefined) this.limit = Math.max(1, Math.min(this.limit, max));
    });
    session.on('goaway', () => {
      this.usable = false;
    });
    // Errors end the session; its streams report their own failure to their exchanges. The
    // error is kept for the requests that waited for this connection.
    session.on('error', (err: Error) => {
      this.lastError = err;
    });
    session.once('close', () => {
      this.usable = false;
      if (this.idleTimer !== null) clearTimeout(this.idleTimer);
      this.idleTimer = null;
      pool.sessionClosed(this, this.lastError);
    });
  }

  /**
   * The last open stream ended. A connection that received GOAWAY closes now; another closes
   * once it has had no stream for keepAliveTimeout. One timer per idle period, re-checked when
   * it fires (not one per request); node:http2's session timer is not used: it does not fire
   * reliably once streams have been open.
   */
  idleSince(): void {
    if (!this.usable) {
      this.session.close();
      return;
    }
    this.idleAt = performance.now();
    if (this.idleTimer === null) this.idleTimer = setTimeout(this.onIdleTimer, this.keepAliveTimeout).unref();
  }

  private readonly onIdleTimer = (): void => {
    this.idleTimer = null;
    if (this.active > 0 || this.session.closed || this.session.destroyed) return;
    const left = this.keepAliveTimeout - (performance.now() - this.idleAt);
    if (left <= 0) this.session.close();
    else this.idleTimer = setTimeout(this.onIdleTimer, left).unref();
  };
}

const kRequest = Symbol('switchyard.http2Request');
type TaggedStream = ClientHttp2Stream & { [kRequest]?: Http2Request };
type TaggedBody = Readable & { [kRequest]?: Http2Request };

/**
 * One request on an HTTP/2 stream, reported to an undici-style handler. Stream events go to
 * callbacks shared by all requests (the stream carries its request), so a request allocates
 * two functions only: the abort and resume the handler contract hands out.
 */
class Http2Request {
  private stream: ClientHttp2Stream | null = null;
  private session: PooledSession | null = null;
  private done = false;
  private gotResponse = false;
  private trailers: IncomingHttpHeaders | null = null;
  private headersTimer: NodeJS.Timeout | null = null;

  constructor(
    private readonly pool: Http2Pool,
    private readonly options: Dispatcher.DispatchOptions,
    private readonly handler: Dispatcher.DispatchHandler,
  ) {
    const body = options.body as Buffer | Readable | null | undefined;
    if (body != null && !Buffer.isBuffer(body)) {
      // From dispatch on, as the HTTP/1.1 pool does: a body that fails while the request waits
      // for a session (the exchange refusing a body too large) fails the request instead of
      // being an unhandled 'error'.
      (body as TaggedBody)[kRequest] = this;
      body.once('error', onBodyError);
    }
  }

  /** Opens the stream on `session`, tells the handler (onConnect), sends headers and body. */
  start(pooled: PooledSession): void {
    const opts = this.options;
    const headers = requestHeaders(opts);
    const body = opts.body as Buffer | Readable | null | undefined;
    const bodyless = body == null || (Buffer.isBuffer(body) && body.length === 0);
    // A body that may end with trailers keeps the stream open after its last DATA frame
    // ('wantTrailers'): the trailers, or an empty end of stream, close it.
    const waitForTrailers = !bodyless && trailerSourceOf(opts) !== null;
    let stream: TaggedStream;
    try {
      stream = pooled.session.request(headers, { endStream: bodyless, waitForTrailers });
    } catch (err) {
      this.fail(err as Error);
      return;
    }
    pooled.active++;
    this.session = pooled;
    this.stream = stream;
    stream[kRequest] = this;
    stream.on('response', onStreamResponse);
    stream.on('headers', onStreamInformational);
    stream.on('data', onStreamData);
    stream.once('trailers', onStreamTrailers);
    stream.once('end', onStreamEnd);
    stream.once('close', onStreamClose);
    stream.on('error', onStreamError);
    if (waitForTrailers) stream.once('wantTrailers', onStreamWantTrailers);
    const headersTimeout = opts.headersTimeout ?? 0;
    if (headersTimeout > 0) this.headersTimer = setTimeout(onHeadersTimeout, headersTimeout, this);
    this.handler.onConnect?.((err?: Error) => this.abort(err));
    if (this.done) return;
    if (Buffer.isBuffer(body)) {
      if (body.length > 0) stream.end(body);
    } else if (body != null) {
      body.pipe(stream);
    }
  }

  /** Fails a request that never got a stream (queued, pool closed, connect failed). */
  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.pool.dequeue(this);
    this.handler.onError?.(err);
  }

  abort(err?: Error): void {
    if (this.done) return;
    if (this.stream === null) {
      // Still queued (its body failed meanwhile): it leaves the queue.
      this.fail(err ?? new Http2UpstreamError('request aborted', 'UND_ERR_ABORTED'));
      return;
    }
    this.finish(err ?? new Http2UpstreamError('request aborted', 'UND_ERR_ABORTED'));
  }

  response(headers: IncomingHttpHeaders & IncomingHttpStatusHeader): void {
    if (this.done) return;
    this.gotResponse = true;
    this.clearHeadersTimer();
    const stream = this.stream!;
    const bodyTimeout = this.options.bodyTimeout ?? 0;
    if (bodyTimeout > 0) stream.setTimeout(bodyTimeout, onBodyTimeout);
    const status = Number(headers[HTTP2_HEADER_STATUS]);
    if (this.handler.onHeaders?.(status, rawHeaders(headers), () => stream.resume(), '') === false) stream.pause();
  }

  /** 1xx responses (103 Early Hints and the like) before the final one. */
  informational(headers: IncomingHttpHeaders & IncomingHttpStatusHeader): void {
    if (this.done || this.gotResponse) return;
    const status = Number(headers[HTTP2_HEADER_STATUS]);
    if (status >= 100 && status < 200) this.handler.onHeaders?.(status, rawHeaders(headers), noResume, '');
  }

  data(chunk: Buffer): void {
    if (this.done) return;
    if (this.handler.onData?.(chunk) === false) this.stream!.pause();
  }

  /** The request body's last DATA frame is out: its trailers end the stream (an empty set: an empty end of stream). */
  wantTrailers(): void {
    const stream = this.stream;
    if (this.done || stream === null || stream.destroyed) return;
    const fields = endTrailers(trailerSourceOf(this.options));
    const out: OutgoingHttpHeaders = {};
    if (fields !== null) {
      for (let i = 0; i < fields.length; i += 2) {
        const name = fields[i]!;
        const existing = out[name];
        if (existing === undefined) out[name] = fields[i + 1]!;
        else if (Array.isArray(existing)) existing.push(fields[i + 1]!);
        else out[name] = [String(existing), fields[i + 1]!];
      }
    }
    try {
      stream.sendTrailers(out);
    } catch (err) {
      // node:http2 refused a field (ERR_HTTP2_INVALID_HEADER_VALUE...): the request fails with it.
      this.finish(err as Error);
    }
  }

  trailersReceived(trailers: IncomingHttpHeaders): void {
    this.trailers = trailers;
  }

  ended(): void {
    if (this.done) return;
    if (!this.gotResponse) {
      this.finish(new Http2UpstreamError('the upstream ended the stream without a response', 'UND_ERR_SOCKET'));
      return;
    }
    this.done = true;
    this.release();
    // The response is complete. A request body still streaming is not needed any more: stop
    // it and close the stream (RST_STREAM NO_ERROR, RFC 9113 §8.1). Otherwise the stream is
    // closed on both sides already; resetting it again would be a frame on a closed stream,
    // which servers count as invalid (node:http2 ends the connection after 1,000).
    const stream = this.stream!;
    if (!stream.writableEnded && this.stopBody(stream)) stream.close();
    // undici's handler type says string[]; trailers of HTTP/2 responses arrive as an object.
    this.handler.onComplete?.(this.trailers as unknown as string[] | null);
  }

  closed(): void {
    if (this.done) return;
    const code = this.stream!.rstCode;
    const refused = code === NGHTTP2_REFUSED_STREAM;
    this.finish(new Http2UpstreamError(refused ? 'the upstream refused the stream (REFUSED_STREAM)' : `the upstream reset the stream (code ${code ?? 'none'})`, refused ? 'UND_ERR_SOCKET' : 'ECONNRESET'));
  }

  streamFailed(err: Error & { code?: string }): void {
    if (this.done) return;
    // A reset by the instance (RST_STREAM with an error code) is undici's ECONNRESET.
    const reset = err.code === undefined || err.code === 'ERR_HTTP2_STREAM_ERROR' || err.code === 'ERR_HTTP2_SESSION_ERROR';
    this.finish(reset ? new Http2UpstreamError(`the upstream reset the stream: ${err.message}`, this.stream?.rstCode === NGHTTP2_REFUSED_STREAM ? 'UND_ERR_SOCKET' : 'ECONNRESET') : err);
  }

  headersTimedOut(): void {
    this.headersTimer = null;
    this.finish(new Http2UpstreamError(`no response headers within ${this.options.headersTimeout} ms`, 'UND_ERR_HEADERS_TIMEOUT'));
  }

  bodyTimedOut(): void {
    this.finish(new Http2UpstreamError(`no response data within ${this.options.bodyTimeout} ms`, 'UND_ERR_BODY_TIMEOUT'));
  }

  /** Ends the request with `err`: the stream is cancelled and the handler told once. */
  private finish(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.release();
    const stream = this.stream;
    if (stream !== null) {
      this.stopBody(stream);
      if (!stream.closed) stream.close(NGHTTP2_CANCEL);
    }
    this.handler.onError?.(err);
  }

  /** Stops a streamed request body from feeding `stream`; true when there was one and the stream is still open. */
  private stopBody(stream: ClientHttp2Stream): boolean {
    const body = this.options.body as Readable | Buffer | null | undefined;
    if (body == null || Buffer.isBuffer(body)) return false;
    body.unpipe(stream);
    return !stream.closed;
  }

  private release(): void {
    this.clearHeadersTimer();
    if (this.session !== null) {
      const session = this.session;
      this.session = null;
      this.pool.streamEnded(session);
    }
  }

  private clearHeadersTimer(): void {
    if (this.headersTimer === null) return;
    clearTimeout(this.headersTimer);
    this.headersTimer = null;
  }
}

// Stream and body callbacks shared by all requests: the stream (or body) carries its request.
function onStreamResponse(this: TaggedStream, headers: IncomingHttpHeaders & IncomingHttpStatusHeader): void {
  this[kRequest]?.response(headers);
}

function onStreamInformational(this: TaggedStream, headers: IncomingHttpHeaders & IncomingHttpStatusHeader): void {
  this[kRequest]?.informational(headers);
}

function onStreamData(this: TaggedStream, chunk: Buffer): void {
  this[kRequest]?.data(chunk);
}

function onStreamTrailers(this: TaggedStream, trailers: IncomingHttpHeaders): void {
  this[kRequest]?.trailersReceived(trailers);
}

function onStreamWantTrailers(this: TaggedStream): void {
  this[kRequest]?.wantTrailers();
}

function onStreamEnd(this: TaggedStream): void {
  this[kRequest]?.ended();
}

function onStreamClose(this: TaggedStream): void {
  this[kRequest]?.closed();
}

function onStreamError(this: TaggedStream, err: Error & { code?: string }): void {
  this[kRequest]?.streamFailed(err);
}

function onBodyTimeout(this: TaggedStream): void {
  this[kRequest]?.bodyTimedOut();
}

function onBodyError(this: TaggedBody, err: Error): void {
  this[kRequest]?.abort(err);
}

function onHeadersTimeout(request: Http2Request): void {
  request.headersTimedOut();
}

/** Interim responses carry no body: there is nothing to resume. */
function noResume(): void {}

/**
 * The HTTP/2 request header block from undici-style options: pseudo-headers from the method,
 * path and Host; the other fields lower-cased, minus what HTTP/2 forbids; TE only as "trailers".
 */
function requestHeaders(opts: Dispatcher.DispatchOptions): OutgoingHttpHeaders {
  const out: OutgoingHttpHeaders = { ':method': opts.method, ':path': opts.path };
  const list = opts.headers as string[] | null | undefined;
  if (list != null) {
    for (let i = 0; i < list.length; i += 2) {
      const name = list[i]!.toLowerCase();
      const value = list[i + 1]!;
      if (name === 'host') {
        out[':authority'] = value;
        continue;
      }
      if (NOT_SENT.has(name)) continue;
      if (name === 'te') {
        if (value.toLowerCase().includes('trailers')) out.te = 'trailers';
        continue;
      }
      const existing = out[name];
      if (existing === undefined) out[name] = value;
      else if (Array.isArray(existing)) existing.push(value);
      else out[name] = [String(existing), value];
    }
  }
  return out;
}

/** Response headers as undici's raw list ([name, value, ...] Buffers), without pseudo-headers. */
function rawHeaders(headers: IncomingHttpHeaders): Buffer[] {
  const out: Buffer[] = [];
  for (const name in headers) {
    if (name.charCodeAt(0) === 58 /* : */) continue;
    const value = headers[name];
    if (value === undefined) continue;
    const key = Buffer.from(name, 'latin1');
    if (Array.isArray(value)) for (const v of value) out.push(key, Buffer.from(v, 'latin1'));
    else out.push(key, Buffer.from(String(value), 'latin1'));
  }
  return out;
}

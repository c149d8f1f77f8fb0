import type { IncomingMessage } from 'node:http';
import { constants, createServer, type Http2Server, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { connectionClientAddress, connectionTlsVersion } from './client-connection.js';
import { isGrpcRequest } from './grpc-status.js';
import { PROXY_ERROR_HEADER, PROXY_ERRORS } from './proxy-error.js';

/** What the listener's request handler is called with (the same one as for HTTP/1.x). */
export type Http2RequestHandler = (req: Http2ServerRequest, res: Http2ServerResponse) => void;

/** Per-connection counts, kept on the session object. */
interface SessionState {
  /** Streams open now. */
  open: number;
  /** Streams opened so far. */
  total: number;
  /** Streams the client cancelled before their response ended. */
  premature: number;
  /** The idle timer fired while streams were open (node:http2 does not re-arm it by itself). */
  idleTimerSpent: boolean;
  /** The connection's client address (PROXY protocol or TCP peer) and TLS version, read once. */
  readonly clientAddress: string;
  readonly tlsVersion: string | undefined;
  readonly owner: Http2Sessions;
  readonly session: TrackedSession;
}
/** The answer to a request whose body stalled past limits.requestTimeout. */
const REQUEST_TIMEOUT_HEADERS = { 'content-length': '0', [PROXY_ERROR_HEADER]: 'request_timeout' };

const kState = Symbol('switchyard.http2SessionState');
type TrackedSession = ServerHttp2Session & { [kState]?: SessionState };
/**
 * A stream carries its connection's state itself: node:http2 unlinks `stream.session` when a
 * stream is destroyed, before its 'close' event.
 */
type TrackedStream = ServerHttp2Stream & { [kState]?: SessionState };

/** When a request whose body is still arriving started (performance.now()), for limits.requestTimeout. */
const kReceivingSince = Symbol('switchyard.http2ReceivingSince');
type ReceivingResponse = Http2ServerResponse & { [kReceivingSince]?: number };

/**
 * The HTTP/2 side of a listener: a node:http2 server that never listens itself (the listener
 * hands it connections), with the limits of `limits.http2` and the listener's header limits,
 * plus what nghttp2 does not do for us:
 * - idle connections (no stream open for `limits.keepAliveTimeout`) get a GOAWAY, like an idle
 *   HTTP/1.1 keep-alive connection is closed, also after a quiet stream held the connection
 *   past that time (node:http2 does not reliably re-arm a session timer that has fired);
 * - a connection with frames waiting to be sent and no traffic for that time is closed: its
 *   client stopped reading, or nghttp2 ended it after a protocol error and stays silent;
 * - rapid reset (CVE-2023-44487): a connection whose client cancelled `prematureResetLimit`
 *   streams before their response ended, at least half of all its streams, is closed with
 *   GOAWAY ENHANCE_YOUR_CALM (Envoy's rule, which applies it only from a connection's 500th
 *   stream; docs/security.md compares them). nghttp2 1.57+ also caps the RST_STREAM
 *   rate, but only after 1,000 resets, each of which started an upstream request here.
 * - `limits.requestTimeout` on each request whose body is still arriving (as node:http applies it
 *   to HTTP/1.x requests): past it the client gets 408 and the stream is reset (CANCEL when the
 *   response had started); the connection and its other streams go on. gRPC streams are
 *   exempt: a client-streaming call may send for as long as its deadline allows.
 * CONTINUATION floods (CVE-2024-27983), SETTINGS and PING floods whose acknowledgements the
 * client never reads (CVE-2019-9515/9512) are cut by nghttp2 itself (Node ≥ 20.12.1), empty and
 * invalid frame floods (CVE-2019-9518) by node:http2 (maxSessionInvalidFrames, 1,000);
 * test/integration/hardening/http2-floods.test.ts sends each with a raw HTTP/2 client.
 */
export class Http2Sessions {
  readonly server: Http2Server;
  private readonly sessions = new Set<ServerHttp2Session>();
  private draining = false;
  /** Requests whose body is still arriving (only with limits.requestTimeout). */
  private readonly receiving = new Set<ReceivingResponse>();
  /** Checks `receiving` while it is not empty. */
  private sweep: NodeJS.Timeout | null = null;
  private readonly sweepMs: number;

  constructor(
    private readonly limits: Config['limits'],
    private readonly onRequest: Http2RequestHandler,
    private readonly logger: Logger,
    private readonly listenerName: string,
  ) {
    const h2 = limits.http2;
    // As often as node:http checks HTTP/1.x requests against the same limit (ProxyListener).
    this.sweepMs = Math.min(1_000, Math.max(100, Math.floor(limits.requestTimeout / 4)));
    const handler = limits.requestTimeout > 0 ? this.onTimedRequest : onRequest;
    this.server = createServer(
      {
        // Node takes megabytes.
        maxSessionMemory: h2.maxSessionMemory / (1024 * 1024),
        // Pseudo-headers count too; one more so the handler sees "too many" and answers 431.
        maxHeaderListPairs: limits.maxHeaderCount + 5,
        settings: {
          maxConcurrentStreams: h2.maxConcurrentStreams,
          initialWindowSize: h2.initialWindowSize,
          maxHeaderListSize: limits.maxHeaderSize,
          enablePush: false,
        },
      },
      handler,
    );
    // node:http2 hands CONNECT requests to 'connect' listeners, not 'request'; without one it
    // answers 405 itself and leaves the client's side of the stream open. The handler answers
    // CONNECT like HTTP/1.1 (501) and resets the stream.
    this.server.on('connect', handler);
    this.server.on('session', this.onSession);
    this.server.on('stream', this.onStream);
    this.server.on('sessionError', (err: Error & { code?: string }) => {
      this.logger.debug({ listener: this.listenerName, errorCode: err.code, error: err.message }, 'HTTP/2 connection failed');
    });
  }

  /** Hands a connection whose protocol is HTTP/2 (by ALPN or preface) to the HTTP/2 server. */
  readonly accept = (socket: Duplex): void => {
    if (this.draining) {
      socket.destroy();
      return;
    }
    this.server.emit('connection', socket);
  };

  /** HTTP/2 connections now open. */
  get open(): number {
    return this.sessions.size;
  }

  /** Graceful close: GOAWAY on every connection; each closes once its open streams are done. */
  drain(): void {
    this.draining = true;
    for (const session of this.sessions) session.close();
  }

  private readonly onSession = (session: ServerHttp2Session): void => {
    // session.socket is node:http2's stand-in for the connection; it reads through to the socket.
    const socket = session.socket as unknown as Duplex;
    (session as TrackedSession)[kState] = {
      open: 0,
      total: 0,
      premature: 0,
      idleTimerSpent: false,
      clientAddress: connectionClientAddress(socket),
      tlsVersion: connectionTlsVersion(socket),
      owner: this,
      session,
    };
    this.sessions.add(session);
    session.once('close', () => this.sessions.delete(session));
    session.on('timeout', onSessionTimeout);
    session.setTimeout(this.limits.keepAliveTimeout);
    if (this.draining) session.close();
  };

  /** Starts the idle timer again once the last stream of a connection whose timer fired has closed. */
  rearmIdleTimer(state: SessionState): void {
    state.idleTimerSpent = false;
    if (!state.session.closed && !state.session.destroyed) state.session.setTimeout(this.limits.keepAliveTimeout);
  }

  private readonly onStream = (stream: ServerHttp2Stream): void => {
    const state = (stream.session as TrackedSession | undefined)?.[kState];
    if (state === undefined) return;
    state.open++;
    state.total++;
    (stream as TrackedStream)[kState] = state;
    stream.once('aborted', onStreamAborted);
    stream.once('close', onStreamClose);
  };

  /**
   * Frames have waited to be sent for `keepAliveTimeout` with no traffic: the client stopped
   * reading, or nghttp2 ended the connection after a protocol error (a GOAWAY it sent itself,
   * e.g. for DATA on a closed stream) and sends nothing more. node:http2 tells the application
   * neither, and keeps the socket and the open streams until the client leaves.
   */
  stalled(state: SessionState): void {
    const session = state.session;
    this.logger.debug(
      { listener: this.listenerName, remoteAddress: session.socket?.remoteAddress, streams: state.open, timeoutMs: this.limits.keepAliveTimeout },
      'HTTP/2 connection closed: nothing could be sent to its client for limits.keepAliveTimeout',
    );
    session.destroy();
  }

  /** Requests with a body still to come are watched for limits.requestTimeout, then handled. */
  private readonly onTimedRequest = (req: Http2ServerRequest, res: Http2ServerResponse): void => {
    if (!req.stream.endAfterHeaders && !isGrpcRequest(req as unknown as IncomingMessage)) {
      (res as ReceivingResponse)[kReceivingSince] = performance.now();
      this.receiving.add(res);
      if (this.sweep === null) {
        this.sweep = setInterval(this.expireRequests, this.sweepMs);
        this.sweep.unref();
      }
    }
    this.onRequest(req, res);
  };

  /** Answers 408 to requests whose body did not arrive whole within limits.requestTimeout. */
  private readonly expireRequests = (): void => {
    const now = performance.now();
    const limit = this.limits.requestTimeout;
    for (const res of this.receiving) {
      const stream = res.stream;
      if (stream.destroyed || bodyReceived(stream)) {
        this.receiving.delete(res);
        continue;
      }
      if (now - res[kReceivingSince]! < limit) continue;
      this.receiving.delete(res);
      this.logger.debug(
        { listener: this.listenerName, remoteAddress: stream.session?.socket?.remoteAddress, path: res.req.url, limit },
        'HTTP/2 request body not received within limits.requestTimeout; stream reset',
      );
      // Nothing more of the body, and no end of it, reaches the upstream: closing the stream would
      // end the request stream, and the upstream would take the truncated body as complete (the
      // same rule as body-size-guard). The exchange cancels the upstream request when the
      // response closes.
      res.req.push = refusePush;
      if (res.headersSent) {
        stream.close(constants.NGHTTP2_CANCEL);
        continue;
      }
      res.writeHead(PROXY_ERRORS.request_timeout.status, REQUEST_TIMEOUT_HEADERS);
      res.end();
      // The client stops sending (RST_STREAM NO_ERROR after a complete response, RFC 9113 §8.1).
      stream.close(constants.NGHTTP2_NO_ERROR);
    }
    if (this.receiving.size === 0 && this.sweep !== null) {
      clearInterval(this.sweep);
      this.sweep = null;
    }
  };

  /** A stream of `session` was cancelled by its client before its response ended. */
  prematureReset(session: TrackedSession, state: SessionState): void {
    state.premature++;
    const limit = this.limits.http2.prematureResetLimit;
    if (state.premature < limit || state.premature * 2 < state.total || session.destroyed) return;
    this.logger.warn(
      { listener: this.listenerName, remoteAddress: session.socket?.remoteAddress, streams: state.total, cancelled: state.premature, limit },
      'HTTP/2 connection closed: its client cancels most of its streams (rapid reset); see limits.http2.prematureResetLimit',
    );
    session.goaway(constants.NGHTTP2_ENHANCE_YOUR_CALM);
    session.destroy();
  }
}

/** What an HTTP/2 request's connection is known by: client address and TLS version. */
export interface Http2Connection {
  readonly clientAddress: string;
  readonly tlsVersion: string | undefined;
}

/**
 * The connection of a stream: from the stream once it is tracked (it keeps the state after
 * node:http2 unlinks its session), else from its session (the request handler runs before
 * the stream is tracked).
 */
export function http2ConnectionOf(stream: ServerHttp2Stream): Http2Connection | undefined {
  return (stream as TrackedStream)[kState] ?? (stream.session as TrackedSession | undefined)?.[kState];
}

/** Takes no more of a request body (see expireRequests). */
function refusePush(): boolean {
  return false;
}

/**
 * Whether the client has sent the whole request body (END_STREAM), read or not. `readableEnded`
 * waits until the body has been read, and a body waiting for an upstream connection is not read
 * yet; node:http2 has no public flag for it (`_readableState.ended` is set when END_STREAM arrives).
 */
function bodyReceived(stream: ServerHttp2Stream): boolean {
  return (stream as unknown as { _readableState: { ended: boolean } })._readableState.ended;
}

// Stream callbacks shared by all streams (no closure per stream): the stream is `this`.
function onStreamAborted(this: TrackedStream): void {
  const state = this[kState];
  if (state !== undefined) state.owner.prematureReset(state.session, state);
}

function onStreamClose(this: TrackedStream): void {
  const state = this[kState];
  if (state === undefined) return;
  state.open--;
  if (state.open === 0 && state.idleTimerSpent) state.owner.rearmIdleTimer(state);
}

/**
 * No traffic for `keepAliveTimeout`: a connection without open streams gets a GOAWAY. Streams
 * open (a long gRPC stream that is quiet for a while) keep it, unless frames are waiting to be
 * sent all that time (see `stalled`). Once fired, node:http2 re-arms
 * this timer only on some later traffic (a response written afterwards does not always do it),
 * so the last of those streams to close starts it again.
 */
function onSessionTimeout(this: TrackedSession): void {
  const state = this[kState];
  if (state === undefined) return;
  if (state.open === 0) this.close();
  else if ((this.state?.outboundQueueSize ?? 0) > 0) state.owner.stalled(state);
  else state.idleTimerSpent = true;
}

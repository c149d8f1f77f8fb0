import { constants, createServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import { Http2ServerStream, type Http2StreamConnection } from '../codec/http2-server-stream.js';
import type { ServerStream } from '../codec/server-stream.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { connectionClientAddress, connectionTlsVersion } from './client-connection.js';
import { isGrpcRequest } from './grpc-status.js';
import { RequestBodyDeadlines, type BodyAwaitingEngine } from './request-body-deadlines.js';

/** What the listener hands each HTTP/2 request to (the same handler as the HTTP/1.1 codec's streams). */
export type Http2StreamHandler = (stream: ServerStream) => void;

/** How the body-deadline watch reads node:http2's streams. */
const NODE_STREAMS: BodyAwaitingEngine<Http2ServerStream> = {
  bodyDone: (request) => request.stream.destroyed || bodyReceived(request.stream),
  remoteAddress: (request) => request.connection.socket.remoteAddress,
};

const kState = Symbol('switchyard.http2SessionState');
type TrackedSession = ServerHttp2Session & { [kState]?: SessionState };

/**
 * One HTTP/2 connection's state, kept on its session (and by each of its streams, as their
 * Http2StreamConnection: node:http2 unlinks `stream.session` when a stream is destroyed,
 * before its 'close' event).
 */
class SessionState implements Http2StreamConnection {
  /** Streams open now. */
  open = 0;
  /** Streams opened so far. */
  total = 0;
  /** Streams the client cancelled before their response ended. */
  premature = 0;
  /** The idle timer fired while streams were open (node:http2 does not re-arm it by itself). */
  idleTimerSpent = false;
  /** The connection's client address (PROXY protocol or TCP peer) and TLS version, read once. */
  readonly clientAddress: string;
  readonly tlsVersion: string | undefined;
  readonly socket: { readonly remoteAddress: string | undefined; readonly encrypted: boolean };

  constructor(
    readonly owner: Http2Sessions,
    readonly session: TrackedSession,
    socket: Duplex & { remoteAddress?: string; encrypted?: boolean },
  ) {
    this.clientAddress = connectionClientAddress(socket);
    this.tlsVersion = connectionTlsVersion(socket);
    this.socket = { remoteAddress: socket.remoteAddress, encrypted: socket.encrypted === true };
  }

  streamAborted(): void {
    this.owner.prematureReset(this.session, this);
  }

  streamClosed(): void {
    this.open--;
    if (this.open === 0 && this.idleTimerSpent) this.owner.rearmIdleTimer(this);
  }

  streamFailed(err: Error & { code?: string }): void {
    this.owner.streamFailed(this, err);
  }
}


/**
 * The HTTP/2 side of a listener with proxy.engine.http2Listener "node" (Http2CodecSessions is
 * the default, Switchyard's own codec): a node:http2 server that never listens itself (the listener
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
 * - `limits.requestTimeout` on each request whose body is still arriving (as the HTTP/1.1 codec
 *   applies it): past it the client gets 408 and the stream is reset (CANCEL when the
 *   response had started); the connection and its other streams go on. gRPC streams are
 *   exempt: a client-streaming call may send for as long as its deadline allows.
 * Each request is an Http2ServerStream (node:http2's stream API, no compatibility objects)
 * handed to the same handler as the HTTP/1.1 codec's streams.
 * CONTINUATION floods (CVE-2024-27983), SETTINGS and PING floods whose acknowledgements the
 * client never reads (CVE-2019-9515/9512) are cut by nghttp2 itself (Node ≥ 20.12.1), empty and
 * invalid frame floods (CVE-2019-9518) by node:http2 (maxSessionInvalidFrames, 1,000);
 * test/integration/hardening/http2-floods.test.ts sends each with a raw HTTP/2 client.
 */
export class Http2Sessions {
  readonly server: Http2Server;
  private readonly sessions = new Set<ServerHttp2Session>();
  private draining = false;
  /** limits.requestTimeout for request bodies (gRPC streams exempt). */
  private readonly bodyDeadlines: RequestBodyDeadlines<Http2ServerStream>;

  constructor(
    private readonly limits: Config['limits'],
    private readonly onRequest: Http2StreamHandler,
    private readonly logger: Logger,
    private readonly listenerName: string,
  ) {
    const h2 = limits.http2;
    this.bodyDeadlines = new RequestBodyDeadlines(limits.requestTimeout, NODE_STREAMS, logger, listenerName);
    this.server = createServer({
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
    });
    // Every stream, CONNECT included (no 'request' listener: node:http2's compatibility layer
    // stays off). The handler answers CONNECT like HTTP/1.1 (501) and resets the stream.
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
    (session as TrackedSession)[kState] = new SessionState(this, session, socket);
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

  private readonly onStream = (stream: ServerHttp2Stream, headers: IncomingHttpHeaders, _flags: number, rawHeaders: string[]): void => {
    const state = (stream.session as TrackedSession | undefined)?.[kState];
    if (state === undefined) {
      // A session this listener did not see start (cannot happen: 'session' comes first).
      stream.close(constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    state.open++;
    state.total++;
    const request = new Http2ServerStream(stream, headers, rawHeaders, state);
    if (this.limits.requestTimeout > 0 && request.hasBody && !isGrpcRequest(request)) this.bodyDeadlines.watch(request);
    this.onRequest(request);
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

  /** A stream failed (nghttp2 found a protocol error on it): logged; the stream closes and its exchange hears of it. */
  streamFailed(state: SessionState, err: Error & { code?: string }): void {
    this.logger.debug({ listener: this.listenerName, remoteAddress: state.socket.remoteAddress, errorCode: err.code, error: err.message }, 'HTTP/2 stream failed');
  }

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

/**
 * Whether the client has sent the whole request body (END_STREAM), read or not. `readableEnded`
 * waits until the body has been read, and a body waiting for an upstream connection is not read
 * yet; node:http2 has no public flag for it (`_readableState.ended` is set when END_STREAM arrives).
 */
function bodyReceived(stream: ServerHttp2Stream): boolean {
  return (stream as unknown as { _readableState: { ended: boolean } })._readableState.ended;
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

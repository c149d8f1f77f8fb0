import { constants, createServer, type Http2Server, type Http2ServerRequest, type Http2ServerResponse, type ServerHttp2Session, type ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';

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
  readonly owner: Http2Sessions;
}
const kState = Symbol('switchyard.http2SessionState');
type TrackedSession = ServerHttp2Session & { [kState]?: SessionState };

/**
 * The HTTP/2 side of a listener: a node:http2 server that never listens itself (the listener
 * hands it connections), with the limits of `limits.http2` and the listener's header limits,
 * plus what nghttp2 does not do for us:
 * - idle connections (no stream open for `limits.keepAliveTimeout`) get a GOAWAY, like an idle
 *   HTTP/1.1 keep-alive connection is closed;
 * - rapid reset (CVE-2023-44487): a connection whose client cancelled `prematureResetLimit`
 *   streams before their response ended, at least half of all its streams, is closed with
 *   GOAWAY ENHANCE_YOUR_CALM (the rule Envoy applies). nghttp2 1.57+ also caps the RST_STREAM
 *   rate, but only after 1,000 resets, each of which started an upstream request here.
 * CONTINUATION floods (CVE-2024-27983), SETTINGS and PING floods whose acknowledgements the
 * client never reads (CVE-2019-9515/9512), and invalid-frame floods are cut by nghttp2 itself
 * (Node ≥ 20.12.1); tests send each with a raw HTTP/2 client.
 */
export class Http2Sessions {
  readonly server: Http2Server;
  private readonly sessions = new Set<ServerHttp2Session>();
  private draining = false;

  constructor(
    private readonly limits: Config['limits'],
    onRequest: Http2RequestHandler,
    private readonly logger: Logger,
    private readonly listenerName: string,
  ) {
    const h2 = limits.http2;
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
      onRequest,
    );
    // node:http2 hands CONNECT requests to 'connect' listeners, not 'request'; without one it
    // answers 405 itself and leaves the client's side of the stream open. The handler answers
    // CONNECT like HTTP/1.1 (501) and resets the stream.
    this.server.on('connect', onRequest);
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
    (session as TrackedSession)[kState] = { open: 0, total: 0, premature: 0, owner: this };
    this.sessions.add(session);
    session.once('close', () => this.sessions.delete(session));
    session.setTimeout(this.limits.keepAliveTimeout, () => {
      const state = (session as TrackedSession)[kState]!;
      // Streams open (a long gRPC stream that is quiet for a while) keep the connection.
      if (state.open === 0) session.close();
    });
    if (this.draining) session.close();
  };

  private readonly onStream = (stream: ServerHttp2Stream): void => {
    const state = (stream.session as TrackedSession | undefined)?.[kState];
    if (state === undefined) return;
    state.open++;
    state.total++;
    stream.once('aborted', onStreamAborted);
    stream.once('close', onStreamClose);
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

// Stream callbacks shared by all streams (no closure per stream): the stream is `this`.
function onStreamAborted(this: ServerHttp2Stream): void {
  const session = this.session as TrackedSession | undefined;
  const state = session?.[kState];
  if (state !== undefined) state.owner.prematureReset(session!, state);
}

function onStreamClose(this: ServerHttp2Stream): void {
  const state = (this.session as TrackedSession | undefined)?.[kState];
  if (state !== undefined) state.open--;
}

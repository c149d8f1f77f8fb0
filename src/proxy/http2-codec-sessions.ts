import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Http2CodecStream } from '../codec/http2-codec-stream.js';
import { Http2ServerConnection, type Http2ServerOwner, type Http2ServerSettings } from '../codec/http2-server-connection.js';
import { errorCodeName } from '../codec/http2/frame-types.js';
import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { isGrpcRequest } from './grpc-status.js';
import type { Http2StreamHandler } from './http2-sessions.js';
import { RequestBodyDeadlines, type BodyAwaitingEngine } from './request-body-deadlines.js';

/** How long a response may wait for a client's flow-control window before its stream is cancelled. */
const FLOW_CONTROL_TIMEOUT_MS = 60_000;

/** How the body-deadline watch reads the codec's streams. */
const CODEC_STREAMS: BodyAwaitingEngine<Http2CodecStream> = {
  bodyDone: (stream) => stream.isClosed || stream.remoteEnded,
  remoteAddress: (stream) => stream.connection.socket.remoteAddress,
};

/**
 * The HTTP/2 side of a listener on Switchyard's own server codec (proxy.engine.http2Listener
 * "switchyard"): each connection the listener hands over (by ALPN on TLS, by the preface on
 * cleartext) is an Http2ServerConnection on the socket itself, each request an
 * Http2CodecStream handed to the same handler as the HTTP/1.1 codec's streams. The limits are
 * those of Http2Sessions (node:http2's server): limits.http2, the header limits,
 * keepAliveTimeout for idle and stalled connections, and limits.requestTimeout on each request
 * whose body is still arriving (408, or the stream cancelled once the response started; gRPC
 * streams exempt). The connection enforces the protocol and flood limits itself and reports
 * them here to be logged.
 */
export class Http2CodecSessions implements Http2ServerOwner {
  /** No node:http2 server: the codec serves the connections itself. */
  readonly server = null;
  private readonly connections = new Set<Http2ServerConnection>();
  private readonly settings: Http2ServerSettings;
  private draining = false;
  /** limits.requestTimeout for request bodies (gRPC streams exempt). */
  private readonly bodyDeadlines: RequestBodyDeadlines<Http2CodecStream>;

  constructor(
    private readonly limits: Config['limits'],
    private readonly onRequest: Http2StreamHandler,
    private readonly logger: Logger,
    private readonly listenerName: string,
  ) {
    const h2 = limits.http2;
    this.settings = {
      maxConcurrentStreams: h2.maxConcurrentStreams,
      initialWindowSize: h2.initialWindowSize,
      maxHeaderListSize: limits.maxHeaderSize,
      // Pseudo-header fields count too; more than the handler's limit, so it answers 431 to a
      // few too many and the codec resets only a list far over it (as node:http2's maxHeaderListPairs).
      maxHeaderFields: limits.maxHeaderCount + 5,
      maxQueuedBytes: h2.maxSessionMemory,
      keepAliveTimeout: limits.keepAliveTimeout,
      prematureResetLimit: h2.prematureResetLimit,
      // nginx's send_timeout has the same default.
      flowControlTimeout: FLOW_CONTROL_TIMEOUT_MS,
    };
    this.bodyDeadlines = new RequestBodyDeadlines(limits.requestTimeout, CODEC_STREAMS, logger, listenerName);
  }

  /** Serves a connection whose protocol is HTTP/2 (by ALPN or preface). */
  readonly accept = (socket: Duplex): void => {
    if (this.draining || socket.destroyed) {
      // Draining, or the client left while its protocol was being told (its 'close' has passed).
      socket.destroy();
      return;
    }
    this.connections.add(new Http2ServerConnection(socket as Socket, this.settings, this));
  };

  /** HTTP/2 connections now open. */
  get open(): number {
    return this.connections.size;
  }

  /** Graceful close: GOAWAY on every connection; each closes once its open streams are done. */
  drain(): void {
    this.draining = true;
    for (const connection of this.connections) connection.goaway();
  }

  onStream(stream: Http2CodecStream): void {
    if (this.limits.requestTimeout > 0 && stream.hasBody && !isGrpcRequest(stream)) this.bodyDeadlines.watch(stream);
    this.onRequest(stream);
  }

  connectionClosed(connection: Http2ServerConnection): void {
    this.connections.delete(connection);
  }

  connectionFailed(connection: Http2ServerConnection, code: number, message: string): void {
    this.logger.debug({ listener: this.listenerName, remoteAddress: connection.socket.remoteAddress, errorCode: errorCodeName(code), error: message }, 'HTTP/2 connection failed');
  }

  streamFailed(connection: Http2ServerConnection, code: number, message: string): void {
    this.logger.debug({ listener: this.listenerName, remoteAddress: connection.socket.remoteAddress, errorCode: errorCodeName(code), error: message }, 'HTTP/2 stream failed');
  }

  rapidReset(connection: Http2ServerConnection): void {
    this.logger.warn(
      { listener: this.listenerName, remoteAddress: connection.socket.remoteAddress, streams: connection.total, cancelled: connection.premature, limit: this.limits.http2.prematureResetLimit },
      'HTTP/2 connection closed: its client cancels most of its streams (rapid reset); see limits.http2.prematureResetLimit',
    );
  }

  stalled(connection: Http2ServerConnection): void {
    this.logger.debug(
      { listener: this.listenerName, remoteAddress: connection.socket.remoteAddress, streams: connection.open, timeoutMs: this.limits.keepAliveTimeout },
      'HTTP/2 connection closed: nothing could be sent to its client for limits.keepAliveTimeout',
    );
  }
}

import type { IncomingHttpHeaders } from 'node:http';
import { constants, type IncomingHttpHeaders as Http2Headers, type OutgoingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import type { BodySink, ServerStream, StreamObserver } from './server-stream.js';

const { NGHTTP2_CANCEL, NGHTTP2_INTERNAL_ERROR, NGHTTP2_NO_ERROR } = constants;

/** What the proxy reads of an HTTP/2 stream's connection, whichever engine serves it (one object per connection). */
export interface Http2ConnectionInfo {
  /** The connection's client address (PROXY protocol or TCP peer), read once per connection. */
  readonly clientAddress: string;
  /** "TLSv1.3" on TLS, undefined on cleartext. */
  readonly tlsVersion: string | undefined;
  /** What RequestHead.socket gives: the peer address, and `encrypted` on TLS. */
  readonly socket: { readonly remoteAddress?: string | undefined; readonly encrypted?: boolean };
}

/** The node:http2 session a stream belongs to, as its listener keeps it. */
export interface Http2StreamConnection extends Http2ConnectionInfo {
  /** A stream of the connection was cut before its response ended (node:http2's 'aborted'). */
  streamAborted(): void;
  /** A stream of the connection closed. */
  streamClosed(): void;
  /** A stream of the connection failed (a protocol error nghttp2 found on it); its 'close' follows. */
  streamFailed(err: Error & { code?: string }): void;
}

/** The request pseudo-header fields (RFC 9113 §8.3.1, and :protocol of RFC 8441). */
const REQUEST_PSEUDO = [':method', ':path', ':scheme', ':authority', ':protocol'] as const;

/** Response options by case, shared: none is made per response. */
const RESPOND_OPEN: { waitForTrailers: boolean } = { waitForTrailers: true };
const RESPOND_BODY = {};
const RESPOND_ENDED = { endStream: true };
const NO_TRAILERS: OutgoingHttpHeaders = {};

const kServerStream = Symbol('switchyard.http2ServerStream');
type CodecStream = ServerHttp2Stream & { [kServerStream]?: Http2ServerStream };

/**
 * One HTTP/2 request/response as a ServerStream, on node:http2's stream API (no compatibility
 * request and response objects): the request head is the stream's header object and raw list,
 * the body is the stream's data with its flow control, the response is `stream.respond` and
 * the stream's writes.
 *
 * - Head: `method` and `url` from :method and :path; `headers` is the stream's lower-case
 *   object with the pseudo-header fields removed and `host` set from :authority when the client
 *   sent no Host, so everything above reads the host one way whatever the protocol;
 *   `rawHeaders` is the list as received, pseudo-header fields first (validation and the
 *   upstream header rewrite read :authority there).
 * - Body: paused and resumed through the stream (a paused stream stops sending WINDOW_UPDATE,
 *   so the client stops); trailers come with its end.
 * - Response: `writeHead` sends HEADERS at once (a response that streams must reach the client
 *   without waiting for its body) and, unless told none will come, leaves the stream open for
 *   trailers, which end() sends (or an empty end of stream without them). `respond` sends a whole response whose body is
 *   known, and a bodiless one as a single HEADERS frame that ends the stream (gRPC's
 *   trailers-only form). 1xx go out as additional HEADERS. No reason phrase, no
 *   connection-specific fields (the header rewrite removed them; node:http2 refuses them).
 * - Backpressure: write() returns the stream's answer; 'drain' then tells the observer.
 * - A stream closed before its response ended (client RST_STREAM, connection lost) tells the
 *   observer once (onAborted); abort() resets it with INTERNAL_ERROR, as a cut response.
 *
 * node:http2 calls its listeners with the stream as `this`; they reach this object through a
 * symbol on the stream, so no closure is made per request.
 */
export class Http2ServerStream implements ServerStream {
  readonly protocol = 'HTTP/2';
  readonly httpVersionMajor = 2;
  readonly httpVersionMinor = 0;
  readonly takesTrailers = true;
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly hasBody: boolean;
  bodyComplete: boolean;
  headersSent = false;
  statusCode = 0;
  /** The response ended or was cut, or the stream closed. */
  destroyed = false;
  private observer: StreamObserver | null = null;
  private sink: BodySink | null = null;
  private trailers: string[] | null = null;
  /** Reset the stream (NO_ERROR) once the response is out if the body was not received whole. */
  private closeAfter = false;
  /** The head went out with room for trailers: end() must send them (or an empty end of stream). */
  private trailersOpen = false;
  private drainListened = false;
  /** Trailers end() was given, sent on 'wantTrailers'. */
  private trailerFields: OutgoingHttpHeaders | null = null;

  constructor(
    readonly stream: ServerHttp2Stream,
    headers: Http2Headers,
    readonly rawHeaders: string[],
    readonly connection: Http2StreamConnection,
  ) {
    this.method = headers[':method'] ?? '';
    this.url = headers[':path'] ?? '';
    const authority = headers[':authority'];
    for (let i = 0; i < REQUEST_PSEUDO.length; i++) delete headers[REQUEST_PSEUDO[i]!];
    if (authority !== undefined && headers.host === undefined) headers.host = authority;
    this.headers = headers as IncomingHttpHeaders;
    this.hasBody = !stream.endAfterHeaders;
    this.bodyComplete = !this.hasBody;
    (stream as CodecStream)[kServerStream] = this;
    stream.on('aborted', onStreamAborted);
    stream.on('close', onStreamClose);
    stream.on('error', onStreamError);
  }

  /**
   * Nothing more can be written: the response ended or was cut, or node:http2 closed the stream
   * (a reset whose 'aborted' has not reached this object yet).
   */
  private get gone(): boolean {
    return this.destroyed || this.stream.closed || this.stream.destroyed;
  }

  get socket(): Http2StreamConnection['socket'] {
    return this.connection.socket;
  }

  observe(observer: StreamObserver): void {
    this.observer = observer;
  }

  onceDone(listener: () => void): void {
    if (this.stream.closed && this.stream.destroyed) listener();
    else this.stream.once('close', listener);
  }

  readBody(sink: BodySink): void {
    if (this.bodyComplete || this.sink !== null) return;
    this.sink = sink;
    const stream = this.stream;
    stream.on('trailers', onStreamTrailers);
    stream.on('end', onStreamEnd);
    stream.on('data', onStreamData);
  }

  pauseBody(): void {
    if (this.sink !== null) this.stream.pause();
  }

  resumeBody(): void {
    if (this.sink !== null) this.stream.resume();
  }

  writeInformational(statusCode: number, headers: readonly string[]): void {
    if (this.headersSent || this.gone) return;
    // Throws on a field node:http2 refuses; the caller decides what that means.
    this.stream.additionalHeaders(fieldsOf(statusCode, headers));
  }

  writeHead(statusCode: number, headers: readonly string[], _reason?: string, trailers = true): void {
    if (this.headersSent) throw new Error('the response head was already sent');
    if (this.gone) return;
    // Throws (before anything is sent) on a field node:http2 refuses.
    this.stream.respond(fieldsOf(statusCode, headers), trailers ? RESPOND_OPEN : RESPOND_BODY);
    this.headersSent = true;
    this.statusCode = statusCode;
    if (!trailers) return;
    this.trailersOpen = true;
    this.stream.on('wantTrailers', onStreamWantTrailers);
  }

  /**
   * A whole response in one call, when its body is known: HEADERS (ending the stream when
   * there is no body), then the body. Nothing is kept open for trailers.
   */
  respond(statusCode: number, headers: readonly string[], body?: string | Buffer | null): void {
    if (this.headersSent) throw new Error('the response head was already sent');
    if (this.gone) return;
    const empty = body == null || body.length === 0;
    this.stream.respond(fieldsOf(statusCode, headers), empty ? RESPOND_ENDED : RESPOND_BODY);
    this.headersSent = true;
    this.statusCode = statusCode;
    if (empty) {
      this.destroyed = true;
      this.discardUnread();
      return;
    }
    this.stream.end(body);
    this.ended();
  }

  write(chunk: Buffer): boolean {
    if (this.gone) return false;
    if (chunk.length === 0) return true;
    // nghttp2 sends DATA frames from the chunk itself, later (flow control, the session's
    // writes): a lent chunk (read-lease.ts) is never given back, so its memory stays this
    // stream's for as long as the chunk is queued.
    if (this.stream.write(chunk)) return true;
    if (!this.drainListened) {
      this.drainListened = true;
      this.stream.on('drain', onStreamDrain);
    }
    return false;
  }

  end(chunk?: Buffer | string | null, trailers?: readonly string[] | null): void {
    if (this.gone) return;
    const stream = this.stream;
    // Sent on the stream's 'wantTrailers', after the last DATA frame (when the head left room for them).
    if (this.trailersOpen && trailers != null && trailers.length > 0) addFields((this.trailerFields = {}), trailers);
    if (chunk != null && chunk.length > 0) stream.end(chunk);
    else stream.end();
    this.ended();
  }

  closeAfterResponse(): void {
    this.closeAfter = true;
  }

  abort(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.sink = null;
    this.stream.close(NGHTTP2_INTERNAL_ERROR);
  }

  /**
   * The request body did not arrive whole in time (limits.requestTimeout): nothing more of it,
   * and no end of it, reaches the upstream (which would take a truncated body as complete). The
   * client gets `statusCode` and the stream is reset once it is out (NO_ERROR: the client stops
   * sending, RFC 9113 §8.1), or, when the response had started, the stream is cancelled. The
   * observer is told after, so that the exchange cancels its upstream request and records the
   * answer the client got.
   */
  timedOut(statusCode: number, headers: readonly string[]): void {
    if (this.destroyed) return;
    this.sink = null;
    if (this.headersSent) {
      this.destroyed = true;
      this.stream.close(NGHTTP2_CANCEL);
    } else {
      this.closeAfter = true;
      this.respond(statusCode, headers);
      // The stalled body must stop: reset after the answer. Here the stream has been open for
      // limits.requestTimeout, and the answer then the reset reach the client on Node 20, 22
      // and 24 (test/integration/http2/h2-request-timeout.test.ts); discardUnread says why a
      // reset right after a bodiless answer is avoided elsewhere.
      this.closeIfUnread();
    }
    this.observer?.onAborted();
  }

  /** The response is out (or cut): the stream takes no more of it. */
  private ended(): void {
    this.destroyed = true;
    // With trailers to send, the reset waits for them (sendTrailers).
    if (!this.trailersOpen) this.closeIfUnread();
  }

  /** After a response that refused the body: the client stops sending (RST_STREAM NO_ERROR, RFC 9113 §8.1). */
  private closeIfUnread(): void {
    if (!this.closeAfter || this.bodyComplete || this.stream.destroyed) return;
    this.sink = null;
    // The client already ended its side: the stream closes with the response, nothing to stop.
    if (this.stream.state.remoteClose === 1) return;
    this.stream.close(NGHTTP2_NO_ERROR);
  }

  /**
   * After a bodiless response that ended the stream (a gRPC trailers-only answer): a request
   * body still arriving is read and dropped rather than reset. A RST_STREAM submitted right
   * after HEADERS with END_STREAM can overtake them (node:http2 on Node 22 and later drops the
   * queued HEADERS: the client sees only the reset, which gRPC clients report as INTERNAL);
   * with a body, the reset waits for the body's last frame (closeIfUnread), which is safe.
   */
  private discardUnread(): void {
    if (!this.closeAfter || this.bodyComplete || this.stream.destroyed) return;
    this.sink = null;
    this.stream.resume();
  }

  /** The last DATA frame is out: the trailers end the stream (an empty set: an empty end of stream). */
  sendTrailers(): void {
    const stream = this.stream;
    if (stream.destroyed || stream.closed) return;
    stream.sendTrailers(this.trailerFields ?? NO_TRAILERS);
    this.trailerFields = null;
    this.closeIfUnread();
  }

  // From the stream's listeners.

  received(chunk: Buffer): void {
    const sink = this.sink;
    if (sink !== null && !sink.onBodyChunk(chunk)) this.stream.pause();
  }

  receivedTrailers(raw: string[]): void {
    this.trailers = raw;
  }

  receivedEnd(): void {
    this.bodyComplete = true;
    this.sink?.onBodyEnd(this.trailers);
  }

  drained(): void {
    if (!this.destroyed) this.observer?.onDrain();
  }

  cut(): void {
    this.connection.streamAborted();
    this.lost();
  }

  closed(): void {
    this.connection.streamClosed();
    this.lost();
  }

  /** The stream is gone: an exchange whose response had not ended hears of it once. */
  private lost(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.sink = null;
    this.observer?.onAborted();
  }
}

/** The response header object of a flat [name, value, ...] list: lower-case names, repeats as arrays. */
function fieldsOf(statusCode: number, headers: readonly string[]): OutgoingHttpHeaders {
  const fields: OutgoingHttpHeaders = { ':status': statusCode };
  addFields(fields, headers);
  return fields;
}

function addFields(fields: OutgoingHttpHeaders, headers: readonly string[]): void {
  for (let i = 0; i < headers.length; i += 2) {
    const name = lowerCase(headers[i]!);
    const value = headers[i + 1]!;
    const seen = fields[name];
    if (seen === undefined) fields[name] = value;
    else if (Array.isArray(seen)) seen.push(value);
    else fields[name] = [seen as string, value];
  }
}

function lowerCase(name: string): string {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) return name.toLowerCase();
  }
  return name;
}

// Stream listeners shared by every stream (no closure per request): the stream is `this`.
function onStreamData(this: CodecStream, chunk: Buffer): void {
  this[kServerStream]?.received(chunk);
}

function onStreamTrailers(this: CodecStream, _fields: unknown, _flags: number, raw: string[]): void {
  this[kServerStream]?.receivedTrailers(raw);
}

function onStreamEnd(this: CodecStream): void {
  this[kServerStream]?.receivedEnd();
}

function onStreamWantTrailers(this: CodecStream): void {
  this[kServerStream]?.sendTrailers();
}

function onStreamDrain(this: CodecStream): void {
  this[kServerStream]?.drained();
}

function onStreamAborted(this: CodecStream): void {
  this[kServerStream]?.cut();
}

function onStreamError(this: CodecStream, err: Error & { code?: string }): void {
  this[kServerStream]?.connection.streamFailed(err);
}

function onStreamClose(this: CodecStream): void {
  this[kServerStream]?.closed();
}

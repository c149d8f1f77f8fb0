import type { IncomingHttpHeaders } from 'node:http';
import { headerObject, lowerCaseName } from './header-object.js';
import { ErrorCode, FRAME_HEADER_LENGTH } from './http2/frame-types.js';
import { CONNECTION_SPECIFIC } from './http2/field-validation.js';
import { fieldBound, writeField, writeStatus } from './http2/hpack-encoder.js';
import type { RequestFields } from './http2/request-fields.js';
import type { Http2ServerConnection } from './http2-server-connection.js';
import type { BodySink, ServerStream, StreamObserver } from './server-stream.js';

/** Response heads and trailers are encoded here (grown when one does not fit), then copied into their frame. */
let headScratch = Buffer.allocUnsafe(16_384);
const EMPTY = Buffer.alloc(0);

/**
 * Encodes `:status` (when `status` > 0) and the fields [name, value, ...] into headScratch after
 * FRAME_HEADER_LENGTH bytes of room; returns the end offset. Names are lower-cased;
 * connection-specific fields, which HTTP/2 forbids (RFC 9113 §8.2.2), are left out (the
 * proxy's header rewrite removed them already). Values are not checked again: they come from
 * an upstream codec that checked them, or from the proxy itself.
 */
function encodeHead(status: number, fields: readonly string[]): number {
  let bound = FRAME_HEADER_LENGTH + 16;
  for (let i = 0; i < fields.length; i += 2) bound += fieldBound(fields[i]!, fields[i + 1]!);
  if (headScratch.length < bound) headScratch = Buffer.allocUnsafe(Math.max(bound, 2 * headScratch.length));
  const buf = headScratch;
  let pos = FRAME_HEADER_LENGTH;
  if (status > 0) pos = writeStatus(buf, pos, status);
  for (let i = 0; i < fields.length; i += 2) {
    const name = lowerCaseName(fields[i]!);
    if (CONNECTION_SPECIFIC.has(name)) continue;
    pos = writeField(buf, pos, name, fields[i + 1]!);
  }
  return pos;
}

/**
 * One request/response on an Http2ServerConnection as a ServerStream, as Http2ServerStream is
 * on node:http2 (the proxy cannot tell them apart):
 * - Head: `method` and `url` from :method and :path; `headers` the regular fields with
 *   node:http's rules for repeats (header-object.ts) and `host` from :authority when the client
 *   sent no Host; `rawHeaders` the list as received, pseudo-header fields first.
 * - Body: DATA frames are handed to the sink as they come (views of the socket's reads); until
 *   readBody, and while paused, they wait here. A stream's window is given back as the sink
 *   takes its data, and withheld while it is paused, so the client stops. Trailers come with
 *   the end.
 * - Response: writeHead sends HEADERS at once; DATA go out as the client's windows (stream and
 *   connection) allow and wait here otherwise, write() returning false until they are out and
 *   the socket has room (then onDrain). end() ends the stream with the last DATA frame, or with
 *   trailers when the head left room for them. respond() sends a bodiless answer as one HEADERS
 *   frame that ends the stream. 1xx are HEADERS too.
 * - A stream reset by the client, or a lost connection, tells the observer once (onAborted);
 *   abort() resets it with INTERNAL_ERROR. A response that refused the body resets the stream
 *   with NO_ERROR once it is out (RFC 9113 §8.1), so the client stops sending.
 */
export class Http2CodecStream implements ServerStream {
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
  /** No more response bytes can be written: the response ended or was cut, or the stream closed. */
  destroyed = false;

  // Protocol state, kept by the connection.
  /** What we may still send on the stream. */
  sendWindow: number;
  /** What the client may still send on the stream. */
  receiveWindow: number;
  /** Body bytes the proxy took and that were not yet given back by WINDOW_UPDATE. */
  unreturned = 0;
  /** END_STREAM received (the whole body arrived, read or not). */
  remoteEnded: boolean;
  /** The response's END_STREAM went out, or the stream was reset by us. */
  responseEnded = false;
  /** Content-Length, checked against the DATA received (RFC 9113 §8.1.1), or -1. */
  readonly expectedLength: number;
  receivedLength = 0;
  /** The stream left the connection (closed or reset). */
  isClosed = false;
  /** When the stream started waiting for the client's window (0: not waiting). */
  blockedSince = 0;

  private observer: StreamObserver | null = null;
  private sink: BodySink | null = null;
  private paused = false;
  /** Body chunks received and not yet handed to the sink; window withheld for chunks it took while pausing. */
  private held: Buffer[] | null = null;
  private withheld = 0;
  private bodyEndPending = false;
  private trailers: string[] | null = null;
  /** Reset the stream (NO_ERROR) once the response is out if the body was not received whole. */
  private closeAfter = false;
  /** The head left room for trailers. */
  private trailersOpen = false;
  /** Response data waiting for window or socket room, and whether end() came after it. */
  private queue: Buffer[] | null = null;
  private endQueued = false;
  private endTrailers: readonly string[] | null = null;
  /** write() returned false: onDrain once everything is out. */
  private drainWanted = false;
  private doneListener: (() => void) | null = null;
  private moreDoneListeners: (() => void)[] | null = null;

  constructor(
    readonly connection: Http2ServerConnection,
    readonly id: number,
    request: RequestFields,
    readonly rawHeaders: string[],
    endStream: boolean,
  ) {
    this.method = request.method;
    this.url = request.path;
    const headers = headerObject(rawHeaders, 2 * request.pseudoCount);
    if (request.authority !== undefined && headers.host === undefined) headers.host = request.authority;
    this.headers = headers;
    this.hasBody = !endStream;
    this.bodyComplete = endStream;
    this.remoteEnded = endStream;
    this.expectedLength = request.contentLength;
    this.sendWindow = connection.peerInitialWindow;
    this.receiveWindow = connection.settings.initialWindowSize;
  }

  get socket(): Http2ServerConnection['socket'] {
    return this.connection.socket;
  }

  observe(observer: StreamObserver): void {
    this.observer = observer;
  }

  onceDone(listener: () => void): void {
    if (this.isClosed) listener();
    else if (this.doneListener === null) this.doneListener = listener;
    else (this.moreDoneListeners ??= []).push(listener);
  }

  readBody(sink: BodySink): void {
    if (this.bodyComplete || this.sink !== null || this.isClosed) return;
    this.sink = sink;
    this.deliverHeld();
  }

  pauseBody(): void {
    if (this.sink !== null) this.paused = true;
  }

  resumeBody(): void {
    if (this.sink === null || !this.paused) return;
    this.paused = false;
    if (this.withheld > 0) {
      const bytes = this.withheld;
      this.withheld = 0;
      this.connection.returnStreamWindow(this, bytes);
    }
    this.deliverHeld();
  }

  writeInformational(statusCode: number, headers: readonly string[]): void {
    if (this.headersSent || this.destroyed) return;
    this.connection.writeHeaders(this, headScratch, encodeHead(statusCode, headers), false);
  }

  writeHead(statusCode: number, headers: readonly string[], _reason?: string, trailers = true): void {
    if (this.headersSent) throw new Error('the response head was already sent');
    if (this.destroyed) return;
    const end = encodeHead(statusCode, headers);
    this.connection.writeHeaders(this, headScratch, end, false);
    this.headersSent = true;
    this.statusCode = statusCode;
    this.trailersOpen = trailers;
  }

  respond(statusCode: number, headers: readonly string[], body?: string | Buffer | null): void {
    if (this.headersSent) throw new Error('the response head was already sent');
    if (this.destroyed) return;
    const empty = body == null || body.length === 0;
    this.connection.writeHeaders(this, headScratch, encodeHead(statusCode, headers), empty);
    this.headersSent = true;
    this.statusCode = statusCode;
    this.destroyed = true;
    if (empty) {
      this.responseFinished();
      return;
    }
    this.finishSend(typeof body === 'string' ? Buffer.from(body) : body!);
  }

  write(chunk: Buffer): boolean {
    if (this.destroyed) return false;
    if (chunk.length === 0) return true;
    if (this.queue !== null) {
      this.queue.push(chunk);
      this.drainWanted = true;
      return false;
    }
    const offset = this.connection.sendData(this, chunk, 0, false);
    if (offset < chunk.length) {
      this.queue = [offset === 0 ? chunk : chunk.subarray(offset)];
      this.drainWanted = true;
      return false;
    }
    if (this.connection.waitForDrain(this)) {
      this.drainWanted = true;
      return false;
    }
    return true;
  }

  end(chunk?: Buffer | string | null, trailers?: readonly string[] | null): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.trailersOpen && trailers != null && trailers.length > 0) this.endTrailers = trailers;
    const last = chunk == null || chunk.length === 0 ? EMPTY : typeof chunk === 'string' ? Buffer.from(chunk) : chunk;
    if (this.queue !== null) {
      if (last.length > 0) this.queue.push(last);
      this.endQueued = true;
      return;
    }
    this.finishSend(last);
  }

  closeAfterResponse(): void {
    this.closeAfter = true;
    if (this.responseEnded && !this.remoteEnded) this.connection.resetStream(this, ErrorCode.NO_ERROR);
  }

  abort(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    this.sink = null;
    this.held = null;
    this.responseEnded = true;
    this.connection.resetStream(this, ErrorCode.INTERNAL_ERROR);
  }

  /**
   * The request body did not arrive whole in time (limits.requestTimeout): nothing more of it
   * reaches the upstream. The client gets `statusCode` and the stream is reset once it is out
   * (NO_ERROR), or, when the response had started, the stream is cancelled. The exchange hears
   * of it as an abort.
   */
  timedOut(statusCode: number, headers: readonly string[]): void {
    if (this.destroyed) return;
    this.sink = null;
    this.held = null;
    if (this.headersSent) {
      this.destroyed = true;
      this.responseEnded = true;
      this.connection.resetStream(this, ErrorCode.CANCEL);
    } else {
      this.closeAfter = true;
      this.respond(statusCode, headers);
    }
    this.observer?.onAborted();
  }

  // ---- from the connection ----

  /** Body data (padding removed); `endStream`: the last of it. */
  received(chunk: Buffer, endStream: boolean): void {
    if (chunk.length > 0) {
      if (this.sink !== null && !this.paused && this.held === null) this.deliver(chunk);
      else (this.held ??= []).push(chunk);
    }
    if (endStream) this.bodyEnded();
  }

  /** The request's trailers (they end the stream). */
  receivedTrailers(fields: string[]): void {
    this.trailers = fields;
    this.bodyEnded();
  }

  /** The stream's window, or the connection's, grew: waiting data goes on. */
  windowOpened(): void {
    this.blockedSince = 0;
    if (this.queue !== null) this.flushQueue();
  }

  /** The socket took what it had: a writer waiting for room goes on. */
  socketDrained(): void {
    if (this.queue !== null) this.flushQueue();
    else if (this.drainWanted && !this.isClosed) {
      this.drainWanted = false;
      this.observer?.onDrain();
    }
  }

  /** The stream left the connection (closed on both sides, reset either way, or the connection is gone). */
  closed(): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.queue = null;
    this.held = null;
    if (!this.destroyed) {
      this.destroyed = true;
      this.sink = null;
      this.observer?.onAborted();
    }
    this.sink = null;
    const first = this.doneListener;
    this.doneListener = null;
    first?.();
    const more = this.moreDoneListeners;
    this.moreDoneListeners = null;
    if (more !== null) for (const listener of more) listener();
  }

  // ---- body ----

  private deliver(chunk: Buffer): void {
    if (this.sink!.onBodyChunk(chunk)) this.connection.returnStreamWindow(this, chunk.length);
    else {
      this.paused = true;
      this.withheld += chunk.length;
    }
  }

  private deliverHeld(): void {
    const held = this.held;
    if (held !== null) {
      while (held.length > 0 && !this.paused && this.sink !== null) this.deliver(held.shift()!);
      if (held.length > 0) return;
      this.held = null;
    }
    if (this.bodyEndPending && !this.paused && this.sink !== null) {
      this.bodyEndPending = false;
      this.bodyComplete = true;
      this.sink.onBodyEnd(this.trailers);
    }
  }

  private bodyEnded(): void {
    this.remoteEnded = true;
    this.bodyEndPending = true;
    if (this.sink !== null && !this.paused) this.deliverHeld();
    // Both sides ended: the stream closes (what of the body nobody took is dropped).
    if (this.responseEnded) this.connection.forget(this);
  }

  // ---- response ----

  /** Sends the response's last chunk, then trailers or END_STREAM, as the windows allow. */
  private finishSend(last: Buffer): void {
    const trailers = this.endTrailers;
    const offset = this.connection.sendData(this, last, 0, trailers === null);
    if (offset < last.length) {
      this.queue = [offset === 0 ? last : last.subarray(offset)];
      this.endQueued = true;
      return;
    }
    if (trailers !== null) this.connection.writeHeaders(this, headScratch, encodeHead(0, trailers), true);
    this.responseFinished();
  }

  private flushQueue(): void {
    const queue = this.queue!;
    const connection = this.connection;
    while (queue.length > 0) {
      const chunk = queue[0]!;
      const last = queue.length === 1 && this.endQueued && this.endTrailers === null;
      const offset = connection.sendData(this, chunk, 0, last);
      if (offset < chunk.length) {
        if (offset > 0) queue[0] = chunk.subarray(offset);
        return;
      }
      queue.shift();
      if (last) {
        this.queue = null;
        this.responseFinished();
        return;
      }
    }
    this.queue = null;
    if (this.endQueued) {
      this.endQueued = false;
      this.finishSend(EMPTY);
      return;
    }
    if (this.drainWanted && !connection.waitForDrain(this)) {
      this.drainWanted = false;
      this.observer?.onDrain();
    }
  }

  /** The response's END_STREAM is out: the stream closes, or waits for the body, or stops it. */
  private responseFinished(): void {
    this.responseEnded = true;
    this.drainWanted = false;
    if (this.remoteEnded) this.connection.forget(this);
    else if (this.closeAfter) this.connection.resetStream(this, ErrorCode.NO_ERROR);
  }
}

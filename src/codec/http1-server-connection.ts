import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { fieldNamed } from './field-named.js';
import { headerObject } from './header-object.js';
import { httpDate } from './http-date.js';
import { HeadersResult, Http1Parser, METHOD_NAMES, ParseError, ParserKind, type ParserHandler } from './llhttp.js';
import { readLease } from './read-lease.js';
import { LARGEST_APPEND, MOST_PENDING, responseWriteArea, SMALL_CHUNK, type AreaWriter, type ResponseWriteArea } from './response-write-area.js';
import type { BodySink, ServerStream, StreamObserver } from './server-stream.js';

/** Limits and timeouts of a client connection (the listener's `limits`). */
export interface Http1ServerSettings {
  /** Bytes of request line and header fields together (431 past it). */
  readonly maxHeaderSize: number;
  /** From a request's first byte (or the connection's start) to the end of its head (408 past it). */
  readonly headersTimeout: number;
  /** From a request's first byte to the end of its body; 0 = none (408 past it). */
  readonly requestTimeout: number;
  /** Idle time allowed between two requests on a kept-alive connection. */
  readonly keepAliveTimeout: number;
}

/** What a connection hands its streams and its upgrades to. */
export interface Http1StreamHandler {
  /** A request head was read: answer it on `stream` (the body follows through stream.readBody). */
  onStream(stream: ServerStream): void;
  /**
   * A request asking to switch protocols (Upgrade) or CONNECT: the connection leaves this codec.
   * `bytes` are what was read of it from that request's first byte on, to be parsed again.
   */
  onUpgrade(socket: Socket, bytes: Buffer[]): void;
}

const enum Phase {
  /** Between requests (or before the first): no bytes of a request yet. */
  IDLE,
  HEAD,
  BODY,
  /** The request was read whole; its response is not finished. */
  RESPONDING,
  CLOSED,
}

/** Why reading stopped: each reason is cleared by its own event. */
const PAUSE_BODY = 1;
const PAUSE_RESPONSE = 2;

const enum Framing {
  NONE,
  LENGTH,
  CHUNKED,
  /** Until the connection closes (HTTP/1.0 without Content-Length). */
  CLOSE,
}

const CRLF = '\r\n';
const CHUNK_END = Buffer.from('\r\n', 'latin1');
const LAST_CHUNK = '0\r\n\r\n';
const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
/** An empty input for llhttp, to carry on after a pause. */
const EMPTY = Buffer.alloc(0);

/** A response's status line: the upstream's reason phrase, else the standard one. */
function statusLine(statusCode: number, reason: string | undefined): string {
  return `HTTP/1.1 ${statusCode} ${reason ?? STATUS_CODES[statusCode] ?? 'Unknown'}\r\n`;
}
/** node:http's test for an Expect field that asks for 100 Continue (it may be one of a list). */
const CONTINUE_EXPECTATION = /(?:^|\W)100-continue(?:$|\W)/i;
const EXPECTATION_FAILED: readonly string[] = ['content-length', '0'];

/** Raw answers for requests the codec refuses before the proxy sees them; the connection closes after each. */
const REFUSALS = {
  bad_request: rawRefusal('400 Bad Request', 'bad_request'),
  header_fields_too_large: rawRefusal('431 Request Header Fields Too Large', 'header_fields_too_large'),
  request_timeout: rawRefusal('408 Request Timeout', 'request_timeout'),
} as const;

function rawRefusal(status: string, error: string): string {
  return `HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\nx-switchyard-error: ${error}\r\n\r\n`;
}

/**
 * The HTTP/1.1 codec for one client connection: llhttp (request mode, strict) turns bytes into
 * requests, each handed to the proxy as a ServerStream; responses are framed and written here.
 * It does what node:http's server did for us, with none of its per-request streams:
 *
 * - Keep-alive per RFC 9112 §9.3 (HTTP/1.1 unless "Connection: close"; HTTP/1.0 only with
 *   "Connection: keep-alive" and a response of known length), idle timeout between requests.
 * - Pipelining: requests are answered in order, one at a time: parsing pauses at the end of a
 *   request until its response is finished, so a pipelined burst costs no memory beyond the
 *   socket's buffer, and a slow response holds back the ones after it (as HTTP/1.1 requires).
 * - Bodies with Content-Length or chunked, with trailers; the consumer's backpressure pauses
 *   the parser and the socket. `Expect: 100-continue` is answered when the body is first read,
 *   so a request refused without reading its body never invites it.
 * - Responses: the head is one write with Date, Connection and framing added (Content-Length
 *   kept, else chunked for HTTP/1.1 and close-delimited for HTTP/1.0; none for HEAD, 1xx, 204
 *   and 304). The head and body chunks up to 8 KiB are copied into the process's response write
 *   area (response-write-area.ts) and leave in one write of one buffer at end() or at the end of
 *   the tick; a larger chunk is written as it is, with what came before it in one writev
 *   (corked to the end of the tick).
 * - Limits: head size (431), headers and request timeouts (408), checked by the listener's
 *   ConnectionSweep rather than a timer per request.
 * - Half-close, as node:http without httpAllowHalfOpen: a client that ends its side aborts the
 *   request in progress (its upstream request is cancelled) and the connection closes.
 * - Upgrades and CONNECT leave the codec (Http1StreamHandler.onUpgrade) with the bytes read.
 */
export class Http1ServerConnection implements ParserHandler {
  private readonly parser: Http1Parser;
  private phase = Phase.IDLE;
  private pauses = 0;
  /** Bytes read but not parsed while paused. */
  private leftover: Buffer | null = null;
  private executing = false;
  /** The request being read or answered. */
  private stream: Http1Stream | null = null;
  /** The connection closes after the current response (Connection: close, refusal, drain, half-close). */
  private closing = false;
  /** The client ended its side. */
  private clientEnded = false;

  // Head of the request being parsed.
  private url = '';
  private raw: string[] = [];
  /** 1: the last header callback was a name, 2: a value, 0: none yet. */
  private lastPart = 0;
  private inTrailers = false;
  private trailers: string[] | null = null;
  /** Head bytes of this request in chunks before the current one, and where it starts in the current one. */
  private headBytesBefore = 0;
  private headStart = 0;
  /** Earlier chunks of this request's head (kept only while the head spans chunks, for an upgrade hand-off). */
  private headPieces: Buffer[] | null = null;

  /** When the current deadline passes (ms since epoch, 0 = none) and what answers it. */
  deadline = 0;
  private deadlineIsRequest = false;
  /** The request's whole-message deadline (requestTimeout), 0 = none. */
  private requestDeadline = 0;

  constructor(
    readonly socket: Socket,
    private readonly settings: Http1ServerSettings,
    private readonly handler: Http1StreamHandler,
    private readonly sweep: ConnectionSweep,
  ) {
    this.parser = new Http1Parser(ParserKind.REQUEST, this);
    socket.setNoDelay(true);
    socket.on('data', onSocketData);
    socket.on('end', onSocketEnd);
    socket.on('close', onSocketClose);
    socket.on('error', onSocketError);
    socket.on('drain', onSocketDrain);
    (socket as CodecSocket)[kConnection] = this;
    // A new connection must send its first head within headersTimeout, as node:http required.
    this.deadline = Date.now() + settings.headersTimeout;
    this.deadlineIsRequest = true;
    sweep.add(this);
  }

  /** No request in progress: closing now loses nothing. */
  get idle(): boolean {
    return this.phase === Phase.IDLE && this.leftover === null;
  }

  /** Bytes arrived from the client. */
  received(chunk: Buffer): void {
    if (this.leftover !== null) {
      this.leftover = Buffer.concat([this.leftover, chunk]);
    } else {
      this.leftover = chunk;
    }
    if (this.pauses !== 0 || this.executing) {
      // Held until the response (or the body's consumer) lets parsing go on; the client waits.
      this.socket.pause();
      return;
    }
    this.pump();
  }

  /**
   * Parses what was read while nothing pauses the connection. Each message ends with a parser
   * pause (see onMessageComplete), so every request starts at offset 0 of an execute() call and
   * a pipelined burst is parsed in this loop, not by recursion.
   */
  private pump(): void {
    // A parser paused by a callback goes on even with no bytes left: a pause on a body's last
    // bytes leaves on_message_complete to the next execute().
    while (this.pauses === 0 && (this.leftover !== null || this.parserPaused) && this.phase !== Phase.CLOSED) {
      const chunk = this.leftover ?? EMPTY;
      this.leftover = null;
      if (this.parserPaused) {
        this.parser.resume();
        this.parserPaused = false;
      }
      this.executing = true;
      this.headStart = 0;
      const result = this.parser.execute(chunk);
      this.executing = false;
      if (this.isClosed()) return;
      if (result === ParseError.OK) {
        if (this.phase === Phase.HEAD) this.keepHeadPiece(chunk);
      } else if (result === ParseError.PAUSED) {
        this.parserPaused = true;
        const at = this.parser.stoppedAt;
        if (at < chunk.length) this.leftover = this.leftover === null ? chunk.subarray(at) : Buffer.concat([chunk.subarray(at), this.leftover]);
      } else if (result === ParseError.PAUSED_UPGRADE || this.upgrading) {
        this.handOff(chunk);
        return;
      } else {
        this.refuse(this.overflowed ? 'header_fields_too_large' : 'bad_request');
        return;
      }
    }
    if (this.phase === Phase.CLOSED) return;
    if (this.pauses === 0) {
      this.socket.resume();
      if (this.clientEnded && this.phase === Phase.IDLE) this.close();
    } else if (this.leftover !== null) {
      this.socket.pause();
    }
  }

  /** A callback may have closed the connection during execute(). */
  private isClosed(): boolean {
    return this.phase === Phase.CLOSED;
  }

  private parserPaused = false;
  /** The request being parsed asks for another protocol: the connection is handed off after its head. */
  private upgrading = false;
  /** Whether the last parse failed on the head size limit. */
  private overflowed = false;

  private keepHeadPiece(chunk: Buffer): void {
    const piece = this.headStart === 0 ? chunk : chunk.subarray(this.headStart);
    this.headBytesBefore += piece.length;
    (this.headPieces ??= []).push(piece);
  }

  // llhttp callbacks.

  onMessageBegin(): number {
    if (this.phase === Phase.CLOSED) return -1;
    this.phase = Phase.HEAD;
    this.url = '';
    this.raw = [];
    this.lastPart = 0;
    this.inTrailers = false;
    this.trailers = null;
    this.headBytesBefore = 0;
    this.headPieces = null;
    const now = Date.now();
    this.deadline = now + this.settings.headersTimeout;
    this.deadlineIsRequest = true;
    this.requestDeadline = this.settings.requestTimeout > 0 ? now + this.settings.requestTimeout : 0;
    return 0;
  }

  onUrl(chunk: Buffer, start: number, end: number): number {
    this.url += chunk.toString('latin1', start, end);
    return this.checkHeadSize(end);
  }

  onStatus(): number {
    return -1; // responses never reach a request parser
  }

  onHeaderField(chunk: Buffer, start: number, end: number): number {
    const list = this.inTrailers ? (this.trailers ??= []) : this.raw;
    if (this.lastPart === 1) list[list.length - 1] += chunk.toString('latin1', start, end);
    else list.push(chunk.toString('latin1', start, end));
    this.lastPart = 1;
    return this.inTrailers ? this.checkTrailerSize(list) : this.checkHeadSize(end);
  }

  onHeaderValue(chunk: Buffer, start: number, end: number): number {
    const list = this.inTrailers ? this.trailers! : this.raw;
    if (this.lastPart === 2) list[list.length - 1] += chunk.toString('latin1', start, end);
    else list.push(chunk.toString('latin1', start, end));
    this.lastPart = 2;
    return this.inTrailers ? this.checkTrailerSize(list) : this.checkHeadSize(end);
  }

  private checkHeadSize(end: number): number {
    if (this.headBytesBefore + end - this.headStart <= this.settings.maxHeaderSize) return 0;
    this.overflowed = true;
    return -1;
  }

  private checkTrailerSize(list: string[]): number {
    let size = 0;
    for (let i = 0; i < list.length; i++) size += list[i]!.length + 2;
    if (size <= this.settings.maxHeaderSize) return 0;
    this.overflowed = true;
    return -1;
  }

  onHeadersComplete(_statusCode: number, upgrade: boolean, keepAlive: boolean): number {
    const raw = this.raw;
    trimValues(raw);
    this.lastPart = 0;
    this.inTrailers = true;
    this.headPieces = null;
    const method = METHOD_NAMES[this.parser.method];
    if (method === undefined) return -1;
    if (upgrade || method === 'CONNECT') {
      this.upgrading = true;
      return HeadersResult.UPGRADE;
    }
    const major = this.parser.httpMajor;
    const minor = this.parser.httpMinor;
    if (!keepAlive) this.closing = true;
    const headers = headerObject(raw);
    const hasBody = headers['transfer-encoding'] !== undefined || (headers['content-length'] !== undefined && headers['content-length'] !== '0');
    const stream = new Http1Stream(this, method, this.url, headers, raw, major, minor, hasBody);
    this.stream = stream;
    this.phase = hasBody ? Phase.BODY : Phase.RESPONDING;
    this.deadline = hasBody ? this.requestDeadline : 0;
    this.deadlineIsRequest = hasBody;
    if (minor === 1 && major === 1 && headers.expect !== undefined && !CONTINUE_EXPECTATION.test(headers.expect)) {
      // An expectation other than 100-continue cannot be met (node:http answers the same). The
      // body, if any, is not read: the connection closes after the answer.
      stream.writeHead(417, EXPECTATION_FAILED);
      stream.end();
      return HeadersResult.OK;
    }
    this.handler.onStream(stream);
    return HeadersResult.OK;
  }

  onBody(chunk: Buffer, start: number, end: number): number {
    const stream = this.stream;
    if (stream === null || stream.sink === null) {
      // Nobody reads this body (the request was refused): the connection closes after the response.
      this.closing = true;
      return 0;
    }
    if (stream.sink.onBodyChunk(chunk.subarray(start, end))) return 0;
    this.pauses |= PAUSE_BODY;
    return ParseError.PAUSED;
  }

  /**
   * Always pauses the parser: the next request starts at offset 0 of the next execute() (so
   * its head is measured and kept from there), and only once this one's response is done.
   */
  onMessageComplete(): number {
    if (this.upgrading) return 0; // llhttp stops with PAUSED_UPGRADE right after
    if (this.phase === Phase.CLOSED) return ParseError.PAUSED;
    const stream = this.stream;
    if (stream === null) return ParseError.PAUSED; // answered and done before its (empty) body ended
    const trailers = this.trailers;
    if (trailers !== null) trimValues(trailers);
    this.phase = Phase.RESPONDING;
    this.deadline = 0;
    stream.bodyComplete = true;
    stream.sink?.onBodyEnd(trailers);
    if (stream.finished) this.requestDone();
    else this.pauses |= PAUSE_RESPONSE;
    return ParseError.PAUSED;
  }

  /** The response and the request are both done: on to the next request, or close. */
  private requestDone(): void {
    this.stream = null;
    this.phase = Phase.IDLE;
    if (this.closing || this.clientEnded) {
      this.close();
      return;
    }
    this.deadline = Date.now() + this.settings.keepAliveTimeout;
    this.deadlineIsRequest = false;
  }

  // Response side (called by Http1Stream).

  /** The stream's response finished. */
  responseFinished(stream: Http1Stream): void {
    if (stream !== this.stream || this.phase === Phase.CLOSED) return;
    if (!stream.bodyComplete) {
      // The response ended before the request body: the rest is not read, and the head said close.
      this.close();
      return;
    }
    if (this.phase !== Phase.RESPONDING) return;
    this.requestDone();
    if ((this.pauses & PAUSE_RESPONSE) === 0) return;
    this.pauses &= ~PAUSE_RESPONSE;
    if (!this.executing) this.pump();
  }

  bodyResumed(): void {
    if ((this.pauses & PAUSE_BODY) === 0) return;
    this.pauses &= ~PAUSE_BODY;
    if (!this.executing) this.pump();
  }

  /** The body's consumer asks for no more chunks until bodyResumed(). */
  bodyPaused(): void {
    if (this.phase === Phase.BODY) this.pauses |= PAUSE_BODY;
  }

  /** Whether the response to `stream` may leave the connection open. */
  keepsAlive(stream: Http1Stream): boolean {
    return !this.closing && !this.clientEnded && stream.bodyComplete;
  }

  markClosing(): void {
    this.closing = true;
  }

  /** During a listener drain: the next response says close; an idle connection closes now. */
  drain(): void {
    this.closing = true;
  }

  /** Closes the connection if no request is in progress (listener drain). */
  closeIfIdle(): boolean {
    if (!this.idle) return false;
    this.close();
    return true;
  }

  /** A deadline passed (the sweep calls this). */
  expired(): void {
    this.deadline = 0;
    if (this.phase === Phase.CLOSED) return;
    if (!this.deadlineIsRequest) {
      // Idle keep-alive connection.
      this.destroy();
      return;
    }
    if (this.stream !== null && this.stream.headersSent) {
      this.destroy();
      return;
    }
    if (this.stream !== null) this.stream.aborted();
    this.refuse('request_timeout');
  }

  /** Answers a request the codec cannot pass on, then closes. */
  private refuse(code: keyof typeof REFUSALS): void {
    const stream = this.stream;
    if (stream !== null && stream.headersSent) {
      this.destroy();
      return;
    }
    this.phase = Phase.CLOSED;
    this.sweep.delete(this);
    endAndClose(this.socket, REFUSALS[code]);
  }

  private handOff(chunk: Buffer): void {
    const bytes = this.headPieces ?? [];
    bytes.push(this.headStart === 0 ? chunk : chunk.subarray(this.headStart));
    if (this.leftover !== null) bytes.push(this.leftover);
    this.detach();
    this.handler.onUpgrade(this.socket, bytes);
  }

  /** Leaves the socket to someone else (an upgrade hand-off). */
  private detach(): void {
    this.phase = Phase.CLOSED;
    this.sweep.delete(this);
    const socket = this.socket;
    socket.off('data', onSocketData);
    socket.off('end', onSocketEnd);
    socket.off('close', onSocketClose);
    socket.off('error', onSocketError);
    socket.off('drain', onSocketDrain);
    (socket as CodecSocket)[kConnection] = undefined;
    this.parser.free();
  }

  /** Ends the connection once what was written is flushed. */
  close(): void {
    if (this.phase === Phase.CLOSED) return;
    this.phase = Phase.CLOSED;
    this.sweep.delete(this);
    endAndClose(this.socket);
  }

  destroy(): void {
    this.phase = Phase.CLOSED;
    this.sweep.delete(this);
    this.socket.destroy();
  }

  /**
   * The client ended its side. As node:http does (without httpAllowHalfOpen), a request in
   * progress is aborted — its upstream request cancelled — and the connection closes; between
   * requests it simply closes.
   */
  clientEnd(): void {
    this.clientEnded = true;
    const stream = this.stream;
    if (stream !== null && !stream.finished) {
      stream.aborted();
      this.destroy();
      return;
    }
    if (this.phase === Phase.HEAD) {
      this.destroy();
      return;
    }
    if (this.leftover === null) this.close();
  }

  closed(): void {
    const wasOpen = this.phase !== Phase.CLOSED;
    this.phase = Phase.CLOSED;
    this.sweep.delete(this);
    this.parser.free();
    const stream = this.stream;
    this.stream = null;
    if (stream !== null && !stream.finished) stream.aborted();
    void wasOpen;
  }

  drained(): void {
    this.stream?.drained();
  }
}

/** Trims trailing white space from each value (llhttp leaves it; node:http's parser trims it). */
function trimValues(raw: string[]): void {
  for (let i = 1; i < raw.length; i += 2) {
    const v = raw[i]!;
    const last = v.charCodeAt(v.length - 1);
    if (last === 32 || last === 9) raw[i] = v.trimEnd();
  }
}

/** One request/response exchange on an HTTP/1.1 connection. */
export class Http1Stream implements ServerStream, AreaWriter {
  sink: BodySink | null = null;
  bodyComplete = false;
  headersSent = false;
  statusCode = 0;
  finished = false;
  destroyed = false;
  private observer: StreamObserver | null = null;
  private doneListener: (() => void) | null = null;
  private framing = Framing.NONE;
  private keepAlive = false;
  private continueSent = false;
  private corked = false;
  /** Where this stream's bytes not yet written start in the response write area (-1: none). */
  private areaFrom = -1;
  /** A flush of the area is due at the end of this tick. */
  private flushScheduled = false;
  /** Lent chunks (read-lease.ts) written since the socket was corked, and the read they belong to. */
  private lent = 0;
  private lentRead = 0;
  /** Bytes of earlier ticks still queued in the socket when it was corked for this one. */
  private queuedAtCork = 0;
  readonly socket: Socket;
  readonly protocol: string;

  constructor(
    private readonly connection: Http1ServerConnection,
    readonly method: string,
    readonly url: string,
    readonly headers: import('node:http').IncomingHttpHeaders,
    readonly rawHeaders: string[],
    readonly httpVersionMajor: number,
    readonly httpVersionMinor: number,
    readonly hasBody: boolean,
  ) {
    this.socket = connection.socket;
    this.protocol = httpVersionMinor === 0 ? 'HTTP/1.0' : 'HTTP/1.1';
    if (!hasBody) this.bodyComplete = true;
  }

  get takesTrailers(): boolean {
    const te = this.headers.te;
    return typeof te === 'string' && te.toLowerCase().includes('trailers');
  }

  observe(observer: StreamObserver): void {
    this.observer = observer;
  }

  onceDone(listener: () => void): void {
    if (this.finished) listener();
    else this.doneListener = listener;
  }

  private done(): void {
    const listener = this.doneListener;
    if (listener === null) return;
    this.doneListener = null;
    listener();
  }

  readBody(sink: BodySink): void {
    this.sink = sink;
    if (!this.continueSent && this.httpVersionMinor === 1 && !this.headersSent && !this.bodyComplete) {
      const expect = this.headers.expect;
      if (expect !== undefined && CONTINUE_EXPECTATION.test(expect)) {
        this.continueSent = true;
        this.socket.write(CONTINUE, 'latin1');
      }
    }
  }

  pauseBody(): void {
    this.connection.bodyPaused();
  }

  resumeBody(): void {
    this.connection.bodyResumed();
  }

  writeInformational(statusCode: number, headers: readonly string[]): void {
    if (this.headersSent || this.destroyed || this.httpVersionMinor === 0) return;
    let head = statusLine(statusCode, undefined);
    for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
    this.socket.write(head + CRLF, 'latin1');
  }

  writeHead(statusCode: number, headers: readonly string[], reason?: string): void {
    if (this.headersSent) throw new Error('the response head was already sent');
    if (this.destroyed) return;
    this.headersSent = true;
    this.statusCode = statusCode;
    let head = statusLine(statusCode, reason);
    let length = false;
    let date = false;
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (name.length === 14 && name.toLowerCase() === 'content-length') length = true;
      else if (name.length === 4 && name.toLowerCase() === 'date') date = true;
      head += `${name}: ${headers[i + 1]}\r\n`;
    }
    head += this.headEnd(statusCode, length, date);
    if (head.length <= LARGEST_APPEND) {
      this.appendString(head);
    } else {
      this.cork();
      this.socket.write(head, 'latin1');
    }
  }

  /**
   * The response head of an upstream's response, its fields passed on as the bytes the upstream
   * connection read: `raw` is [name, value, ...] as Buffers, of which the fields `passes` marks
   * (selectClientFields) are copied into the write area as `name: value`, with no string made
   * per field nor for the head (the string path, writeHead, made two strings a field, the head
   * string and its flattened copy). `extraName: extraValue` follows them when extraName is not
   * null (the request id). The bytes are those writeHead writes for the same fields.
   * `passedBytes` (the passed fields as `name: value\r\n`) over half an append: the string path.
   */
  writeUpstreamHead(statusCode: number, reason: string | undefined, raw: readonly Buffer[], passes: Uint8Array, passedBytes: number, extraName: string | null, extraValue: string): void {
    const fields = raw.length >> 1;
    if (passedBytes > LARGEST_APPEND / 2 || this.headersSent || this.destroyed) {
      const headers: string[] = [];
      for (let f = 0; f < fields; f++) if (passes[f] === 1) headers.push(raw[2 * f]!.toString('latin1'), raw[2 * f + 1]!.toString('latin1'));
      if (extraName !== null) headers.push(extraName, extraValue);
      this.writeHead(statusCode, headers, reason);
      return;
    }
    this.headersSent = true;
    this.statusCode = statusCode;
    this.appendString(statusLine(statusCode, reason));
    let length = false;
    let date = false;
    for (let f = 0; f < fields; f++) {
      if (passes[f] !== 1) continue;
      const name = raw[2 * f]!;
      if (name.length === 14) {
        if (fieldNamed(name, 'content-length')) length = true;
      } else if (name.length === 4 && fieldNamed(name, 'date')) {
        date = true;
      }
      this.appendField(name, raw[2 * f + 1]!);
    }
    let end = extraName === null ? '' : `${extraName}: ${extraValue}\r\n`;
    end += this.headEnd(statusCode, length, date);
    this.appendString(end);
  }

  /**
   * The end of a response head after its fields: `date` unless the fields had one, the
   * connection field when it must be said, `transfer-encoding: chunked` for a body of unknown
   * length, and the blank line. Sets the response's framing and whether the connection stays.
   */
  private headEnd(statusCode: number, length: boolean, date: boolean): string {
    let end = date ? '' : `date: ${httpDate()}\r\n`;
    const bodiless = this.method === 'HEAD' || statusCode === 204 || statusCode === 304 || statusCode < 200;
    if (bodiless) this.framing = Framing.NONE;
    else if (length) this.framing = Framing.LENGTH;
    else if (this.httpVersionMinor === 1) this.framing = Framing.CHUNKED;
    else this.framing = Framing.CLOSE;
    this.keepAlive = this.framing !== Framing.CLOSE && this.connection.keepsAlive(this);
    if (this.keepAlive) {
      if (this.httpVersionMinor === 0) end += 'connection: keep-alive\r\n';
    } else {
      end += 'connection: close\r\n';
      this.connection.markClosing();
    }
    if (this.framing === Framing.CHUNKED) end += 'transfer-encoding: chunked\r\n';
    return end + CRLF;
  }

  respond(statusCode: number, headers: readonly string[], body?: string | Buffer | null): void {
    this.writeHead(statusCode, headers);
    this.end(body);
  }

  write(chunk: Buffer): boolean {
    if (this.destroyed || chunk.length === 0) return !this.destroyed;
    const socket = this.socket;
    if (this.framing === Framing.NONE) return true;
    const length = chunk.length;
    if (length <= SMALL_CHUNK && !this.corked) {
      // Copied next to the head: the whole response leaves in one write of one buffer. The
      // copy holds none of a lent chunk's memory, so it goes back at once.
      if (this.framing === Framing.CHUNKED) {
        this.appendString(`${length.toString(16)}\r\n`);
        this.appendBytes(chunk);
        this.appendString(CRLF);
      } else {
        this.appendBytes(chunk);
      }
      if (readLease.lending) readLease.giveBack(readLease.read, 1);
      // Nothing of this tick is queued yet: the client is slow only when bytes of an earlier
      // tick still wait past the socket's high-water mark.
      return !socket.writableNeedDrain;
    }
    this.cork();
    this.flushArea();
    if (readLease.lending) {
      // Given back at uncork if the socket took every byte (see uncorked()).
      this.lentRead = readLease.read;
      this.lent++;
    }
    let taken: boolean;
    if (this.framing === Framing.CHUNKED) {
      socket.write(`${length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      taken = socket.write(CHUNK_END);
    } else {
      taken = socket.write(chunk);
    }
    // Corked until the end of the tick, the socket counts this tick's bytes as queued and
    // answers false past its high-water mark (16 KiB) before any of them was offered to the
    // kernel: every 64 KiB response would pause the upstream (two epoll_ctl calls) and wait for
    // a 'drain'. The client is slow only when bytes of an earlier tick are still queued; then
    // the socket's answer stands. What a tick writes is bounded by its producer's one read.
    return taken || this.queuedAtCork === 0;
  }

  end(chunk?: Buffer | string | null, trailers?: readonly string[] | null): void {
    if (this.finished || this.destroyed) return;
    if (chunk != null && chunk.length > 0) this.write(typeof chunk === 'string' ? Buffer.from(chunk) : chunk);
    if (this.framing === Framing.CHUNKED) {
      if (trailers != null && trailers.length > 0 && this.takesTrailers) {
        let last = '0\r\n';
        for (let i = 0; i < trailers.length; i += 2) last += `${trailers[i]}: ${trailers[i + 1]}\r\n`;
        last += CRLF;
        if (last.length <= LARGEST_APPEND && !this.corked) {
          this.appendString(last);
        } else {
          this.flushArea();
          this.socket.write(last, 'latin1');
        }
      } else if (this.corked) {
        this.flushArea();
        this.socket.write(LAST_CHUNK, 'latin1');
      } else {
        this.appendString(LAST_CHUNK);
      }
    }
    // The response is whole: what it has in the area leaves now (in the writev of the tick if corked).
    this.flushArea();
    this.finished = true;
    this.destroyed = true;
    this.connection.responseFinished(this);
    this.done();
  }

  closeAfterResponse(): void {
    this.connection.markClosing();
  }

  abort(): void {
    if (this.finished) return;
    this.finished = true;
    this.destroyed = true;
    this.dropArea();
    this.connection.destroy();
    this.done();
  }

  /** The connection was lost (or timed out) before the response ended. */
  aborted(): void {
    if (this.finished) return;
    this.finished = true;
    this.destroyed = true;
    this.dropArea();
    this.observer?.onAborted();
    this.done();
  }

  drained(): void {
    if (!this.finished) this.observer?.onDrain();
  }

  /** Appends `text` (latin1, at most LARGEST_APPEND characters) to this stream's bytes in the area; they leave at flushArea(). */
  private appendString(text: string): void {
    const area = this.claimArea(text.length);
    area.used += area.buffer.write(text, area.used, 'latin1');
  }

  /** Appends a copy of `bytes` (at most SMALL_CHUNK) to this stream's bytes in the area. */
  private appendBytes(bytes: Buffer): void {
    const area = this.claimArea(bytes.length);
    area.buffer.set(bytes, area.used);
    area.used += bytes.length;
  }

  /** Appends `name: value` and its line end (the two together at most LARGEST_APPEND bytes) to this stream's bytes in the area. */
  private appendField(name: Buffer, value: Buffer): void {
    const area = this.claimArea(name.length + value.length + 4);
    const out = area.buffer;
    let at = area.used;
    out.set(name, at);
    at += name.length;
    out[at++] = 58; // :
    out[at++] = 32; // space
    out.set(value, at);
    at += value.length;
    out[at++] = 13;
    out[at++] = 10;
    area.used = at;
  }

  private claimArea(bytes: number): ResponseWriteArea {
    const area = responseWriteArea;
    if (this.areaFrom >= 0 && (area.owner !== this || area.used - this.areaFrom + bytes > MOST_PENDING)) this.flushArea();
    this.areaFrom = area.claim(this, this.areaFrom, bytes);
    if (!this.flushScheduled) {
      // Appends of this tick that no end() follows leave at its end, with what comes after.
      this.flushScheduled = true;
      process.nextTick(flushAtTickEnd, this);
    }
    return area;
  }

  /** Writes this stream's bytes in the area, if any, in one socket write (part of the tick's writev when corked). */
  flushArea(): void {
    const from = this.areaFrom;
    if (from < 0) return;
    this.areaFrom = -1;
    const area = responseWriteArea;
    const socket = this.socket;
    if (area.owner !== this || socket.destroyed) {
      // Cut meanwhile (dropArea), or the socket is gone: nothing to write.
      area.dropped(this, from);
      return;
    }
    socket.write(area.buffer.subarray(from, area.used));
    // Written at once when the socket is not corked and the kernel took every byte: then no one
    // references them any more (see uncorked() for why `writableLength` tells).
    area.written(this, from, socket.writableLength === 0 && !socket.writableCorked);
  }

  /** The end of the tick in which this stream first appended: pending bytes leave. */
  tickEnded(): void {
    this.flushScheduled = false;
    this.flushArea();
  }

  /** The stream was cut: its bytes in the area are not written. */
  private dropArea(): void {
    const from = this.areaFrom;
    if (from < 0) return;
    this.areaFrom = -1;
    responseWriteArea.dropped(this, from);
  }

  /** Head and body chunks written in this tick leave in one writev. */
  private cork(): void {
    if (this.corked) return;
    this.queuedAtCork = this.socket.writableLength;
    this.corked = true;
    this.socket.cork();
    process.nextTick(uncork, this);
  }

  uncorked(): void {
    this.corked = false;
    const socket = this.socket;
    socket.uncork();
    if (this.lent > 0) {
      // Lent read memory goes back only when nothing of it is queued: `writableLength` (public)
      // is the bytes written and not yet handed to the kernel, and a write libuv finished
      // synchronously (uv_try_write took it all: Node's `kLastWriteWasAsync` false) has run its
      // callback, which took its bytes off `writableLength`, before uncork() returns. A write
      // that went async (the kernel's buffer full), a socket still corked elsewhere or still
      // connecting leaves bytes counted there, referencing the memory: then the chunks stay
      // kept. On TLS sockets the cleartext is encrypted, or copied when it cannot be yet, inside
      // the write (Node's TLSWrap::DoWrite), so the same test is safe there.
      if (socket.writableLength === 0 && !socket.destroyed) readLease.giveBack(this.lentRead, this.lent);
      this.lent = 0;
    }
  }
}

function uncork(stream: Http1Stream): void {
  stream.flushArea();
  stream.uncorked();
}

function flushAtTickEnd(stream: Http1Stream): void {
  stream.tickEnded();
}

const kConnection = Symbol('switchyard.http1Connection');
type CodecSocket = Socket & { [kConnection]?: Http1ServerConnection };

// Socket listeners shared by every connection (no closure per connection).
function onSocketData(this: CodecSocket, chunk: Buffer): void {
  this[kConnection]?.received(chunk);
}

function onSocketEnd(this: CodecSocket): void {
  this[kConnection]?.clientEnd();
}

function onSocketClose(this: CodecSocket): void {
  this[kConnection]?.closed();
}

function onSocketError(this: CodecSocket): void {
  // 'close' follows; the stream learns of the loss there. Reset clients are routine.
}

function onSocketDrain(this: CodecSocket): void {
  this[kConnection]?.drained();
}

/** Writes `data`, then closes the socket once flushed, even if the client never closes its side. */
function endAndClose(socket: Socket, data?: string): void {
  if (data === undefined) socket.end();
  else socket.end(data, 'latin1');
  socket.destroySoon();
}

/**
 * The listener's clock for its connections' deadlines (headers, request and idle timeouts):
 * one interval checks them all, as node:http's connectionsCheckingInterval does, instead of a
 * timer armed and cleared for every request.
 */
export class ConnectionSweep {
  private readonly connections = new Set<Http1ServerConnection>();
  private timer: NodeJS.Timeout | null = null;
  /** Set by drainAll(): connections opened from then on are draining from the start. */
  private draining = false;

  constructor(private readonly intervalMs: number) {}

  add(connection: Http1ServerConnection): void {
    this.connections.add(connection);
    if (this.draining) connection.drain();
    if (this.timer === null) {
      this.timer = setInterval(sweepConnections, this.intervalMs, this);
      this.timer.unref();
    }
  }

  delete(connection: Http1ServerConnection): void {
    this.connections.delete(connection);
  }

  get size(): number {
    return this.connections.size;
  }

  /** The listener drains: every response, on open connections and on those still to come, says close. */
  drainAll(): void {
    this.draining = true;
    for (const c of this.connections) c.drain();
  }

  /** Every open connection (for a drain). */
  all(): IterableIterator<Http1ServerConnection> {
    return this.connections.values();
  }

  check(): void {
    const now = Date.now();
    for (const c of this.connections) if (c.deadline !== 0 && c.deadline <= now) c.expired();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }
}

function sweepConnections(sweep: ConnectionSweep): void {
  sweep.check();
}

import { IncomingMessage } from 'node:http';
import { connect as netConnect, type Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';
import { HeadersResult, Http1Parser, ParseError, ParserKind, type ParserHandler } from '../codec/llhttp.js';
import { readLease } from '../codec/read-lease.js';
import { BodyFraming } from './http1-request-head.js';
import type { Http1UpstreamRequest, RequestCarrier } from './http1-upstream-request.js';
import { UpstreamError } from './upstream-error.js';
import { endTrailers } from './request-trailer-source.js';

/** An empty input for llhttp, to carry on after a pause. */
const EMPTY = Buffer.alloc(0);

/** Connection settings shared by every connection of one pool. */
export interface Http1ConnectionSettings {
  /** Where to connect (an IP address or a host name, no brackets). */
  readonly address: string;
  readonly port: number;
  /** TLS options, or null for cleartext. */
  readonly tls: ConnectionOptions | null;
  /** SNI name and the name the certificate must carry; undefined: the address (no SNI for an IP). */
  readonly servername: string | undefined;
  readonly connectTimeout: number;
  /** How long an idle connection is kept when the server gives no Keep-Alive hint. */
  readonly keepAliveTimeout: number;
  /** The most a server's Keep-Alive: timeout=N hint may keep an idle connection. */
  readonly keepAliveMaxTimeout: number;
  /** Taken off a server's hint, so that the server is not the first to close (undici: 2 s). */
  readonly keepAliveTimeoutThreshold: number;
  /** Largest response head or trailer section (field names and values), as undici's maxHeaderSize. */
  readonly maxHeaderSize: number;
}

/** What a connection tells its pool. */
export interface Http1ConnectionOwner {
  readonly settings: Http1ConnectionSettings;
  /** The last TLS session, offered for resumption by the next connection. */
  tlsSession: Buffer | null;
  /** A new connection is connected (TCP, and TLS), or an idle one is validated: it takes a request. */
  connectionReady(connection: Http1UpstreamConnection): void;
  /** The connection's request is done and the connection may carry another. */
  connectionReleased(connection: Http1UpstreamConnection): void;
  /**
   * The connection is gone. `unsent`: a request it was validating for, never written (it goes
   * back to the front of the queue); `err`: why, when connecting failed.
   */
  connectionClosed(connection: Http1UpstreamConnection, connected: boolean, err: Error | null, unsent: Http1UpstreamRequest | null): void;
  /** The connection was handed to an upgrade's handler: it leaves the pool. */
  connectionUpgraded(connection: Http1UpstreamConnection): void;
}

const enum State {
  CONNECTING,
  IDLE,
  /** A request is assigned; the write waits one turn of the event loop (see validate()). */
  VALIDATING,
  BUSY,
  CLOSED,
}

const enum Timer {
  NONE,
  CONNECT,
  HEADERS,
  BODY,
  IDLE,
}

/** Which response header's value is being read, for the fields the connection acts on. */
const enum Watched {
  NONE,
  KEEP_ALIVE,
  CONTENT_LENGTH,
}

const kConnection = Symbol('switchyard.http1Connection');
type TaggedSocket = Socket & { [kConnection]?: Http1UpstreamConnection };
type TaggedBody = Readable & { [kConnection]?: Http1UpstreamConnection };

/** The trailers of a response without any (shared; frozen so a handler cannot fill it). */
const NO_TRAILERS: Buffer[] = Object.freeze([]) as unknown as Buffer[];

/**
 * One HTTP/1.1 connection to an upstream instance: a socket, the llhttp response parser kept
 * for the connection's life, and at most one request at a time (no pipelining).
 *
 * A request: the head (built at dispatch) and a Buffer body go out corked in one write; a
 * streamed body follows chunk by chunk (chunked framing when its length is unknown), paused
 * while the socket is full. The response is parsed as it arrives; header fields and body
 * chunks are views of the bytes read. Interim responses (1xx, an unsolicited 100
 * included) go to onHeaders and are otherwise skipped (RFC 9110 §15.2); HEAD, 204 and 304 have
 * no body; a close-delimited body ends with the connection (llhttp_finish). onData returning
 * false pauses the parser and the socket until the handler's resume().
 *
 * One timer a connection for connect, headers, body and idle timeouts, kept across them: each
 * phase sets a deadline, and the Timeout is re-created only when the new deadline comes before
 * the one it is set for; otherwise it fires first, finds the deadline not reached and is set
 * again for the rest (about once per timeout period, not per request; refreshing per body
 * chunk is a field write). Socket and body events go to functions shared by every connection
 * (the socket or body carries its connection); the parser's callbacks are this object's
 * methods. Cleartext sockets are read with `onread` (see onSocketRead).
 *
 * Reuse: the connection is kept after a response only when llhttp says the message leaves it
 * open (no Connection: close, not HTTP/1.0 without keep-alive, not close-delimited), the
 * request did not ask to close it (Connection: close, HEAD, an upgrade, a body on a method
 * without payload semantics), the request body was sent whole, and nothing followed the
 * response. A connection that was idle waits one turn of the event loop before it carries a
 * request, so a close or stray bytes the server sent meanwhile are seen first; a request that
 * cannot be retried after a reset (not idempotent) waits until the loop has polled the sockets
 * once more, so a FIN already received by this host is read before anything is written (the
 * request then goes on another connection). The pool never retries a request it has written,
 * as undici: a server closing a connection as a request is on the wire is reported as a reset
 * (UND_ERR_SOCKET "other side closed", ECONNRESET or EPIPE), which the exchange retries only
 * for idempotent methods.
 */
export class Http1UpstreamConnection implements ParserHandler, RequestCarrier {
  readonly socket: Socket;
  private readonly parser: Http1Parser;
  private state = State.CONNECTING;
  /** The request being written or answered (BUSY), or validated for (VALIDATING). */
  private request: Http1UpstreamRequest | null = null;
  /** Has carried a request (a reused connection is validated before its next one). */
  private used = false;
  /** The current request's head has been written (onConnect returned without aborting). */
  private written = false;
  /** The server closed its side while parsing was paused: handled once the handler resumes. */
  private peerEnded = false;
  /** The request body is still being written. */
  private writing = false;
  /** Bytes of the streamed body written so far. */
  private bodyBytes = 0;
  /** The response so far (reset at each message begin). */
  private statusCode = 0;
  private statusText = '';
  private fields: Buffer[] | null = null;
  private fieldBytes = 0;
  private watched = Watched.NONE;
  private keepAliveHint = '';
  private hasContentLength = false;
  /** The final response's Content-Length value (llhttp has checked its digits), else 0. */
  private contentLength = 0;
  /** The final response's head said the connection stays open (llhttp's verdict). */
  private responseKeepAlive = false;
  /** The connection may carry another request after this one (the request side's verdict). */
  private reusable = true;
  /** The final response's end was parsed (execute() finishes the request). */
  private completed = false;
  private upgrading = false;
  /** The bytes being parsed are a read in the shared slab: body chunks are lent (read-lease.ts). */
  private lendingRead = false;
  /** Parsing is paused for the handler (onHeaders/onData returned false). */
  private paused = false;
  /** Bytes received but not parsed while paused. */
  private pending: Buffer | null = null;
  private executing = false;
  /** Set by a parser callback that failed the parse on purpose (header overflow, stray response). */
  private callbackError: Error | null = null;
  private timer: NodeJS.Timeout | null = null;
  /** When the Timeout fires (performance.now() ms): at or before `deadline`. */
  private timerAt = 0;
  private timerKind = Timer.NONE;
  private timerDelay = 0;
  /** When the current phase times out (performance.now() ms, a monotonic clock). */
  private deadline = 0;
  /** Idle timeout after the current response: the default, or the server's Keep-Alive hint. */
  private idleTimeout: number;
  private closeError: Error | null = null;
  /** The handler contract's resume(), bound once per connection. */
  private readonly resumeParsing = (): void => this.resume();

  constructor(private readonly owner: Http1ConnectionOwner) {
    const s = owner.settings;
    this.idleTimeout = s.keepAliveTimeout;
    this.parser = new Http1Parser(ParserKind.RESPONSE, this);
    let socket: TaggedSocket;
    if (s.tls === null) {
      // Read into one buffer shared by every cleartext connection, copied out per read (see onSocketRead).
      socket = netConnect({ host: s.address, port: s.port, onread: { buffer: sharedReadBuffer(), callback: onSocketRead } });
      socket.once('connect', onSocketConnect);
    } else {
      socket = tlsConnect({ ...s.tls, host: s.address, port: s.port, servername: s.servername, ALPNProtocols: ['http/1.1'], session: owner.tlsSession ?? undefined });
      socket.once('secureConnect', onSocketConnect);
      socket.on('session', onTlsSession);
      socket.on('data', onSocketData);
    }
    socket[kConnection] = this;
    socket.setNoDelay(true);
    socket.setKeepAlive(true, 60_000);
    socket.on('end', onSocketEnd);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    socket.on('drain', onSocketDrain);
    this.socket = socket;
    this.arm(Timer.CONNECT, s.connectTimeout);
  }

  get idle(): boolean {
    return this.state === State.IDLE;
  }

  get closed(): boolean {
    return this.state === State.CLOSED;
  }

  // ---- connection life -------------------------------------------------------------------

  connected(): void {
    if (this.state !== State.CONNECTING) return;
    this.disarm();
    this.state = State.IDLE;
    this.owner.connectionReady(this);
  }

  /** Takes `request`: written now on a new connection, after one event-loop turn on a reused one. */
  assign(request: Http1UpstreamRequest): void {
    this.request = request;
    request.carrier = this;
    this.disarm();
    if (!this.used) {
      this.state = State.BUSY;
      this.start(request);
      return;
    }
    this.state = State.VALIDATING;
    // A request the exchange cannot retry after a reset (POST, PATCH, ...) waits until the
    // event loop has polled the sockets once more, so a FIN already on this host is read
    // before anything is written; others wait one turn (a FIN read in the same poll is seen).
    setImmediate(request.idempotent ? onValidated : onPolledAgain, this);
  }

  /** An idle connection is given back to the idle list (or closed) by the pool. */
  becameIdle(): void {
    this.arm(Timer.IDLE, this.idleTimeout);
  }

  /**
   * One turn of the event loop after a reused connection was picked: a FIN, a reset or bytes
   * the server sent while the connection was idle have been read by now. Still open: write.
   */
  validated(): void {
    if (this.state !== State.VALIDATING) return;
    const request = this.request!;
    if (request.done) {
      // Cannot happen before onConnect (the handler has no abort yet); kept for safety.
      this.request = null;
      this.release();
      return;
    }
    this.state = State.BUSY;
    this.start(request);
  }

  /** Closes the connection; the request on it, if any, fails with `err`. */
  destroy(err: Error | null): void {
    if (this.state === State.CLOSED) return;
    const wasConnected = this.state !== State.CONNECTING;
    const validating = this.state === State.VALIDATING;
    this.state = State.CLOSED;
    this.stopTimer();
    const request = this.request;
    this.request = null;
    if (this.writing) this.stopBody(request!, true);
    this.socket.destroy();
    this.owner.connectionClosed(this, wasConnected, wasConnected ? null : err, validating ? request : null);
    if (request !== null && !validating) request.fail(err ?? new UpstreamError('the upstream connection closed', 'UND_ERR_SOCKET', 'SocketError'));
  }

  /** The socket closed (after destroy() or on its own): the parser's memory is released. */
  socketClosed(): void {
    this.destroy(this.closeError ?? new UpstreamError('closed', 'UND_ERR_SOCKET', 'SocketError'));
    this.parser.free();
  }

  socketError(err: Error): void {
    this.closeError ??= err;
    this.destroy(err);
  }

  /** The server closed its side (FIN). */
  socketEnded(): void {
    if (this.paused) {
      this.peerEnded = true;
      return;
    }
    if (this.state !== State.BUSY || this.request === null) {
      this.destroy(null);
      return;
    }
    if (this.statusCode >= 200 && !this.responseKeepAlive) {
      // The response ends with the connection (close-delimited, or Connection: close): the
      // end of input completes it, or shows it incomplete.
      this.executing = true;
      let result: number;
      try {
        result = this.parser.finish();
      } catch (err) {
        this.executing = false;
        this.destroy(err as Error);
        return;
      }
      this.executing = false;
      if (this.closed) return;
      if (this.completed) {
        this.completed = false;
        this.finishResponse(false);
        return;
      }
      if (result !== ParseError.OK) {
        this.destroy(this.parseError(result, true));
        return;
      }
    }
    this.destroy(new UpstreamError('other side closed', 'UND_ERR_SOCKET', 'SocketError'));
  }

  // ---- writing a request ---------------------------------------------------------------

  /** onConnect, then the head (and a Buffer body) in one corked write; a streamed body follows. */
  private start(request: Http1UpstreamRequest): void {
    this.used = true;
    this.resetMessage();
    this.idleTimeout = this.owner.settings.keepAliveTimeout;
    this.written = false;
    request.handler.onConnect?.(request.abort);
    if (request.done) {
      // Aborted in onConnect: nothing was written, the connection is as good as before.
      this.request = null;
      this.release();
      return;
    }
    this.written = true;
    this.reusable = !request.close;
    const socket = this.socket;
    const body = request.body;
    if (body !== null && Buffer.isBuffer(body) && body.length > 0) {
      socket.cork();
      socket.write(request.head as string, 'latin1');
      socket.write(body);
      socket.uncork();
    } else {
      socket.write(request.head as string, 'latin1');
    }
    this.arm(Timer.HEADERS, request.headersTimeout);
    if (body !== null && !Buffer.isBuffer(body)) this.startBody(request, body);
  }

  private startBody(request: Http1UpstreamRequest, body: Readable): void {
    this.writing = true;
    this.bodyBytes = 0;
    if (body.readableEnded) {
      this.bodyEnded();
      return;
    }
    if (body.destroyed || body.errored !== null) {
      this.abortRequest(request, body.errored ?? new UpstreamError('the request body was closed before it ended', 'UND_ERR_ABORTED', 'AbortError'));
      return;
    }
    const tagged = body as TaggedBody;
    tagged[kConnection] = this;
    body.on('data', onBodyData);
    body.on('end', onBodyEnd);
    body.on('error', onBodyError);
    body.on('close', onBodyClose);
  }

  bodyChunk(chunk: Buffer): void {
    const request = this.request;
    if (!this.writing || request === null) return;
    const length = chunk.length;
    if (length === 0) return;
    this.bodyBytes += length;
    if (request.framing === BodyFraming.LENGTH && this.bodyBytes > request.length) {
      this.abortRequest(request, new UpstreamError(`the request body is longer than its Content-Length ${request.length}`, 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'RequestContentLengthMismatchError'));
      return;
    }
    const socket = this.socket;
    let flowing: boolean;
    if (request.framing === BodyFraming.CHUNKED) {
      socket.cork();
      socket.write(`${length.toString(16)}\r\n`, 'latin1');
      socket.write(chunk);
      flowing = socket.write('\r\n', 'latin1');
      socket.uncork();
    } else {
      flowing = socket.write(chunk);
    }
    if (!flowing) (request.body as Readable).pause();
  }

  bodyEnded(): void {
    const request = this.request;
    if (!this.writing || request === null) return;
    if (request.framing === BodyFraming.LENGTH && this.bodyBytes !== request.length) {
      this.abortRequest(request, new UpstreamError(`the request body ended after ${this.bodyBytes} of its ${request.length} bytes (Content-Length)`, 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'RequestContentLengthMismatchError'));
      return;
    }
    if (request.framing === BodyFraming.CHUNKED) this.socket.write(lastChunk(endTrailers(request.trailers)), 'latin1');
    this.stopBody(request, false);
    // The headers timeout counts from the end of the request.
    if (this.timerKind === Timer.HEADERS) this.restartTimer();
  }

  bodyFailed(err: Error | null): void {
    const request = this.request;
    if (!this.writing || request === null) return;
    this.abortRequest(request, err ?? new UpstreamError('the request body was closed before it ended', 'UND_ERR_ABORTED', 'AbortError'));
  }

  /** The socket took what was written: a body paused for it goes on. */
  drained(): void {
    if (this.writing) (this.request!.body as Readable).resume();
  }

  /**
   * Stops listening to the request body. `discard`: the body will not be sent whole (the
   * exchange is over or failed): the stream is destroyed as undici does — an IncomingMessage
   * detached from its socket first, so the client connection stays for the proxy's answer.
   */
  private stopBody(request: Http1UpstreamRequest, discard: boolean): void {
    this.writing = false;
    const body = request.body as TaggedBody;
    body.removeListener('data', onBodyData);
    body.removeListener('end', onBodyEnd);
    body.removeListener('error', onBodyError);
    body.removeListener('close', onBodyClose);
    body[kConnection] = undefined;
    if (!discard || body.destroyed) return;
    if (body instanceof IncomingMessage) (body as { socket: Socket | null }).socket = null;
    body.destroy();
  }

  // ---- the handler contract's controls ---------------------------------------------------

  abortRequest(request: Http1UpstreamRequest, err: Error): void {
    if (request.done || this.request !== request) return;
    if (!this.written) {
      // Inside onConnect, before anything was written: the request alone is cancelled.
      request.fail(err);
      return;
    }
    // Written (or being written): what the server sends back would be unread; the connection goes.
    this.destroy(err);
  }

  /** Parsing goes on after the handler paused it (onHeaders or onData returned false). */
  resume(): void {
    if (!this.paused || this.state !== State.BUSY) return;
    this.paused = false;
    if (this.executing) return; // resumed from within a callback: execute() carries on
    if (this.timerKind === Timer.BODY) this.restartTimer();
    this.parser.resume();
    const pending = this.pending;
    this.pending = null;
    // With nothing pending, llhttp still needs an execute() to go on from where the callback
    // paused it: a pause on a body's last bytes leaves on_message_complete to the next call
    // (undici resumes with an empty buffer for the same reason).
    this.execute(pending ?? EMPTY);
    if (this.paused || this.closed) return;
    if (this.peerEnded) this.socketEnded();
    else this.socket.resume();
  }

  // ---- reading the response --------------------------------------------------------------

  /**
   * A read copied into the shared slab (onSocketRead): its body chunks are lent (read-lease.ts).
   * True when the connection kept no view of it past the call, so its memory may be read into
   * again once every lent chunk is given back.
   */
  receivedInSlab(chunk: Buffer): boolean {
    this.lendingRead = true;
    try {
      this.received(chunk);
    } finally {
      this.lendingRead = false;
    }
    // Header fields split across reads are views until the head completes; a 101 hands the
    // bytes after its head on with the socket.
    return this.fields === null && this.state !== State.CLOSED;
  }

  received(chunk: Buffer): void {
    if (this.paused) {
      // Copied: held for as long as the handler keeps parsing paused, it must not pin a read slab.
      this.pending = this.pending === null ? Buffer.from(chunk) : Buffer.concat([this.pending, chunk]);
      this.socket.pause();
      return;
    }
    this.execute(chunk);
  }

  private execute(chunk: Buffer): void {
    let data = chunk;
    for (;;) {
      this.executing = true;
      let result: number;
      try {
        result = this.parser.execute(data);
      } catch (err) {
        // A handler threw inside a parser callback.
        this.executing = false;
        this.destroy(err as Error);
        return;
      }
      this.executing = false;
      if (result === ParseError.OK) return;
      if (this.closed) return; // a handler aborted, or a callback failed the connection
      const rest = data.subarray(this.parser.stoppedAt);
      if (result === ParseError.PAUSED) {
        if (this.completed) {
          this.completed = false;
          // The parser stopped at the message's end; it must not stay paused, or the next
          // response's bytes would be refused (llhttp answers a paused parser with PAUSED at
          // once, at the previous chunk's offset).
          this.parser.resume();
          if (!this.finishResponse(rest.length > 0) || rest.length === 0) return;
          // Bytes after the response: parsed with no request waiting, as undici does (blank
          // lines are skipped; the start of another message closes the connection).
          const stray = rest;
          this.executing = true;
          try {
            result = this.parser.execute(stray);
          } catch (err) {
            this.executing = false;
            this.destroy(err as Error);
            return;
          }
          this.executing = false;
          if (this.closed) return;
          if (result !== ParseError.OK) {
            this.destroy(null);
            return;
          }
          this.release();
          return;
        }
        if (this.paused) {
          this.pending = rest.length > 0 ? Buffer.from(rest) : null;
          this.socket.pause();
          return;
        }
        // Resumed from within the callback that paused.
        this.parser.resume();
        data = rest;
        continue;
      }
      if (result === ParseError.PAUSED_UPGRADE && this.upgrading) {
        this.handOver(rest);
        return;
      }
      this.destroy(this.callbackError ?? this.parseError(result, false));
      return;
    }
  }

  /**
   * The final response ended: the handler gets onComplete, then the connection is released or
   * closed. `more`: bytes followed the response in the same read (the caller parses them
   * before releasing). Returns whether the connection stays open for that.
   */
  private finishResponse(more: boolean): boolean {
    const request = this.request!;
    const trailers = this.fields ?? NO_TRAILERS;
    this.fields = null;
    let reuse = this.responseKeepAlive && this.reusable;
    if (this.writing) {
      // The response is complete before the request body was sent: the rest is not wanted,
      // and the connection is in the middle of a request: it is not reused.
      this.stopBody(request, true);
      reuse = false;
    }
    this.disarm();
    this.request = null;
    request.done = true;
    request.carrier = null;
    request.handler.onComplete?.(trailers as unknown as string[]);
    if (this.closed) return false;
    if (!reuse) {
      this.destroy(null);
      return false;
    }
    if (!more) this.release();
    return true;
  }

  /** Back to the pool with nothing in flight. */
  private release(): void {
    this.state = State.IDLE;
    this.owner.connectionReleased(this);
  }

  /** A 101 to an upgrade request: the socket leaves the pool for the handler, with the bytes after the head. */
  private handOver(rest: Buffer): void {
    const request = this.request!;
    const socket = this.socket as TaggedSocket;
    this.state = State.CLOSED;
    this.stopTimer();
    this.request = null;
    request.done = true;
    request.carrier = null;
    socket.pause();
    socket.removeListener('data', onSocketData);
    socket.removeListener('end', onSocketEnd);
    socket.removeListener('error', onSocketError);
    socket.removeListener('close', onSocketClose);
    socket.removeListener('drain', onSocketDrain);
    socket.removeListener('session', onTlsSession);
    socket[kConnection] = undefined;
    if (rest.length > 0) socket.unshift(rest);
    this.parser.free();
    const fields = this.fields ?? [];
    this.fields = null;
    this.owner.connectionUpgraded(this);
    if (request.handler.onUpgrade === undefined) {
      socket.destroy();
      request.handler.onError?.(new UpstreamError('the upstream switched protocols but the request has no upgrade handler', 'UND_ERR_SOCKET', 'SocketError'));
      return;
    }
    request.handler.onUpgrade(this.statusCode, fields, socket);
  }

  private parseError(errno: number, atEnd: boolean): Error {
    if (atEnd && this.hasContentLength) {
      return new UpstreamError('the upstream closed the connection before the response body reached its Content-Length', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'ResponseContentLengthMismatchError');
    }
    const code = Http1Parser.errorName(errno);
    return new UpstreamError(`the upstream's response is not valid HTTP/1.1: ${this.parser.errorReason} (${code})`, code, 'HTTPParserError');
  }

  private resetMessage(): void {
    this.statusCode = 0;
    this.statusText = '';
    this.fields = null;
    this.fieldBytes = 0;
    this.watched = Watched.NONE;
    this.keepAliveHint = '';
    this.hasContentLength = false;
    this.contentLength = 0;
    this.responseKeepAlive = false;
    this.completed = false;
    this.upgrading = false;
  }

  // ---- llhttp callbacks (ParserHandler) ----------------------------------------------------

  onMessageBegin(): number {
    if (this.request === null || this.state !== State.BUSY) {
      // Bytes that start a response nobody asked for.
      this.callbackError = new UpstreamError('bad response', 'UND_ERR_SOCKET', 'SocketError');
      return -1;
    }
    this.resetMessage();
    return 0;
  }

  onUrl(): number {
    return 0;
  }

  onStatus(chunk: Buffer, start: number, end: number): number {
    // "OK" is by far the most common reason phrase: no string is made for it.
    if (end - start === 2 && this.statusText === '' && chunk[start] === 79 && chunk[start + 1] === 75) this.statusText = 'OK';
    else this.statusText += chunk.toString('latin1', start, end);
    return 0;
  }

  onHeaderField(chunk: Buffer, start: number, end: number): number {
    const piece = chunk.subarray(start, end);
    let fields = this.fields;
    if (fields === null) fields = this.fields = [];
    const n = fields.length;
    if ((n & 1) === 0) fields.push(piece);
    else fields[n - 1] = Buffer.concat([fields[n - 1]!, piece]); // a name split across reads
    return this.countFieldBytes(end - start);
  }

  onHeaderValue(chunk: Buffer, start: number, end: number): number {
    const piece = chunk.subarray(start, end);
    const fields = this.fields!;
    const n = fields.length;
    if ((n & 1) === 1) {
      fields.push(piece);
      if (this.statusCode === 0) {
        this.watched = watchedField(fields[n - 1]!);
        if (this.watched === Watched.CONTENT_LENGTH) this.hasContentLength = true;
      }
    } else {
      fields[n - 1] = Buffer.concat([fields[n - 1]!, piece]); // a value split across reads
    }
    if (this.watched === Watched.KEEP_ALIVE) this.keepAliveHint += piece.toString('latin1');
    else if (this.watched === Watched.CONTENT_LENGTH) this.addContentLengthDigits(piece);
    return this.countFieldBytes(end - start);
  }

  /** Digits of a Content-Length value (in one or more pieces); llhttp refuses anything else. */
  private addContentLengthDigits(piece: Buffer): void {
    let n = this.contentLength;
    for (let i = 0; i < piece.length; i++) {
      const c = piece[i]! - 48;
      if (c >= 0 && c <= 9) n = n * 10 + c;
    }
    this.contentLength = n;
  }

  private countFieldBytes(n: number): number {
    this.fieldBytes += n;
    if (this.fieldBytes < this.owner.settings.maxHeaderSize) return 0;
    this.callbackError = new UpstreamError(`the upstream's response head or trailers exceed ${this.owner.settings.maxHeaderSize} bytes`, 'UND_ERR_HEADERS_OVERFLOW', 'HeadersOverflowError');
    return -1;
  }

  onHeadersComplete(statusCode: number, upgrade: boolean, keepAlive: boolean): number {
    const request = this.request;
    if (request === null || request.done) return HeadersResult.ERROR;
    const fields = this.fields ?? [];
    this.fields = null;
    this.fieldBytes = 0;
    this.watched = Watched.NONE;
    if (statusCode === 101 || upgrade) {
      if (request.upgrade === null) {
        this.callbackError = new UpstreamError('bad upgrade', 'UND_ERR_SOCKET', 'SocketError');
        return HeadersResult.ERROR;
      }
      this.statusCode = statusCode;
      this.fields = fields;
      this.upgrading = true;
      return HeadersResult.UPGRADE;
    }
    const handler = request.handler;
    if (statusCode < 200) {
      // Interim (100, 103, ...; solicited or not): shown to the handler, then skipped.
      if (this.timerKind === Timer.HEADERS) this.restartTimer();
      handler.onHeaders?.(statusCode, fields, noResume, this.statusText);
      this.statusText = '';
      return request.done ? HeadersResult.ERROR : HeadersResult.SKIP_BODY;
    }
    this.statusCode = statusCode;
    this.responseKeepAlive = keepAlive;
    if (keepAlive && this.keepAliveHint !== '') this.applyKeepAliveHint();
    this.arm(Timer.BODY, request.bodyTimeout);
    const pause = handler.onHeaders?.(statusCode, fields, this.resumeParsing, this.statusText) === false;
    if (request.done) return HeadersResult.ERROR;
    if (request.isHead) return HeadersResult.SKIP_BODY;
    if (pause) {
      this.paused = true;
      return ParseError.PAUSED;
    }
    return HeadersResult.OK;
  }

  onBody(chunk: Buffer, start: number, end: number): number {
    const request = this.request;
    if (request === null || request.done) return -1;
    if (this.timerKind === Timer.BODY) this.restartTimer();
    // Set on every call, so a chunk delivered from bytes held while paused (a copy) is never
    // taken for a lent one, even inside another connection's lent delivery.
    const lent = this.lendingRead;
    readLease.lending = lent;
    if (lent) readLease.outstanding++;
    let goOn: boolean;
    try {
      goOn = request.handler.onData?.(chunk.subarray(start, end)) !== false;
    } finally {
      readLease.lending = false;
    }
    if (request.done) return -1;
    if (goOn) return 0;
    this.paused = true;
    return ParseError.PAUSED;
  }

  onMessageComplete(): number {
    if (this.upgrading) return 0;
    const request = this.request;
    if (request === null || request.done) return -1;
    if (this.statusCode < 200) {
      // An interim response ended; the final one follows.
      this.fields = null;
      this.fieldBytes = 0;
      this.hasContentLength = false;
      this.contentLength = 0;
      return 0;
    }
    if (this.statusCode === 204 && this.contentLength > 0) {
      // A 204 has no body, so a Content-Length above 0 cannot be met: undici fails it the same way.
      this.callbackError = new UpstreamError(`the upstream's 204 response declares Content-Length ${this.contentLength}, but a 204 has no body`, 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH', 'ResponseContentLengthMismatchError');
      return -1;
    }
    this.completed = true;
    return ParseError.PAUSED;
  }

  /**
   * `Keep-Alive: timeout=N` from the server: the connection is kept idle for N seconds less the
   * threshold (at most keepAliveMaxTimeout), or not kept when that leaves nothing — undici's rule.
   */
  private applyKeepAliveHint(): void {
    const hint = this.keepAliveHint;
    const at = hint.indexOf('timeout=');
    if (at < 0) return;
    let seconds = 0;
    let digits = 0;
    for (let i = at + 8; i < hint.length; i++) {
      const c = hint.charCodeAt(i) - 48;
      if (c < 0 || c > 9) break;
      seconds = seconds * 10 + c;
      digits++;
    }
    if (digits === 0) return;
    const s = this.owner.settings;
    const timeout = Math.min(seconds * 1000 - s.keepAliveTimeoutThreshold, s.keepAliveMaxTimeout);
    if (timeout <= 0) this.reusable = false;
    else this.idleTimeout = timeout;
  }

  // ---- the connection's timer ------------------------------------------------------------

  private arm(kind: Timer, delay: number): void {
    if (delay <= 0) {
      this.disarm();
      return;
    }
    this.timerKind = kind;
    this.timerDelay = delay;
    this.deadline = performance.now() + delay;
    this.schedule();
  }

  /** The current phase starts its delay again from now (a body chunk, a resumed parser). */
  private restartTimer(): void {
    this.deadline = performance.now() + this.timerDelay;
    this.schedule();
  }

  /** A Timeout that fires at the deadline or before it (a later one is replaced). */
  private schedule(): void {
    if (this.timer !== null) {
      if (this.timerAt <= this.deadline) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(onConnectionTimer, this.deadline - performance.now(), this).unref();
    this.timerAt = this.deadline;
  }

  /** No phase is timed; a Timeout still set fires and finds nothing to do. */
  private disarm(): void {
    this.timerKind = Timer.NONE;
  }

  /** The connection is closed or handed over: its Timeout is cleared, not left to hold it. */
  private stopTimer(): void {
    this.timerKind = Timer.NONE;
    if (this.timer === null) return;
    clearTimeout(this.timer);
    this.timer = null;
  }

  timerFired(): void {
    this.timer = null;
    if (this.timerKind === Timer.NONE) return;
    if (performance.now() < this.deadline) {
      this.schedule();
      return;
    }
    switch (this.timerKind) {
      case Timer.CONNECT: {
        const s = this.owner.settings;
        this.destroy(new UpstreamError(`Connect Timeout Error (attempted address: ${s.address}:${s.port}, timeout: ${s.connectTimeout}ms)`, 'UND_ERR_CONNECT_TIMEOUT', 'ConnectTimeoutError'));
        return;
      }
      case Timer.HEADERS:
        // Still sending a body the server reads: not the server's delay yet (undici's rule).
        if (this.writing && !this.socket.writableNeedDrain) {
          this.restartTimer();
          return;
        }
        this.destroy(new UpstreamError(`no response headers within ${this.timerDelay} ms (headersTimeout)`, 'UND_ERR_HEADERS_TIMEOUT', 'HeadersTimeoutError'));
        return;
      case Timer.BODY:
        // Paused by the handler: the silence is ours; resume() starts the timer again.
        if (this.paused) return;
        this.destroy(new UpstreamError(`no response body data within ${this.timerDelay} ms (bodyTimeout)`, 'UND_ERR_BODY_TIMEOUT', 'BodyTimeoutError'));
        return;
      case Timer.IDLE:
        if (this.state === State.IDLE) this.destroy(null);
        return;
      default:
    }
  }

  tlsSession(session: Buffer): void {
    this.owner.tlsSession = session;
  }
}

/** Which watched response field a name is (only names of 10 or 14 characters need a look). */
function watchedField(name: Buffer): Watched {
  if (name.length === 10) return sameLowerName(name, 'keep-alive') ? Watched.KEEP_ALIVE : Watched.NONE;
  if (name.length === 14) return sameLowerName(name, 'content-length') ? Watched.CONTENT_LENGTH : Watched.NONE;
  return Watched.NONE;
}

/** `name` spells the lower-case `lower`, ignoring ASCII case (lengths are equal). */
function sameLowerName(name: Buffer, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) if ((name[i]! | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

const LAST_CHUNK = '0\r\n\r\n';

/**
 * The last chunk of a chunked body with its trailer section (RFC 9112 §7.1.2). The fields come
 * filtered by the exchange (request-trailers.ts: token names, no CR, LF or NUL in values).
 */
function lastChunk(trailers: readonly string[] | null): string {
  if (trailers === null) return LAST_CHUNK;
  let out = '0\r\n';
  for (let i = 0; i < trailers.length; i += 2) out += `${trailers[i]!}: ${trailers[i + 1]!}\r\n`;
  return out + '\r\n';
}

// Socket, body and timer callbacks shared by every connection: the socket or body carries it.
function onSocketConnect(this: TaggedSocket): void {
  this[kConnection]?.connected();
}

function onSocketData(this: TaggedSocket, chunk: Buffer): void {
  this[kConnection]?.received(chunk);
}

/**
 * Reading a cleartext upstream socket (`onread`): the kernel copies into one buffer shared by
 * every connection, large enough for a whole 64 KiB response with its head, so a response of
 * that size is read with one system call and written on to the client with one (the socket's
 * default reads take 64 KiB at most, each into a new allocation cut down to what arrived: two
 * reads and two writes for the same response). Each read is then copied into the current slab
 * (256 KiB) and parsed as a view of it; its body chunks are lent to the handler (read-lease.ts).
 *
 * Reuse: when every chunk a read lent was given back before the next read (the client socket
 * took the bytes at once) and the connection kept no view of it, the next read is copied over
 * the same place, so a process serving fast clients reads into the same memory all along. A
 * chunk still held (a slow client's queued write, an HTTP/2 stream, a consumer that keeps the
 * body) keeps its place: the next read goes after it, and a new slab is taken when this one
 * is full; the old slab lives as long as a view of it does. Bytes held while parsing is
 * paused are copied out (see received()). A read into a socket handed over to an upgrade is
 * never read over. Before reuse, every read was new memory (about 64 KiB per 64 KiB
 * response), which V8 promoted and collected with mark-compacts several times a second.
 * Not re-entrant, like the parser: the callback copies before anything else runs.
 */
const READ_BUFFER_SIZE = 256 * 1024;
const SLAB_SIZE = 256 * 1024;
let readBuffer: Buffer | null = null;
let slab: Buffer = Buffer.alloc(0);
let slabUsed = 0;
/** Where the previous read was copied, and whether its place may be read into again. */
let lastReadAt = 0;
let lastReadReusable = false;

function sharedReadBuffer(): Buffer {
  return (readBuffer ??= Buffer.allocUnsafeSlow(READ_BUFFER_SIZE));
}

function onSocketRead(this: TaggedSocket, length: number, buffer: Buffer): boolean {
  if (lastReadReusable && readLease.outstanding === 0) slabUsed = lastReadAt;
  if (slabUsed + length > slab.length) {
    slab = Buffer.allocUnsafeSlow(SLAB_SIZE);
    slabUsed = 0;
  }
  lastReadAt = slabUsed;
  lastReadReusable = false;
  const chunk = slab.subarray(slabUsed, slabUsed + length);
  buffer.copy(chunk, 0, 0, length);
  slabUsed = (slabUsed + length + 7) & ~7;
  readLease.begin();
  const connection = this[kConnection];
  if (connection !== undefined) {
    lastReadReusable = connection.receivedInSlab(chunk);
    return true;
  }
  // Handed over to an upgrade: the new owner reads the socket as a stream.
  return this.push(chunk);
}

function onSocketEnd(this: TaggedSocket): void {
  this[kConnection]?.socketEnded();
}

function onSocketError(this: TaggedSocket, err: Error): void {
  this[kConnection]?.socketError(err);
}

function onSocketClose(this: TaggedSocket): void {
  this[kConnection]?.socketClosed();
}

function onSocketDrain(this: TaggedSocket): void {
  this[kConnection]?.drained();
}

function onTlsSession(this: TaggedSocket, session: Buffer): void {
  this[kConnection]?.tlsSession(session);
}

function onBodyData(this: TaggedBody, chunk: Buffer): void {
  this[kConnection]?.bodyChunk(chunk);
}

function onBodyEnd(this: TaggedBody): void {
  this[kConnection]?.bodyEnded();
}

function onBodyError(this: TaggedBody, err: Error): void {
  this[kConnection]?.bodyFailed(err);
}

function onBodyClose(this: TaggedBody): void {
  // 'close' before 'end': the stream was destroyed (the client went away).
  this[kConnection]?.bodyFailed(null);
}

function onConnectionTimer(connection: Http1UpstreamConnection): void {
  connection.timerFired();
}

function onValidated(connection: Http1UpstreamConnection): void {
  connection.validated();
}

/** From the check phase: one more loop iteration, past the next poll for I/O. */
function onPolledAgain(connection: Http1UpstreamConnection): void {
  setImmediate(onValidated, connection);
}

/** Interim responses have no body: there is nothing to resume. */
function noResume(): void {}

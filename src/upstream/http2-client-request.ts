import type { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { ErrorCode, errorCodeName, FRAME_HEADER_LENGTH } from '../codec/http2/frame-types.js';
import { fieldBound, writeField, writePseudoHeaders } from '../codec/http2/hpack-encoder.js';
import { CLIENT_LIMITS, type Http2ClientConnection } from './http2-client-connection.js';
import { UpstreamError } from './upstream-error.js';
import { contentLengthValue } from './content-length-value.js';
import { endTrailers, trailerSourceOf } from './request-trailer-source.js';
import { CONNECTION_SPECIFIC, fieldProblem } from '../codec/http2/field-validation.js';

/**
 * The upstream reset the stream (RST_STREAM) before the response ended: REFUSED_STREAM is
 * reported as a refusal (safe to retry), any other code as a reset; `http2Code` is the code.
 */
export class Http2StreamResetError extends UpstreamError {
  constructor(readonly http2Code: number) {
    const refused = http2Code === ErrorCode.REFUSED_STREAM;
    super(refused ? 'the upstream refused the stream (REFUSED_STREAM)' : `the upstream reset the stream (${errorCodeName(http2Code)})`, refused ? 'UND_ERR_SOCKET' : 'ECONNRESET', refused ? 'SocketError' : 'Error');
  }
}

/** What a request needs of its pool. */
export interface RequestOwner {
  dequeue(request: Http2ClientRequest): void;
}

/**
 * Header fields HTTP/2 forbids (RFC 9113 §8.2.2) or carries as pseudo-headers. The list reaching
 * the pool has hop-by-hop fields removed already; these are what is left of HTTP/1.1 framing.
 */
const NOT_SENT = new Set(['host', 'connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade', 'http2-settings']);

/** A :status value: exactly three digits, else -1. */
function threeDigits(value: string): number {
  if (value.length !== 3) return -1;
  let n = 0;
  for (let i = 0; i < 3; i++) {
    const c = value.charCodeAt(i) - 48;
    if (c < 0 || c > 9) return -1;
    n = n * 10 + c;
  }
  return n;
}

/** Encoded request heads are built here (grown when a head does not fit), then copied into their frame. */
let headScratch = Buffer.allocUnsafe(16_384);

/** Name Buffers of response fields seen before (the proxy's raw header list wants Buffers). */
const NAME_BUFFERS = new Map<string, Buffer>();
const NAME_BUFFERS_MAX = 1_000;

function nameBuffer(name: string): Buffer {
  let b = NAME_BUFFERS.get(name);
  if (b === undefined) {
    b = Buffer.from(name, 'latin1');
    if (NAME_BUFFERS.size < NAME_BUFFERS_MAX) NAME_BUFFERS.set(name, b);
  }
  return b;
}

const kRequest = Symbol('switchyard.http2ClientRequest');
type TaggedBody = Readable & { [kRequest]?: Http2ClientRequest };

/**
 * One request on a stream of an Http2ClientConnection, reported to an undici-style handler
 * (onConnect, onHeaders, onData, onComplete, onError), as Http2Pool's requests are. Response
 * data the handler cannot take (onData returned false) is held, and its stream window is not
 * given back, until the handler resumes: a slow client slows its upstream stream only.
 */
export class Http2ClientRequest {
  streamId = 0;
  /** What we may still send on the stream. */
  sendWindow = 0;
  /** The connection's DATA frame count at this stream's latest DATA frame (turns on a drain). */
  lastSent = 0;
  /** What the upstream may still send on the stream. */
  receiveWindow = CLIENT_LIMITS.streamWindow;
  /** Response bytes passed on and not yet returned by WINDOW_UPDATE. */
  unreturned = 0;
  gotResponse = false;
  /** END_STREAM received. */
  remoteEnded = false;
  private localEnded = false;
  private done = false;
  private connection: Http2ClientConnection | null = null;
  private paused = false;
  /** Response data held while paused, and bytes delivered while paused (window held back). */
  private held: Buffer[] | null = null;
  private heldBytes = 0;
  private completePending = false;
  /** The response's Content-Length, checked against its DATA (RFC 9113 §8.1.1), or -1. */
  private expectedLength = -1;
  private receivedLength = 0;
  private trailers: Record<string, string | string[]> | null = null;
  /**
   * The request body chunk waiting for send window or for the socket to drain, and how far it
   * was sent (a chunk sent whole while the socket filled up waits here, empty, for the drain).
   */
  private bodyChunk: Buffer | null = null;
  private bodyOffset = 0;
  /** The body has ended: what is left of bodyChunk is its last bytes. */
  private bodyEnding = false;
  /** Trailer fields to send after the last DATA (read when the body ended), or null. */
  private endFields: readonly string[] | null = null;
  private bodyStream: TaggedBody | null = null;
  private headersTimer: NodeJS.Timeout | null = null;
  private bodyTimer: NodeJS.Timeout | null = null;
  private lastDataAt = 0;

  constructor(
    private readonly owner: RequestOwner,
    private readonly options: Dispatcher.DispatchOptions,
    private readonly handler: Dispatcher.DispatchHandler,
  ) {
    const body = options.body as Buffer | string | Readable | null | undefined;
    if (body != null && typeof body !== 'string' && !Buffer.isBuffer(body)) {
      // From dispatch on, as the HTTP/1.1 pool does: a body that fails while the request waits
      // for a connection (the exchange refusing a body too large) fails the request instead of
      // being an unhandled 'error'. Kept after stopBody, for a body destroyed once it is over.
      (body as TaggedBody)[kRequest] = this;
      body.on('error', onBodyError);
    }
  }

  /** Opens the stream on `connection`, tells the handler (onConnect), sends head and body. */
  start(connection: Http2ClientConnection, https: boolean, defaultAuthority: string): void {
    const opts = this.options;
    const body = opts.body as Buffer | string | Readable | null | undefined;
    const bodyless = body == null || ((Buffer.isBuffer(body) || typeof body === 'string') && body.length === 0);
    const end = encodeHead(opts, https, defaultAuthority);
    this.connection = connection;
    this.sendWindow = connection.peerInitialWindow;
    this.streamId = connection.openStream(this, headScratch, end, bodyless);
    this.localEnded = bodyless;
    const headersTimeout = opts.headersTimeout ?? 0;
    if (headersTimeout > 0) this.headersTimer = setTimeout(onHeadersTimeout, headersTimeout, this);
    this.handler.onConnect?.(this.abort);
    if (this.done || bodyless) return;
    if (typeof body === 'string' || Buffer.isBuffer(body)) {
      this.sendBody(typeof body === 'string' ? Buffer.from(body) : body, true);
    } else {
      const stream = body as TaggedBody;
      this.bodyStream = stream;
      stream.on('data', onBodyData);
      stream.once('end', onBodyEnd);
    }
  }

  /**
   * Sends `chunk` as far as the windows and the socket allow; the rest waits for windowOpened.
   * `last`: the body ends with it.
   */
  sendBody(chunk: Buffer, last: boolean): void {
    if (this.done || this.connection === null) return;
    if (last) this.endOfBody();
    const waiting = this.bodyChunk;
    if (waiting !== null) {
      // A chunk the body stream had ready when it was paused: it waits behind the first.
      if (this.bodyOffset === waiting.length) this.bodyChunk = chunk;
      else this.bodyChunk = Buffer.concat([waiting.subarray(this.bodyOffset), chunk]);
      this.bodyOffset = 0;
      return;
    }
    this.sendFrom(chunk, 0, false);
  }

  /** The request body stream ended. */
  bodyEnded(): void {
    if (this.done) return;
    if (this.bodyChunk !== null) this.endOfBody();
    else this.sendBody(EMPTY, true);
  }

  /** Send window opened or the socket drained: the waiting body chunk goes on. */
  windowOpened(): void {
    const chunk = this.bodyChunk;
    if (this.done || chunk === null || this.connection === null) return;
    this.sendFrom(chunk, this.bodyOffset, true);
  }

  /** The body ended: its trailers, if any, are read now (RequestTrailerSource's contract). */
  private endOfBody(): void {
    if (this.bodyEnding) return;
    this.bodyEnding = true;
    this.endFields = endTrailers(trailerSourceOf(this.options));
  }

  /**
   * Sends `chunk[offset..]`. What the windows or the socket do not take waits (the body stream
   * paused); a body that ended gets END_STREAM on its last DATA frame, or on a trailing HEADERS
   * frame with its trailers. A body that goes on while the socket is full (write returned false)
   * pauses until the socket drains: the upstream's windows alone do not bound what is buffered.
   * `waited`: the chunk was waiting (the body stream is paused).
   */
  private sendFrom(chunk: Buffer, offset: number, waited: boolean): void {
    const connection = this.connection!;
    const ending = this.bodyEnding;
    const reached = connection.sendData(this, chunk, offset, ending && this.endFields === null);
    if (reached < chunk.length) {
      this.bodyChunk = chunk;
      this.bodyOffset = reached;
      if (!waited) this.bodyStream?.pause();
      return;
    }
    if (ending) {
      this.bodyChunk = null;
      if (this.endFields !== null) this.sendTrailers(this.endFields);
      this.localEnded = true;
      return;
    }
    if (connection.socketFull) {
      // Sent whole, but the socket is full now: take no more until it drains.
      this.bodyChunk = EMPTY;
      this.bodyOffset = 0;
      connection.waitForDrain(this);
      if (!waited) this.bodyStream?.pause();
      return;
    }
    this.bodyChunk = null;
    if (waited) this.bodyStream?.resume();
  }

  /** The request's trailers as a HEADERS frame (and CONTINUATION) with END_STREAM (RFC 9113 §8.1). */
  private sendTrailers(fields: readonly string[]): void {
    let bound = FRAME_HEADER_LENGTH;
    for (let i = 0; i < fields.length; i += 2) bound += fieldBound(fields[i]!, fields[i + 1]!);
    if (headScratch.length < bound) headScratch = Buffer.allocUnsafe(Math.max(bound, 2 * headScratch.length));
    let pos = FRAME_HEADER_LENGTH;
    for (let i = 0; i < fields.length; i += 2) pos = writeField(headScratch, pos, fields[i]!, fields[i + 1]!);
    this.connection!.sendHeaderBlock(this, headScratch, pos, true);
  }

  /** Fails the request (never started, or its stream or connection failed). */
  fail(err: Error): void {
    if (this.done) return;
    this.done = true;
    this.clearTimers();
    this.stopBody();
    const connection = this.connection;
    if (connection !== null) connection.resetStream(this, ErrorCode.CANCEL);
    else this.owner.dequeue(this);
    this.handler.onError?.(err);
  }

  /** The handler's abort (onConnect). */
  readonly abort = (err?: Error): void => {
    this.fail(err ?? new UpstreamError('request aborted', 'UND_ERR_ABORTED', 'RequestAbortedError'));
  };

  /** The handler's resume (onHeaders): held data goes on, and the window is given back. */
  readonly resume = (): void => {
    if (this.done || !this.paused) return;
    this.paused = false;
    const held = this.held;
    while (held !== null && held.length > 0 && !this.paused && !this.done) this.deliver(held.shift()!);
    if (this.paused || this.done) return;
    if (this.heldBytes > 0 && this.connection !== null) {
      const bytes = this.heldBytes;
      this.heldBytes = 0;
      this.connection.returnStreamWindow(this, bytes);
    }
    if (this.completePending) this.complete();
  };

  /** A decoded header block: the response head, a 1xx, or trailers. */
  headerBlock(fields: string[], endStream: boolean): void {
    if (this.done) return;
    if (this.remoteEnded) return this.malformed('the upstream sent a header block after END_STREAM');
    let status = -1;
    let regularSeen = false;
    const raw: Buffer[] = [];
    for (let i = 0; i < fields.length; i += 2) {
      const name = fields[i]!;
      const value = fields[i + 1]!;
      if (name.charCodeAt(0) === 58 /* : */) {
        if (regularSeen || name !== ':status' || status !== -1 || this.gotResponse) return this.malformed(`the upstream sent the pseudo-header ${name} where it is not allowed`);
        status = threeDigits(value);
        if (status < 100) return this.malformed(`the upstream sent :status ${JSON.stringify(value)}`);
        continue;
      }
      regularSeen = true;
      // Checked here because nothing after checks again: names and values go on as they are
      // into HTTP/1.1 response heads, where a CR or LF would start a field or a response of
      // the upstream's making (RFC 9113 §8.2.1; nghttp2 refuses these for node:http2's client).
      const problem = fieldProblem(name, value);
      if (problem !== null) return this.malformed(`the upstream sent a field ${JSON.stringify(name)} ${problem}`);
      if (name === 'content-length' && !this.gotResponse) {
        const length = contentLengthValue(value);
        if (length === -1 || (this.expectedLength !== -1 && this.expectedLength !== length)) return this.malformed(`the upstream sent an invalid Content-Length ${JSON.stringify(value)}`);
        this.expectedLength = length;
      }
      if (CONNECTION_SPECIFIC.has(name) || (name === 'te' && value !== 'trailers')) return this.malformed(`the upstream sent the connection-specific field ${name}`);
      if (this.gotResponse) continue;
      raw.push(nameBuffer(name), Buffer.from(value, 'latin1'));
    }
    if (this.gotResponse) {
      // Trailers: they end the stream (RFC 9113 §8.1).
      if (!endStream) return this.malformed('the upstream sent a second header block without END_STREAM');
      this.trailers = trailerObject(fields);
      this.ended();
      return;
    }
    if (status === -1) return this.malformed('the upstream sent a response without :status');
    if (status < 200) {
      if (endStream) return this.malformed(`the upstream ended the stream with an interim ${status} response`);
      this.handler.onHeaders?.(status, raw, noResume, '');
      return;
    }
    this.gotResponse = true;
    // HEAD, 204 and 304 responses announce a length they do not carry (RFC 9110 §8.6).
    if (this.options.method === 'HEAD' || status === 204 || status === 304) this.expectedLength = -1;
    if (endStream && this.expectedLength > 0) return this.malformed(`the upstream ended the response with no data after Content-Length ${this.expectedLength}`);
    this.clearHeadersTimer();
    const bodyTimeout = this.options.bodyTimeout ?? 0;
    if (bodyTimeout > 0 && !endStream) {
      this.lastDataAt = performance.now();
      this.bodyTimer = setTimeout(onBodyTimer, bodyTimeout, this);
    }
    if (this.handler.onHeaders?.(status, raw, this.resume, '') === false) this.paused = true;
    if (endStream && !this.done) this.ended();
  }

  /** Response data (padding removed); `endStream`: the last of it. */
  data(chunk: Buffer, endStream: boolean): void {
    if (this.done) return;
    if (this.expectedLength !== -1) {
      this.receivedLength += chunk.length;
      if (this.receivedLength > this.expectedLength || (endStream && this.receivedLength !== this.expectedLength)) {
        this.malformed(`the upstream sent ${this.receivedLength}${endStream ? '' : ' or more'} bytes of data after Content-Length ${this.expectedLength}`);
        return;
      }
    }
    if (this.bodyTimer !== null) this.lastDataAt = performance.now();
    if (this.paused) {
      if (chunk.length > 0) (this.held ??= []).push(chunk);
    } else if (chunk.length > 0) {
      this.deliver(chunk);
    }
    if (endStream && !this.done) this.ended();
  }

  private deliver(chunk: Buffer): void {
    if (this.handler.onData?.(chunk) === false) {
      this.paused = true;
      this.heldBytes += chunk.length;
    } else if (this.paused) {
      this.heldBytes += chunk.length;
    } else if (!this.remoteEnded) {
      this.connection!.returnStreamWindow(this, chunk.length);
    }
  }

  /** END_STREAM from the upstream: complete now, or once held data is delivered. */
  private ended(): void {
    this.remoteEnded = true;
    this.clearTimers();
    if (this.paused || (this.held !== null && this.held.length > 0)) {
      this.completePending = true;
      return;
    }
    this.complete();
  }

  private complete(): void {
    if (this.done) return;
    this.done = true;
    this.clearTimers();
    const connection = this.connection!;
    // A request body still streaming is not needed any more: stop it and close the stream
    // (RST_STREAM NO_ERROR, RFC 9113 §8.1). Otherwise the stream is closed on both sides.
    if (!this.localEnded) {
      this.stopBody();
      connection.resetStream(this, ErrorCode.NO_ERROR);
    } else connection.forget(this);
    // undici's type says string[]; HTTP/2 trailers go as an object, as Http2Pool reports them.
    this.handler.onComplete?.(this.trailers as unknown as string[] | null);
  }

  /** RST_STREAM from the upstream (the connection has forgotten the stream). */
  reset(code: number): void {
    if (this.done) return;
    if (code === ErrorCode.NO_ERROR && this.remoteEnded) return;
    this.fail(new Http2StreamResetError(code));
  }

  private malformed(message: string): void {
    this.fail(new UpstreamError(`${message} (a malformed response, RFC 9113 §8.1.1; stream reset)`, 'SWITCHYARD_UPSTREAM_FRAMING', 'UpstreamFramingError'));
  }

  headersTimedOut(): void {
    this.headersTimer = null;
    this.fail(new UpstreamError(`no response headers within ${this.options.headersTimeout} ms`, 'UND_ERR_HEADERS_TIMEOUT', 'HeadersTimeoutError'));
  }

  bodyTimerFired(): void {
    this.bodyTimer = null;
    if (this.done) return;
    const timeout = this.options.bodyTimeout ?? 0;
    const left = timeout - (performance.now() - this.lastDataAt);
    // A paused request waits on its client, not on the upstream.
    if (left > 0 || this.paused) this.bodyTimer = setTimeout(onBodyTimer, left > 0 ? left : timeout, this);
    else this.fail(new UpstreamError(`no response data within ${timeout} ms`, 'UND_ERR_BODY_TIMEOUT', 'BodyTimeoutError'));
  }

  private stopBody(): void {
    const stream = this.bodyStream;
    if (stream === null) return;
    this.bodyStream = null;
    this.bodyChunk = null;
    stream.off('data', onBodyData);
    stream.off('end', onBodyEnd);
    stream[kRequest] = undefined;
  }

  private clearHeadersTimer(): void {
    if (this.headersTimer === null) return;
    clearTimeout(this.headersTimer);
    this.headersTimer = null;
  }

  private clearTimers(): void {
    this.clearHeadersTimer();
    if (this.bodyTimer !== null) {
      clearTimeout(this.bodyTimer);
      this.bodyTimer = null;
    }
  }
}

const EMPTY = Buffer.alloc(0);


/** Trailer fields as an object (repeated names as arrays), as node:http2 reports them. */
function trailerObject(fields: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    const value = fields[i + 1]!;
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else out[name] = [existing, value];
  }
  return out;
}

/** Interim responses carry no body: there is nothing to resume. */
function noResume(): void {}

function onHeadersTimeout(request: Http2ClientRequest): void {
  request.headersTimedOut();
}

function onBodyTimer(request: Http2ClientRequest): void {
  request.bodyTimerFired();
}

function onBodyData(this: TaggedBody, chunk: Buffer | string): void {
  this[kRequest]?.sendBody(typeof chunk === 'string' ? Buffer.from(chunk) : chunk, false);
}

function onBodyEnd(this: TaggedBody): void {
  this[kRequest]?.bodyEnded();
}

function onBodyError(this: TaggedBody, err: Error): void {
  this[kRequest]?.abort(err);
}

/**
 * Encodes the request head into headScratch after FRAME_HEADER_LENGTH bytes of room: the
 * pseudo-headers from the method, path and Host (or the pool's authority), then the other
 * fields lower-cased, minus what HTTP/2 forbids, TE only as "trailers". Returns the end offset.
 */
function encodeHead(opts: Dispatcher.DispatchOptions, https: boolean, defaultAuthority: string): number {
  const list = opts.headers as string[] | null | undefined;
  let authority = defaultAuthority;
  let bound = FRAME_HEADER_LENGTH + 64 + opts.method.length + opts.path.length + authority.length;
  if (list != null) {
    for (let i = 0; i < list.length; i += 2) {
      bound += fieldBound(list[i]!, list[i + 1]!);
      if (list[i]!.length === 4 && list[i]!.toLowerCase() === 'host') authority = list[i + 1]!;
    }
  }
  if (headScratch.length < bound) headScratch = Buffer.allocUnsafe(Math.max(bound, 2 * headScratch.length));
  const buf = headScratch;
  let pos = writePseudoHeaders(buf, FRAME_HEADER_LENGTH, opts.method, https, authority, opts.path);
  if (list != null) {
    for (let i = 0; i < list.length; i += 2) {
      const name = list[i]!.toLowerCase();
      if (NOT_SENT.has(name)) continue;
      const value = list[i + 1]!;
      if (name === 'te') {
        if (value.toLowerCase().includes('trailers')) pos = writeField(buf, pos, 'te', 'trailers');
        continue;
      }
      pos = writeField(buf, pos, name, value);
    }
  }
  return pos;
}

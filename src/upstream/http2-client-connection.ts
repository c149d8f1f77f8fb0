import type { Socket } from 'node:net';
import { DispatchingSink, type FrameHandler } from '../codec/http2/frame-dispatch.js';
import { FrameOutput } from '../codec/http2/frame-output.js';
import { FrameReader } from '../codec/http2/frame-reader.js';
import { CLIENT_PREFACE, DEFAULT_MAX_FRAME_SIZE, DEFAULT_WINDOW_SIZE, ErrorCode, errorCodeName, Flag, MAX_WINDOW_SIZE, Setting } from '../codec/http2/frame-types.js';
import { goawayFrame, pingAckFrame, rstStreamFrame, SETTINGS_ACK, settingsFrame, windowUpdateFrame } from '../codec/http2/frame-writer.js';
import { HpackDecoder } from '../codec/http2/hpack-decoder.js';
import { applyPeerSettings, windowIncrement, type PeerSettingsTarget } from '../codec/http2/peer-settings.js';
import { HpackError } from '../codec/http2/hpack-error.js';
import { UpstreamError } from './upstream-error.js';
import type { Http2ClientRequest } from './http2-client-request.js';

/** Our limits on what an upstream sends (advertised in our SETTINGS where RFC 9113 has one). */
export const CLIENT_LIMITS = {
  /** SETTINGS_MAX_HEADER_LIST_SIZE: decoded response head or trailers, RFC 9113 terms. */
  maxHeaderListSize: 65_536,
  /** CONTINUATION frames after one HEADERS (a flood of empty ones is cut here). */
  maxContinuations: 32,
  /** Our SETTINGS_INITIAL_WINDOW_SIZE: response bytes a stream may have unread. */
  streamWindow: DEFAULT_WINDOW_SIZE,
  /** The connection receive window (raised at start; streams bound what is unread). */
  connectionWindow: 1 << 24,
} as const;

/** What a connection tells its pool. */
export interface ConnectionOwner {
  /** The upstream's first SETTINGS arrived: streams may be opened. */
  connectionReady(connection: Http2ClientConnection): void;
  /** A stream ended: its slot is free. */
  streamEnded(connection: Http2ClientConnection): void;
  /** The socket closed; `error` is why, when it was not a clean close. */
  connectionClosed(connection: Http2ClientConnection, error: Error | null): void;
}

const OUR_SETTINGS = settingsFrame([
  [Setting.ENABLE_PUSH, 0],
  [Setting.MAX_HEADER_LIST_SIZE, CLIENT_LIMITS.maxHeaderListSize],
]);
const CONNECTION_WINDOW_UPDATE = windowUpdateFrame(0, CLIENT_LIMITS.connectionWindow - DEFAULT_WINDOW_SIZE);
/** Unreturned receive window worth a WINDOW_UPDATE (half a window: few frames, no stalls). */
const STREAM_UPDATE_THRESHOLD = CLIENT_LIMITS.streamWindow >>> 1;
const CONNECTION_UPDATE_THRESHOLD = CLIENT_LIMITS.connectionWindow >>> 1;

/** A connection-level failure: a protocol violation by the upstream, reported to the requests in flight. */
export class Http2ConnectionError extends UpstreamError {
  constructor(
    message: string,
    readonly http2Code: number,
  ) {
    // Reported as a reset (what node:http2's sessions report for the same failures): the
    // exchange answers 502 upstream_reset, or retries where the policy allows.
    super(message, 'ECONNRESET', 'Http2ConnectionError');
  }
}

/**
 * One HTTP/2 connection to an upstream (RFC 9113), client side, on a net or TLS socket:
 * preface and SETTINGS, streams opened in order, HEADERS/CONTINUATION decoded by one HPACK
 * decoder, DATA under flow control both ways, PING answered, GOAWAY and RST_STREAM handled.
 * Every protocol violation by the upstream is a connection error: GOAWAY with its code, the
 * socket closed, every request in flight failed (none is left hanging).
 *
 * Hand-written rather than node:http2 (whose ClientHttp2Session costs an AsyncResource, a
 * Duplex stream and more per request; see docs/performance.md) because npm has no well-kept
 * pure-JS HTTP/2 client besides node:http2 itself.
 */
export class Http2ClientConnection implements FrameHandler, PeerSettingsTarget {
  /** Streams allowed at once: ours, lowered by the upstream's SETTINGS_MAX_CONCURRENT_STREAMS. */
  limit: number;
  active = 0;
  /** SETTINGS received: streams may be opened. */
  ready = false;
  /** False after GOAWAY or an error: requests in flight finish, no new ones. */
  usable = true;
  closed = false;

  private readonly streams = new Map<number, Http2ClientRequest>();
  private nextStreamId = 1;
  private readonly reader: FrameReader;
  private readonly decoder = new HpackDecoder();
  /** The header block being gathered (HEADERS + CONTINUATION), its stream and flags. */
  private blockParts: Buffer[] = [];
  private blockLength = 0;
  private blockStream = 0;
  private blockEndStream = false;
  private continuations = 0;
  private readonly fields: string[] = [];

  /** Peer settings. */
  maxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  peerInitialWindow = DEFAULT_WINDOW_SIZE;
  /** What we may still send on the connection. */
  sendWindow = DEFAULT_WINDOW_SIZE;
  /** Received bytes not yet returned by WINDOW_UPDATE on stream 0. */
  private unreturned = 0;
  private closeError: Error | null = null;
  private idleTimer: NodeJS.Timeout | null = null;
  private idleAt = 0;
  /** Until the upstream's first SETTINGS (connect, TLS and SETTINGS within connectTimeout). */
  private connectTimer: NodeJS.Timeout | null;
  /**
   * Streams waiting for send window or for the socket to drain, in the order they started
   * waiting: a drain serves them in turn (see unblock), so no stream starves another.
   */
  private readonly blocked = new Set<Http2ClientRequest>();
  /** Counts DATA frames written: a request's `lastSent` is this count at its latest frame. */
  private sendSequence = 0;
  /**
   * Frames of this turn of the event loop (the HEADERS and DATA of every request a read of the
   * client's frames started), written to the socket together once the turn's reads are done.
   */
  private readonly output: FrameOutput;

  constructor(
    private readonly owner: ConnectionOwner,
    readonly socket: Socket,
    maxConcurrentStreams: number,
    private readonly keepAliveTimeout: number,
    connectTimeout: number,
  ) {
    this.limit = maxConcurrentStreams;
    this.connectTimer = setTimeout(onConnectTimeout, connectTimeout, this, connectTimeout);
    this.reader = new FrameReader(new DispatchingSink(this), DEFAULT_MAX_FRAME_SIZE);
    this.output = new FrameOutput(socket);
    socket.setNoDelay(true);
    socket.on('data', onSocketData);
    socket.on('error', onSocketError);
    socket.on('close', onSocketClose);
    socket.on('drain', onSocketDrain);
    (socket as TaggedSocket)[kConnection] = this;
  }

  /** Writes the preface and our SETTINGS (call once the socket is connected). */
  start(): void {
    this.socket.cork();
    this.socket.write(CLIENT_PREFACE);
    this.socket.write(OUR_SETTINGS);
    this.socket.write(CONNECTION_WINDOW_UPDATE);
    this.socket.uncork();
  }

  /** Opens a stream for `request` with the encoded head `block[9, end)`. */
  openStream(request: Http2ClientRequest, block: Buffer, end: number, endStream: boolean): number {
    const id = this.nextStreamId;
    this.nextStreamId += 2;
    if (this.nextStreamId > MAX_WINDOW_SIZE) this.usable = false; // stream ids exhausted
    this.streams.set(id, request);
    this.active++;
    if (this.idleTimer !== null) {
      clearTimeout(this.idleTimer);
      this.idleTimer = null;
    }
    this.output.writeHeaders(block, end, id, endStream, this.maxFrameSize);
    return id;
  }

  /** A header block `block[9, end)` on the request's open stream (its trailers). */
  sendHeaderBlock(request: Http2ClientRequest, block: Buffer, end: number, endStream: boolean): void {
    if (this.closed || this.streams.get(request.streamId) !== request) return;
    this.output.writeHeaders(block, end, request.streamId, endStream, this.maxFrameSize);
  }

  /**
   * The socket holds more than its high-water mark (a write returned false and 'drain' has not
   * come yet): request bodies wait, so what the proxy buffers for a slow upstream stays bounded
   * by the socket's high-water mark and a frame, not by the upstream's flow-control windows.
   */
  get socketFull(): boolean {
    return this.output.full;
  }

  /** Bytes written to the socket (or gathered for it) and not yet taken by the kernel. */
  get bufferedBytes(): number {
    return this.output.queuedBytes;
  }

  /** The request goes on (windowOpened) once the socket drains. */
  waitForDrain(request: Http2ClientRequest): void {
    if (this.streams.get(request.streamId) === request) this.blocked.add(request);
  }

  /**
   * Sends what of `chunk[offset..]` the windows and the socket allow; returns the offset
   * reached. With `endStream` the last frame ends the stream (once the whole chunk is sent).
   * A request stopped short waits in `blocked` for a window or the socket's drain.
   */
  sendData(request: Http2ClientRequest, chunk: Buffer, offset: number, endStream: boolean): number {
    const id = request.streamId;
    const output = this.output;
    while (offset < chunk.length || endStream) {
      if (offset < chunk.length && output.full) {
        this.blocked.add(request);
        return offset;
      }
      const remaining = chunk.length - offset;
      // A window can be negative (SETTINGS_INITIAL_WINDOW_SIZE lowered, RFC 9113 §6.9.2); an
      // empty END_STREAM frame is not flow-controlled.
      const length = remaining === 0 ? 0 : Math.min(remaining, this.sendWindow, request.sendWindow, this.maxFrameSize);
      if (length <= 0 && remaining > 0) {
        this.blocked.add(request);
        return offset;
      }
      const last = endStream && offset + length === chunk.length;
      request.lastSent = ++this.sendSequence;
      output.writeDataHeader(id, length, last);
      if (length > 0) output.writeRange(chunk, offset, offset + length);
      this.sendWindow -= length;
      request.sendWindow -= length;
      offset += length;
      if (last) break;
    }
    return offset;
  }

  /** Gives back `bytes` of response data the request has passed on (stream window). */
  returnStreamWindow(request: Http2ClientRequest, bytes: number): void {
    request.unreturned += bytes;
    if (request.unreturned >= STREAM_UPDATE_THRESHOLD && !request.remoteEnded && !this.closed) {
      this.output.write(windowUpdateFrame(request.streamId, request.unreturned));
      request.receiveWindow += request.unreturned;
      request.unreturned = 0;
    }
  }

  /** Resets a stream we give up on (cancelled, failed, or a request body no longer needed). */
  resetStream(request: Http2ClientRequest, code: number): void {
    if (!this.closed && this.streams.get(request.streamId) === request) this.output.write(rstStreamFrame(request.streamId, code));
    this.forget(request);
  }

  /** The stream is over on both sides: it leaves the connection. */
  forget(request: Http2ClientRequest): void {
    if (this.streams.get(request.streamId) !== request) return;
    this.streams.delete(request.streamId);
    this.blocked.delete(request);
    this.active--;
    this.owner.streamEnded(this);
    if (this.active === 0) this.idleSince();
  }

  /** Closes gracefully: GOAWAY, then the socket once the streams in flight are done. */
  close(): void {
    if (this.closed) return;
    if (this.usable) {
      this.usable = false;
      this.output.write(goawayFrame(0));
    }
    if (this.active === 0) this.endSocket();
  }

  /**
   * Ends the socket once our frames are written: the peer need not close its side after our
   * GOAWAY (node:http2 servers keep it open), so the socket is destroyed when ours is flushed.
   */
  private endSocket(): void {
    if (this.socket.writableEnded) return;
    this.output.flush();
    this.socket.once('finish', destroyAfterEnd);
    this.socket.end();
  }

  /** Ends the connection at once: `error` goes to every request in flight. */
  destroy(error: Error): void {
    if (this.closed) return;
    this.closeError ??= error;
    this.usable = false;
    this.reader.stop();
    this.output.discard();
    this.socket.destroy();
  }

  // ---- frames from the upstream ----

  // ---- FrameHandler: what the frame dispatcher reads and calls (frame-dispatch.ts) ----
  readonly peer = 'upstream';
  readonly pushPromiseRefusal = 'the upstream sent PUSH_PROMISE although we disabled push (SETTINGS_ENABLE_PUSH 0)';

  get inHeaderBlock(): boolean {
    return this.blockStream !== 0;
  }

  get peerSettingsSeen(): boolean {
    return this.ready;
  }

  onPing(payload: Buffer): void {
    this.output.write(pingAckFrame(payload));
  }

  onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) return this.connectionError(ErrorCode.PROTOCOL_ERROR, 'the upstream sent SETTINGS on a stream (RFC 9113 §6.5)');
    if ((flags & Flag.ACK) !== 0) {
      if (payload.length !== 0) this.connectionError(ErrorCode.FRAME_SIZE_ERROR, 'the upstream sent a SETTINGS ACK with a payload');
      return;
    }
    const problem = applyPeerSettings(payload, 'upstream', this);
    if (problem !== null) return this.connectionError(problem.code, problem.message);
    this.output.write(SETTINGS_ACK);
    if (!this.ready) {
      this.ready = true;
      this.clearConnectTimer();
      this.owner.connectionReady(this);
    }
  }

  openStreams(): Iterable<Http2ClientRequest> {
    return this.streams.values();
  }

  /** The upstream's SETTINGS_MAX_CONCURRENT_STREAMS: never more streams than that at once (at least one). */
  maxConcurrentStreams(value: number): void {
    this.limit = Math.max(1, Math.min(this.limit, value));
  }

  onWindowUpdate(streamId: number, payload: Buffer): void {
    const increment = windowIncrement(payload, streamId, 'upstream');
    if (typeof increment !== 'number') return this.connectionError(increment.code, increment.message);
    if (streamId === 0) {
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW_SIZE) return this.connectionError(ErrorCode.FLOW_CONTROL_ERROR, 'a WINDOW_UPDATE took the connection send window above 2^31-1');
      this.unblock();
      return;
    }
    const request = this.streams.get(streamId);
    if (request === undefined) {
      if (streamId >= this.nextStreamId) this.connectionError(ErrorCode.PROTOCOL_ERROR, `the upstream sent WINDOW_UPDATE on idle stream ${streamId}`);
      return;
    }
    if (increment === 0) return this.streamError(request, ErrorCode.PROTOCOL_ERROR, 'the upstream sent a stream WINDOW_UPDATE of 0');
    request.sendWindow += increment;
    if (request.sendWindow > MAX_WINDOW_SIZE) return this.streamError(request, ErrorCode.FLOW_CONTROL_ERROR, 'a WINDOW_UPDATE took the stream send window above 2^31-1');
    if (this.blocked.delete(request)) request.windowOpened();
  }

  /**
   * The connection window grew or the socket drained: streams waiting go on, the one that sent
   * least recently first (a stream whose body flows as fast as it is read would otherwise fill
   * the socket first after every drain). The one that fills the socket again goes to the back,
   * behind those that did not get a turn: round robin, no stream starves.
   */
  unblock(): void {
    if (this.blocked.size === 0) return;
    const waiting = [...this.blocked];
    this.blocked.clear();
    if (waiting.length > 1) waiting.sort(bySentLeastRecently);
    for (let i = 0; i < waiting.length; i++) {
      const request = waiting[i]!;
      if (this.sendWindow <= 0 || this.output.full) {
        this.blocked.add(request);
        continue;
      }
      request.windowOpened();
      if (this.output.full && this.blocked.delete(request)) {
        for (let j = i + 1; j < waiting.length; j++) this.blocked.add(waiting[j]!);
        this.blocked.add(request);
        return;
      }
    }
  }

  onData(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) return this.connectionError(ErrorCode.PROTOCOL_ERROR, 'the upstream sent DATA on stream 0');
    let start = 0;
    let end = payload.length;
    if ((flags & Flag.PADDED) !== 0) {
      if (payload.length === 0) return this.connectionError(ErrorCode.FRAME_SIZE_ERROR, 'the upstream sent a padded DATA frame without a pad length');
      const pad = payload[0]!;
      if (pad >= payload.length) return this.connectionError(ErrorCode.PROTOCOL_ERROR, `the upstream sent DATA with ${pad} bytes of padding in a ${payload.length}-byte frame`);
      start = 1;
      end = payload.length - pad;
    }
    // The whole frame counts against flow control, padding included (RFC 9113 §6.9.1).
    this.unreturned += payload.length;
    if (this.unreturned > CLIENT_LIMITS.connectionWindow) return this.connectionError(ErrorCode.FLOW_CONTROL_ERROR, 'the upstream sent more DATA than the connection window allows');
    if (this.unreturned >= CONNECTION_UPDATE_THRESHOLD) {
      this.output.write(windowUpdateFrame(0, this.unreturned));
      this.unreturned = 0;
    }
    const request = this.streams.get(streamId);
    if (request === undefined) {
      if (streamId >= this.nextStreamId) return this.connectionError(ErrorCode.PROTOCOL_ERROR, `the upstream sent DATA on idle stream ${streamId}`);
      return; // A stream we reset: its frames in flight are dropped (connection window counted above).
    }
    if (request.remoteEnded || !request.gotResponse) return this.streamError(request, ErrorCode.PROTOCOL_ERROR, request.remoteEnded ? 'the upstream sent DATA after END_STREAM' : 'the upstream sent DATA before the response headers');
    request.receiveWindow -= payload.length;
    if (request.receiveWindow < 0) return this.streamError(request, ErrorCode.FLOW_CONTROL_ERROR, 'the upstream sent more DATA than the stream window allows');
    // Padding is given back at once; the data when the handler has taken it.
    const padding = payload.length - (end - start);
    if (padding > 0) this.returnStreamWindow(request, padding);
    request.data(start === 0 && end === payload.length ? payload : payload.subarray(start, end), (flags & Flag.END_STREAM) !== 0);
  }

  onHeaders(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) return this.connectionError(ErrorCode.PROTOCOL_ERROR, 'the upstream sent HEADERS on stream 0');
    if ((streamId & 1) === 0 || streamId >= this.nextStreamId) return this.connectionError(ErrorCode.PROTOCOL_ERROR, `the upstream sent HEADERS on stream ${streamId}, which we did not open`);
    let start = 0;
    let end = payload.length;
    if ((flags & Flag.PADDED) !== 0) {
      if (payload.length === 0) return this.connectionError(ErrorCode.FRAME_SIZE_ERROR, 'the upstream sent padded HEADERS without a pad length');
      const pad = payload[0]!;
      start = 1;
      end = payload.length - pad;
    }
    if ((flags & Flag.PRIORITY) !== 0) start += 5;
    if (start > end) return this.connectionError(ErrorCode.PROTOCOL_ERROR, 'the upstream sent HEADERS whose padding and priority fields exceed the frame');
    this.blockStream = streamId;
    this.blockEndStream = (flags & Flag.END_STREAM) !== 0;
    this.continuations = 0;
    const fragment = payload.subarray(start, end);
    if ((flags & Flag.END_HEADERS) !== 0) {
      this.blockStream = 0;
      this.headerBlock(streamId, fragment, this.blockEndStream);
      return;
    }
    // The fragment may be a view of a socket chunk: keep a copy until the block is whole.
    this.blockParts.push(Buffer.from(fragment));
    this.blockLength = fragment.length;
  }

  onContinuation(flags: number, streamId: number, payload: Buffer): void {
    if (this.blockStream === 0 || streamId !== this.blockStream) return this.connectionError(ErrorCode.PROTOCOL_ERROR, `the upstream sent CONTINUATION on stream ${streamId} outside a header block`);
    if (++this.continuations > CLIENT_LIMITS.maxContinuations) return this.connectionError(ErrorCode.ENHANCE_YOUR_CALM, `the upstream sent more than ${CLIENT_LIMITS.maxContinuations} CONTINUATION frames for one header block`);
    this.blockLength += payload.length;
    if (this.blockLength > 2 * CLIENT_LIMITS.maxHeaderListSize) return this.connectionError(ErrorCode.ENHANCE_YOUR_CALM, `the upstream sent a header block of more than ${2 * CLIENT_LIMITS.maxHeaderListSize} bytes`);
    this.blockParts.push(Buffer.from(payload));
    if ((flags & Flag.END_HEADERS) === 0) return;
    const block = Buffer.concat(this.blockParts);
    this.blockParts = [];
    this.blockStream = 0;
    this.headerBlock(streamId, block, this.blockEndStream);
  }

  private headerBlock(streamId: number, block: Buffer, endStream: boolean): void {
    const fields = this.fields;
    fields.length = 0;
    try {
      this.decoder.decode(block, 0, block.length, fields, CLIENT_LIMITS.maxHeaderListSize);
    } catch (err) {
      if (err instanceof HpackError) return this.connectionError(ErrorCode.COMPRESSION_ERROR, `the upstream sent a header block that cannot be decoded: ${err.message}`);
      throw err;
    }
    const request = this.streams.get(streamId);
    if (request === undefined) return; // A stream we reset; its block kept the decoder in step.
    if (this.decoder.overflowed) {
      this.resetStream(request, ErrorCode.CANCEL);
      request.fail(new UpstreamError(`the upstream's response header list is larger than ${CLIENT_LIMITS.maxHeaderListSize} bytes`, 'UND_ERR_HEADERS_OVERFLOW', 'HeadersOverflowError'));
      return;
    }
    request.headerBlock(fields, endStream);
  }

  onRstStream(streamId: number, payload: Buffer): void {
    if (streamId === 0) return this.connectionError(ErrorCode.PROTOCOL_ERROR, 'the upstream sent RST_STREAM on stream 0');
    if (payload.length !== 4) return this.connectionError(ErrorCode.FRAME_SIZE_ERROR, `the upstream sent an RST_STREAM of ${payload.length} bytes, not 4`);
    const request = this.streams.get(streamId);
    if (request === undefined) {
      if (streamId >= this.nextStreamId) this.connectionError(ErrorCode.PROTOCOL_ERROR, `the upstream sent RST_STREAM on idle stream ${streamId}`);
      return;
    }
    this.forget(request);
    request.reset(payload.readUInt32BE(0));
  }

  onGoaway(payload: Buffer): void {
    const lastStreamId = payload.readUInt32BE(0) & 0x7fffffff;
    const code = payload.readUInt32BE(4);
    this.usable = false;
    // Streams above last-stream-id were not processed: they fail as refused, safe to retry.
    for (const [id, request] of [...this.streams]) {
      if (id <= lastStreamId) continue;
      this.forget(request);
      request.fail(new UpstreamError(`the upstream refused the stream (GOAWAY ${errorCodeName(code)}, last stream ${lastStreamId})`, 'UND_ERR_SOCKET', 'SocketError'));
    }
    if (code !== ErrorCode.NO_ERROR) this.closeError ??= new Http2ConnectionError(`the upstream ended the connection with GOAWAY ${errorCodeName(code)}`, code);
    if (this.active === 0) this.endSocket();
  }

  /** A stream-level violation: that stream is reset and its request fails. */
  private streamError(request: Http2ClientRequest, code: number, message: string): void {
    this.resetStream(request, code);
    request.fail(new UpstreamError(`${message} (RFC 9113; stream reset with ${errorCodeName(code)})`, 'SWITCHYARD_UPSTREAM_FRAMING', 'UpstreamFramingError'));
  }

  /** A connection-level violation: GOAWAY with `code`, the socket closed, every request failed. */
  connectionError(code: number, message: string): void {
    if (this.closed) return;
    this.reader.stop();
    this.output.flush();
    this.socket.end(goawayFrame(0, code, message.slice(0, 200)));
    this.destroy(new Http2ConnectionError(`${message} (connection closed with ${errorCodeName(code)})`, code));
  }

  // ---- socket ----

  received(chunk: Buffer): void {
    this.reader.push(chunk);
  }

  socketFailed(err: Error): void {
    this.closeError ??= err;
  }

  socketClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.usable = false;
    this.reader.stop();
    this.output.discard();
    if (this.idleTimer !== null) clearTimeout(this.idleTimer);
    this.idleTimer = null;
    this.clearConnectTimer();
    const error = this.closeError;
    const inFlight = [...this.streams.values()];
    this.streams.clear();
    this.blocked.clear();
    this.active = 0;
    const failure = error ?? new UpstreamError('the upstream closed the connection (other side closed)', 'UND_ERR_SOCKET', 'SocketError');
    for (const request of inFlight) request.fail(failure);
    this.owner.connectionClosed(this, error);
  }

  /** Starts the idle clock of a connection that got no stream (its queued requests left first). */
  idleIfUnused(): void {
    if (this.active === 0 && this.idleTimer === null && !this.closed) this.idleSince();
  }

  /**
   * No stream left. After GOAWAY the connection closes now; otherwise once it has had no
   * stream for keepAliveTimeout (one timer an idle period, re-checked when it fires).
   */
  private idleSince(): void {
    if (!this.usable) {
      this.endSocket();
      return;
    }
    this.idleAt = performance.now();
    if (this.idleTimer === null) this.idleTimer = setTimeout(onIdleTimer, this.keepAliveTimeout, this).unref();
  }

  connectTimedOut(connectTimeout: number): void {
    this.connectTimer = null;
    if (!this.ready) this.destroy(new UpstreamError(`no HTTP/2 connection within ${connectTimeout} ms (connect, TLS and SETTINGS)`, 'UND_ERR_CONNECT_TIMEOUT', 'ConnectTimeoutError'));
  }

  private clearConnectTimer(): void {
    if (this.connectTimer === null) return;
    clearTimeout(this.connectTimer);
    this.connectTimer = null;
  }

  idleTimerFired(): void {
    this.idleTimer = null;
    if (this.active > 0 || this.closed) return;
    const left = this.keepAliveTimeout - (performance.now() - this.idleAt);
    if (left <= 0) this.close();
    else this.idleTimer = setTimeout(onIdleTimer, left, this).unref();
  }
}

const kConnection = Symbol('switchyard.http2ClientConnection');
type TaggedSocket = Socket & { [kConnection]?: Http2ClientConnection };

function onSocketData(this: TaggedSocket, chunk: Buffer): void {
  this[kConnection]!.received(chunk);
}

function onSocketError(this: TaggedSocket, err: Error): void {
  this[kConnection]!.socketFailed(err);
}

function bySentLeastRecently(a: Http2ClientRequest, b: Http2ClientRequest): number {
  return a.lastSent - b.lastSent;
}

function onSocketDrain(this: TaggedSocket): void {
  this[kConnection]!.unblock();
}

function onSocketClose(this: TaggedSocket): void {
  this[kConnection]!.socketClosed();
}

function destroyAfterEnd(this: Socket): void {
  this.destroy();
}

function onConnectTimeout(connection: Http2ClientConnection, connectTimeout: number): void {
  connection.connectTimedOut(connectTimeout);
}

function onIdleTimer(connection: Http2ClientConnection): void {
  connection.idleTimerFired();
}


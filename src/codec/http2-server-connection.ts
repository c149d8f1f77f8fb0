import type { Socket } from 'node:net';
import { DispatchingSink, type FrameHandler } from './http2/frame-dispatch.js';
import { FrameOutput } from './http2/frame-output.js';
import { FrameReader } from './http2/frame-reader.js';
import { CLIENT_PREFACE, DEFAULT_MAX_FRAME_SIZE, DEFAULT_WINDOW_SIZE, ErrorCode, errorCodeName, Flag, MAX_WINDOW_SIZE, Setting } from './http2/frame-types.js';
import { goawayFrame, pingAckFrame, rstStreamFrame, SETTINGS_ACK, settingsFrame, windowUpdateFrame } from './http2/frame-writer.js';
import { HpackDecoder } from './http2/hpack-decoder.js';
import { applyPeerSettings, windowIncrement, type PeerSettingsTarget } from './http2/peer-settings.js';
import { HpackError } from './http2/hpack-error.js';
import { RequestFields, trailerProblem } from './http2/request-fields.js';
import { Http2CodecStream } from './http2-codec-stream.js';
import type { Http2ConnectionInfo } from './http2-server-stream.js';
import { connectionClientAddress, connectionTlsVersion } from '../proxy/client-connection.js';

/** The limits of one listener's HTTP/2 connections (limits.http2 and the header limits). */
export interface Http2ServerSettings {
  /** SETTINGS_MAX_CONCURRENT_STREAMS. */
  readonly maxConcurrentStreams: number;
  /** SETTINGS_INITIAL_WINDOW_SIZE: request body bytes a stream may have unread. */
  readonly initialWindowSize: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE (limits.maxHeaderSize), RFC 9113 terms. */
  readonly maxHeaderListSize: number;
  /** Fields (pseudo-header fields included) a request may have before its stream is reset. */
  readonly maxHeaderFields: number;
  /** Bytes waiting to be sent (acknowledgements a client does not read) before the connection is cut. */
  readonly maxQueuedBytes: number;
  readonly keepAliveTimeout: number;
  readonly prematureResetLimit: number;
  /**
   * A stream whose response has waited this long for the client's flow-control window (no
   * WINDOW_UPDATE that lets it go on) is cancelled, so a client cannot hold upstream exchanges
   * and their queued data by never opening its window. Checked once a keepAliveTimeout.
   */
  readonly flowControlTimeout: number;
}

/** What a connection tells its listener. */
export interface Http2ServerOwner {
  /** A request arrived (its head is whole and well-formed). */
  onStream(stream: Http2CodecStream): void;
  /** The socket closed. */
  connectionClosed(connection: Http2ServerConnection): void;
  /** The client broke the protocol; the connection is closed with GOAWAY `code`. */
  connectionFailed(connection: Http2ServerConnection, code: number, message: string): void;
  /** A stream was reset for a stream-level error of the client's. */
  streamFailed(connection: Http2ServerConnection, code: number, message: string): void;
  /** The client cancels most of its streams (rapid reset); the connection is being closed. */
  rapidReset(connection: Http2ServerConnection): void;
  /** Frames have waited to be sent for keepAliveTimeout with no progress; the connection is being closed. */
  stalled(connection: Http2ServerConnection): void;
}

/** CONTINUATION frames one header block may take (a flood of small ones is cut here). */
const MAX_CONTINUATIONS = 64;
/**
 * Frames that do nothing but cost work (empty DATA without END_STREAM, zero WINDOW_UPDATE
 * increments, malformed requests) a connection may send before it is closed (node:http2's
 * maxSessionInvalidFrames, CVE-2019-9518).
 */
const MAX_INVALID_FRAMES = 1_000;
/**
 * SETTINGS and PING acknowledgements written while the socket's buffer is over its high-water
 * mark (the client does not read them) before the connection is cut (CVE-2019-9512/9515;
 * nghttp2's limit on queued acknowledgements is the same).
 */
const MAX_UNREAD_ACKS = 1_000;
/** Our connection receive window: request body bytes in flight on all streams. */
const CONNECTION_WINDOW = 1 << 24;
const CONNECTION_UPDATE_THRESHOLD = CONNECTION_WINDOW >>> 1;
/** Streams we reset whose frames in flight are still ignored (rather than a connection error). */
const RESET_MEMORY = 256;

/** The response head being encoded is built here, then copied into its frame. */
const kConnection = Symbol('switchyard.http2ServerConnection');
type TaggedSocket = Socket & { [kConnection]?: Http2ServerConnection };

/**
 * One HTTP/2 connection from a client (RFC 9113), server side, on a net or TLS socket: the
 * connection preface, SETTINGS both ways, streams opened by the client's HEADERS and decoded
 * by one HPACK decoder, request bodies under flow control (a stream's window is given back as
 * the proxy takes its data, withheld while it is paused), responses under the client's
 * windows with backpressure towards the upstream, PING answered, RST_STREAM and GOAWAY both
 * ways. Each request is an Http2CodecStream (a ServerStream) handed to the listener.
 *
 * Protections, the same as the listener's node:http2 sessions have (docs/security.md):
 * CONTINUATION floods (a count and a size bound a header block), SETTINGS/PING floods (a
 * client that does not read its acknowledgements), empty and invalid frame floods, rapid
 * reset (limits.http2.prematureResetLimit), streams beyond SETTINGS_MAX_CONCURRENT_STREAMS,
 * header lists over limits.maxHeaderSize or with too many fields, idle connections and
 * connections nothing can be sent to for keepAliveTimeout (a client that stopped reading).
 *
 * Hand-written rather than node:http2's server (whose sessions cost an AsyncResource, a Duplex
 * stream and header objects per request; docs/performance.md) for the reason the client codec
 * is: npm has no well-kept pure-JS HTTP/2 server besides node:http2 itself.
 */
export class Http2ServerConnection implements FrameHandler, Http2ConnectionInfo, PeerSettingsTarget {
  readonly clientAddress: string;
  readonly tlsVersion: string | undefined;
  readonly socket: { readonly remoteAddress: string | undefined; readonly encrypted: boolean };
  /** Streams open now, opened so far, and cancelled by the client before their response ended. */
  open = 0;
  total = 0;
  premature = 0;
  closed = false;
  /** GOAWAY sent: no new streams; the socket closes once the open ones are done. */
  goingAway = false;
  /** The last stream the client opened (what GOAWAY names). */
  lastStreamId = 0;

  private readonly streams = new Map<number, Http2CodecStream>();
  private readonly reader: FrameReader;
  private readonly decoder = new HpackDecoder();
  private readonly request = new RequestFields();
  private readonly fields: string[] = [];
  /** Bytes of the client preface matched so far (24 once it is whole). */
  private prefaceMatched = 0;
  private settingsReceived = false;
  /** The client acknowledged our SETTINGS: streams beyond our limit are a connection error. */
  private settingsAcked = false;
  /** The header block being gathered (HEADERS + CONTINUATION). */
  private blockParts: Buffer[] = [];
  private blockLength = 0;
  private blockStream = 0;
  private blockEndStream = false;
  private continuations = 0;
  private invalidFrames = 0;
  private unreadAcks = 0;

  /** Client settings. */
  maxFrameSize = DEFAULT_MAX_FRAME_SIZE;
  peerInitialWindow = DEFAULT_WINDOW_SIZE;
  /** What we may still send on the connection. */
  sendWindow = DEFAULT_WINDOW_SIZE;
  /** Received bytes not yet returned by WINDOW_UPDATE on stream 0. */
  private unreturned = 0;
  /** Streams waiting for send window, and streams waiting for the socket to drain. */
  private readonly blocked = new Set<Http2CodecStream>();
  private readonly drainWaiters = new Set<Http2CodecStream>();
  /** Ids of streams we reset lately (frames the client sent before it saw the reset are ignored). */
  private readonly resetIds = new Set<number>();
  private readonly resetOrder: number[] = [];
  private readonly streamUpdateThreshold: number;
  /** Idle and stall clock: last bytes read, when the last stream closed, last time nothing waited to be sent. */
  private lastRead = 0;
  private idleSince = 0;
  /** What waited to be sent at the last check (a stall: still as much, or more, at the next). */
  private queuedAtCheck = 0;
  /** When the stall checks last ran (once a keepAliveTimeout). */
  private checkedAt = 0;
  private timer: NodeJS.Timeout | null;
  /** Frames of this turn of the event loop, written to the socket together once the turn's reads are done. */
  private readonly output: FrameOutput;

  constructor(
    private readonly raw: Socket,
    readonly settings: Http2ServerSettings,
    private readonly owner: Http2ServerOwner,
  ) {
    this.clientAddress = connectionClientAddress(raw);
    this.tlsVersion = connectionTlsVersion(raw);
    this.socket = { remoteAddress: raw.remoteAddress, encrypted: (raw as Socket & { encrypted?: boolean }).encrypted === true };
    this.reader = new FrameReader(new DispatchingSink(this), DEFAULT_MAX_FRAME_SIZE);
    this.output = new FrameOutput(raw);
    this.streamUpdateThreshold = settings.initialWindowSize >>> 1;
    const now = performance.now();
    this.lastRead = now;
    this.idleSince = now;
    this.checkedAt = now;
    this.timer = setTimeout(onConnectionTimer, settings.keepAliveTimeout, this).unref();
    raw.setNoDelay(true);
    (raw as TaggedSocket)[kConnection] = this;
    raw.on('data', onSocketData);
    raw.on('drain', onSocketDrain);
    raw.on('error', onSocketError);
    raw.on('close', onSocketClose);
    raw.cork();
    raw.write(
      settingsFrame([
        [Setting.MAX_CONCURRENT_STREAMS, settings.maxConcurrentStreams],
        [Setting.INITIAL_WINDOW_SIZE, settings.initialWindowSize],
        [Setting.MAX_HEADER_LIST_SIZE, settings.maxHeaderListSize],
        [Setting.ENABLE_PUSH, 0],
      ]),
    );
    raw.write(windowUpdateFrame(0, CONNECTION_WINDOW - DEFAULT_WINDOW_SIZE));
    raw.uncork();
    // Bytes a protocol sniffer put back in front of the stream come with this resume.
    raw.resume();
  }

  /**
   * Writes a frame. Frames written in one turn of the event loop (a response's HEADERS and
   * DATA, the acknowledgements of a read's frames, several streams' responses) go to the
   * socket together, in one write once the turn's reads are done (FrameOutput).
   */
  private send(frame: Buffer): void {
    this.output.write(frame);
  }

  /** Graceful close: GOAWAY naming the last stream taken; the socket closes once the open streams are done. */
  goaway(): void {
    if (this.closed || this.goingAway) return;
    this.goingAway = true;
    this.send(goawayFrame(this.lastStreamId));
    if (this.open === 0) this.endSocket();
  }

  /** Closes the connection at once (GOAWAY `code` first when the socket can still take it). */
  destroy(code: number, message: string): void {
    if (this.closed) return;
    this.reader.stop();
    this.goingAway = true;
    this.output.flush();
    if (this.raw.writable && !this.raw.writableNeedDrain) this.raw.write(goawayFrame(this.lastStreamId, code, message.slice(0, 200)));
    this.raw.destroySoon();
    // A client that does not read keeps destroySoon waiting: cut it on the next check.
    if (this.raw.writableNeedDrain) this.raw.destroy();
  }

  // ---- what the streams ask of the connection ----

  /** Sends a response head (or 1xx, or trailers) encoded at `block[9, end)`. */
  writeHeaders(stream: Http2CodecStream, block: Buffer, end: number, endStream: boolean): void {
    if (this.closed) return;
    this.output.writeHeaders(block, end, stream.id, endStream, this.maxFrameSize);
  }

  /**
   * Sends what of `chunk[offset..]` the windows allow; returns the offset reached. With
   * `endStream` the last frame ends the stream (once the whole chunk is sent; an empty chunk
   * sends an empty DATA frame with END_STREAM). A stream that cannot send it all is told
   * again (windowOpened) when the windows grow.
   */
  sendData(stream: Http2CodecStream, chunk: Buffer, offset: number, endStream: boolean): number {
    if (this.closed) return offset;
    const id = stream.id;
    while (offset < chunk.length || endStream) {
      const remaining = chunk.length - offset;
      // A window can be negative (SETTINGS_INITIAL_WINDOW_SIZE lowered, RFC 9113 §6.9.2); an
      // empty END_STREAM frame is not flow-controlled.
      const length = remaining === 0 ? 0 : Math.min(remaining, this.sendWindow, stream.sendWindow, this.maxFrameSize);
      if (length <= 0 && remaining > 0) {
        this.blocked.add(stream);
        if (stream.blockedSince === 0) stream.blockedSince = performance.now();
        break;
      }
      const last = endStream && offset + length === chunk.length;
      this.output.writeDataHeader(id, length, last);
      if (length > 0) this.output.writeRange(chunk, offset, offset + length);
      this.sendWindow -= length;
      stream.sendWindow -= length;
      offset += length;
      if (last) break;
    }
    return offset;
  }

  /** Whether the socket's buffer is full: the stream is told (socketDrained) once it empties. */
  waitForDrain(stream: Http2CodecStream): boolean {
    if (!this.output.full) return false;
    this.drainWaiters.add(stream);
    return true;
  }

  /** Gives back `bytes` of request body the proxy has taken (stream window). */
  returnStreamWindow(stream: Http2CodecStream, bytes: number): void {
    stream.unreturned += bytes;
    if (stream.unreturned >= this.streamUpdateThreshold && !stream.remoteEnded && !stream.isClosed && !this.closed) {
      this.send(windowUpdateFrame(stream.id, stream.unreturned));
      stream.receiveWindow += stream.unreturned;
      stream.unreturned = 0;
    }
  }

  /** Resets a stream (RST_STREAM `code`); it leaves the connection. */
  resetStream(stream: Http2CodecStream, code: number): void {
    if (this.streams.get(stream.id) !== stream) return;
    if (!this.closed) this.send(rstStreamFrame(stream.id, code));
    this.rememberReset(stream.id);
    this.forget(stream);
  }

  /** The stream is closed (both sides ended, or reset): it leaves the connection. */
  forget(stream: Http2CodecStream): void {
    if (this.streams.get(stream.id) !== stream) return;
    this.streams.delete(stream.id);
    this.blocked.delete(stream);
    this.drainWaiters.delete(stream);
    this.open--;
    if (this.open === 0) {
      this.idleSince = performance.now();
      if (this.goingAway) this.endSocket();
    }
    stream.closed();
  }

  // ---- frames from the client ----

  // ---- FrameHandler: what the frame dispatcher reads and calls (frame-dispatch.ts) ----
  readonly peer = 'client';
  readonly pushPromiseRefusal = 'the client sent PUSH_PROMISE (only servers push, RFC 9113 §8.4)';

  get inHeaderBlock(): boolean {
    return this.blockStream !== 0;
  }

  get peerSettingsSeen(): boolean {
    return this.settingsReceived;
  }

  onPing(payload: Buffer): void {
    this.acknowledge(pingAckFrame(payload));
  }

  /** The client opens no more streams; the open ones finish, then the connection closes. */
  onGoaway(): void {
    this.goaway();
  }

  /** Writes a SETTINGS or PING acknowledgement; a client that does not read them loses the connection. */
  private acknowledge(frame: Buffer): void {
    if (this.output.full) {
      if (++this.unreadAcks > MAX_UNREAD_ACKS || this.output.queuedBytes > this.settings.maxQueuedBytes) {
        this.flood(`Flooding was detected: the client sent more than ${MAX_UNREAD_ACKS} SETTINGS or PING frames without reading their acknowledgements`);
        return;
      }
    }
    this.send(frame);
  }

  onSettings(flags: number, streamId: number, payload: Buffer): void {
    if (streamId !== 0) return this.connectionError(ErrorCode.PROTOCOL_ERROR, 'the client sent SETTINGS on a stream (RFC 9113 §6.5)');
    if ((flags & Flag.ACK) !== 0) {
      if (payload.length !== 0) return this.connectionError(ErrorCode.FRAME_SIZE_ERROR, 'the client sent a SETTINGS ACK with a payload');
      if (!this.settingsReceived) return this.connectionError(ErrorCode.PROTOCOL_ERROR, "the client's first frame is a SETTINGS ACK, not its SETTINGS (RFC 9113 §3.4)");
      this.settingsAcked = true;
      return;
    }
    this.settingsReceived = true;
    const problem = applyPeerSettings(payload, 'client', this);
    if (problem !== null) return this.connectionError(problem.code, problem.message);
    this.acknowledge(SETTINGS_ACK);
  }

  onWindowUpdate(streamId: number, payload: Buffer): void {
    const increment = windowIncrement(payload, streamId, 'client');
    if (typeof increment !== 'number') return this.connectionError(increment.code, increment.message);
    if (streamId === 0) {
      this.sendWindow += increment;
      if (this.sendWindow > MAX_WINDOW_SIZE) return this.connectionError(ErrorCode.FLOW_CONTROL_ERROR, 'a WINDOW_UPDATE took the connection send window above 2^31-1');
      this.unblock();
      return;
    }
    if (streamId > this.lastStreamId) return this.connectionError(ErrorCode.PROTOCOL_ERROR, `the client sent WINDOW_UPDATE on idle stream ${streamId}`);
    if (increment === 0 && !this.invalidFrame()) return;
    const stream = this.streams.get(streamId);
    if (stream === undefined) return; // A closed stream: frames in flight are allowed (RFC 9113 §6.9).
    if (increment === 0) return this.streamError(stream, ErrorCode.PROTOCOL_ERROR, 'the client sent a stream WINDOW_UPDATE of 0');
    stream.sendWindow += increment;
    if (stream.sendWindow > MAX_WINDOW_SIZE) return this.streamError(stream, ErrorCode.FLOW_CONTROL_ERROR, 'a WINDOW_UPDATE took the stream send window above 2^31-1');
    if (stream.sendWindow > 0 && this.blocked.delete(stream)) stream.windowOpened();
  }

  openStreams(): Iterable<Http2CodecStream> {
    return this.streams.values();
  }

  /** A client's SETTINGS_MAX_CONCURRENT_STREAMS limits streams we would push: we push none. */
  maxConcurrentStreams(): void {}

  /** The send windows grew: streams waiting for them go on. */
  unblock(): void {
    if (this.blocked.size === 0 || this.sendWindow <= 0) return;
    const waiting = [...this.blocked];
    this.blocked.clear();
    for (const stream of waiting) {
      if (this.closed) return;
      if (this.sendWindow <= 0 || stream.sendWindow <= 0) {
        this.blocked.add(stream);
        continue;
      }
      stream.windowOpened();
    }
  }

  /** Counts a frame that does nothing; false (the connection is being closed) past the limit. */
  private invalidFrame(): boolean {
    if (++this.invalidFrames <= MAX_INVALID_FRAMES) return true;
    this.connectionError(ErrorCode.ENHANCE_YOUR_CALM, `the client sent more than ${MAX_INVALID_FRAMES} empty or invalid frames`);
    return false;
  }

  onData(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0) return this.connectionError(ErrorCode.PROTOCOL_ERROR, 'the client sent DATA on stream 0');
    let start = 0;
    let end = payload.length;
    if ((flags & Flag.PADDED) !== 0) {
      if (payload.length === 0) return this.connectionError(ErrorCode.FRAME_SIZE_ERROR, 'the client sent a padded DATA frame without a pad length');
      const pad = payload[0]!;
      if (pad >= payload.length) return this.connectionError(ErrorCode.PROTOCOL_ERROR, `the client sent DATA with ${pad} bytes of padding in a ${payload.length}-byte frame`);
      start = 1;
      end = payload.length - pad;
    }
    // The whole frame counts against flow control, padding included (RFC 9113 §6.9.1).
    this.unreturned += payload.length;
    if (this.unreturned > CONNECTION_WINDOW) return this.connectionError(ErrorCode.FLOW_CONTROL_ERROR, 'the client sent more DATA than the connection window allows');
    if (this.unreturned >= CONNECTION_UPDATE_THRESHOLD) {
      this.send(windowUpdateFrame(0, this.unreturned));
      this.unreturned = 0;
    }
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (payload.length === 0 && !endStream && !this.invalidFrame()) return;
    const stream = this.streams.get(streamId);
    if (stream === undefined) {
      if (streamId > this.lastStreamId) return this.connectionError(ErrorCode.PROTOCOL_ERROR, `the client sent DATA on idle stream ${streamId}`);
      if (this.resetIds.has(streamId)) return; // A stream we reset: frames in flight are dropped.
      return this.connectionError(ErrorCode.STREAM_CLOSED, `the client sent DATA on closed stream ${streamId}`);
    }
    if (stream.remoteEnded) return this.connectionError(ErrorCode.STREAM_CLOSED, `the client sent DATA on stream ${streamId} after END_STREAM`);
    stream.receiveWindow -= payload.length;
    if (stream.receiveWindow < 0) return this.streamError(stream, ErrorCode.FLOW_CONTROL_ERROR, 'the client sent more DATA than the stream window allows');
    const length = end - start;
    if (stream.expectedLength !== -1) {
      stream.receivedLength += length;
      if (stream.receivedLength > stream.expectedLength || (endStream && stream.receivedLength !== stream.expectedLength)) {
        return this.streamError(stream, ErrorCode.PROTOCOL_ERROR, `the client sent ${stream.receivedLength}${endStream ? '' : ' or more'} bytes of body after Content-Length ${stream.expectedLength}`);
      }
    }
    // Padding is given back at once; the data when the proxy has taken it.
    if (length !== payload.length) this.returnStreamWindow(stream, payload.length - length);
    stream.received(start === 0 && end === payload.length ? payload : payload.subarray(start, end), endStream);
  }

  onHeaders(flags: number, streamId: number, payload: Buffer): void {
    if (streamId === 0 || (streamId & 1) === 0) return this.connectionError(ErrorCode.PROTOCOL_ERROR, `the client sent HEADERS on stream ${streamId} (client streams are odd)`);
    let start = 0;
    let end = payload.length;
    if ((flags & Flag.PADDED) !== 0) {
      if (payload.length === 0) return this.connectionError(ErrorCode.FRAME_SIZE_ERROR, 'the client sent padded HEADERS without a pad length');
      start = 1;
      end = payload.length - payload[0]!;
    }
    if ((flags & Flag.PRIORITY) !== 0) start += 5;
    if (start > end) return this.connectionError(ErrorCode.PROTOCOL_ERROR, 'the client sent HEADERS whose padding and priority fields exceed the frame');
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
    if (this.blockStream === 0 || streamId !== this.blockStream) return this.connectionError(ErrorCode.PROTOCOL_ERROR, `the client sent CONTINUATION on stream ${streamId} outside a header block`);
    if (++this.continuations > MAX_CONTINUATIONS) return this.connectionError(ErrorCode.ENHANCE_YOUR_CALM, `the client sent more than ${MAX_CONTINUATIONS} CONTINUATION frames for one header block`);
    this.blockLength += payload.length;
    const maxBlock = 2 * this.settings.maxHeaderListSize + DEFAULT_MAX_FRAME_SIZE;
    if (this.blockLength > maxBlock) return this.connectionError(ErrorCode.ENHANCE_YOUR_CALM, `the client sent a header block of more than ${maxBlock} bytes`);
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
      this.decoder.decode(block, 0, block.length, fields, this.settings.maxHeaderListSize);
    } catch (err) {
      if (err instanceof HpackError) return this.connectionError(ErrorCode.COMPRESSION_ERROR, `the client sent a header block that cannot be decoded: ${err.message}`);
      throw err;
    }
    const open = this.streams.get(streamId);
    if (open !== undefined) return this.trailerBlock(open, fields, endStream);
    if (streamId <= this.lastStreamId) {
      if (this.resetIds.has(streamId)) return; // Trailers of a stream we reset: the decoder is in step, nothing more.
      return this.connectionError(ErrorCode.STREAM_CLOSED, `the client sent HEADERS on closed stream ${streamId}`);
    }
    this.lastStreamId = streamId;
    if (this.goingAway) return this.refuse(streamId, ErrorCode.REFUSED_STREAM);
    if (this.decoder.overflowed) return this.refuse(streamId, ErrorCode.ENHANCE_YOUR_CALM, `the client sent a header list larger than limits.maxHeaderSize (${this.settings.maxHeaderListSize} bytes)`);
    if (fields.length > 2 * this.settings.maxHeaderFields) return this.refuse(streamId, ErrorCode.ENHANCE_YOUR_CALM, `the client sent more than ${this.settings.maxHeaderFields} header fields`);
    if (this.open >= this.settings.maxConcurrentStreams) {
      if (this.settingsAcked) return this.connectionError(ErrorCode.PROTOCOL_ERROR, `the client opened more than the ${this.settings.maxConcurrentStreams} concurrent streams it acknowledged (SETTINGS_MAX_CONCURRENT_STREAMS)`);
      return this.refuse(streamId, ErrorCode.REFUSED_STREAM);
    }
    const request = this.request;
    const problem = request.check(fields);
    if (problem !== null) {
      if (!this.invalidFrame()) return;
      return this.refuse(streamId, ErrorCode.PROTOCOL_ERROR, `the client sent a malformed request ${problem} (RFC 9113 §8.1.1)`);
    }
    if (endStream && request.contentLength > 0) return this.refuse(streamId, ErrorCode.PROTOCOL_ERROR, `the client sent a request without body after Content-Length ${request.contentLength}`);
    const stream = new Http2CodecStream(this, streamId, request, fields.slice(), endStream);
    this.streams.set(streamId, stream);
    this.open++;
    this.total++;
    this.owner.onStream(stream);
  }

  /** A header block on an open stream: the request's trailers. */
  private trailerBlock(stream: Http2CodecStream, fields: string[], endStream: boolean): void {
    if (stream.remoteEnded) return this.connectionError(ErrorCode.STREAM_CLOSED, `the client sent HEADERS on stream ${stream.id} after END_STREAM`);
    if (!endStream) return this.streamError(stream, ErrorCode.PROTOCOL_ERROR, 'the client sent a second header block without END_STREAM (trailers end the stream, RFC 9113 §8.1)');
    if (this.decoder.overflowed) return this.streamError(stream, ErrorCode.ENHANCE_YOUR_CALM, `the client sent trailers larger than limits.maxHeaderSize (${this.settings.maxHeaderListSize} bytes)`);
    const problem = trailerProblem(fields);
    if (problem !== null) return this.streamError(stream, ErrorCode.PROTOCOL_ERROR, `the client sent malformed trailers ${problem}`);
    if (stream.expectedLength !== -1 && stream.receivedLength !== stream.expectedLength) {
      return this.streamError(stream, ErrorCode.PROTOCOL_ERROR, `the client sent ${stream.receivedLength} bytes of body after Content-Length ${stream.expectedLength}`);
    }
    stream.receivedTrailers(fields.slice());
  }

  /** Refuses a stream the client opened (never seen by the proxy): RST_STREAM `code`. */
  private refuse(streamId: number, code: number, message?: string): void {
    this.send(rstStreamFrame(streamId, code));
    this.rememberReset(streamId);
    if (message !== undefined) this.owner.streamFailed(this, code, message);
  }

  private rememberReset(streamId: number): void {
    this.resetIds.add(streamId);
    this.resetOrder.push(streamId);
    if (this.resetOrder.length > RESET_MEMORY) this.resetIds.delete(this.resetOrder.shift()!);
  }

  onRstStream(streamId: number, payload: Buffer): void {
    if (streamId === 0) return this.connectionError(ErrorCode.PROTOCOL_ERROR, 'the client sent RST_STREAM on stream 0');
    if (payload.length !== 4) return this.connectionError(ErrorCode.FRAME_SIZE_ERROR, `the client sent an RST_STREAM of ${payload.length} bytes, not 4`);
    if (streamId > this.lastStreamId) return this.connectionError(ErrorCode.PROTOCOL_ERROR, `the client sent RST_STREAM on idle stream ${streamId}`);
    const stream = this.streams.get(streamId);
    if (stream === undefined) return;
    const premature = !stream.responseEnded;
    this.forget(stream);
    if (!premature) return;
    this.premature++;
    const limit = this.settings.prematureResetLimit;
    if (this.premature < limit || this.premature * 2 < this.total) return;
    this.owner.rapidReset(this);
    this.destroy(ErrorCode.ENHANCE_YOUR_CALM, 'the client cancels most of its streams (rapid reset)');
  }

  /** A stream-level violation: that stream is reset and its exchange hears of it. */
  private streamError(stream: Http2CodecStream, code: number, message: string): void {
    this.owner.streamFailed(this, code, `${message} (stream reset with ${errorCodeName(code)})`);
    this.resetStream(stream, code);
  }

  /** A connection-level violation: GOAWAY with `code`, the socket closed, every stream cut. */
  connectionError(code: number, message: string): void {
    if (this.closed) return;
    this.owner.connectionFailed(this, code, `${message} (connection closed with ${errorCodeName(code)})`);
    this.destroy(code, message);
  }

  private flood(message: string): void {
    this.owner.connectionFailed(this, ErrorCode.ENHANCE_YOUR_CALM, message);
    this.reader.stop();
    this.output.discard();
    this.raw.destroy();
  }

  // ---- socket ----

  received(chunk: Buffer): void {
    this.lastRead = performance.now();
    if (this.prefaceMatched < CLIENT_PREFACE.length) {
      let i = 0;
      while (i < chunk.length && this.prefaceMatched < CLIENT_PREFACE.length) {
        if (chunk[i] !== CLIENT_PREFACE[this.prefaceMatched]) {
          this.prefaceMatched = CLIENT_PREFACE.length;
          this.connectionError(ErrorCode.PROTOCOL_ERROR, 'the client did not send the HTTP/2 connection preface (RFC 9113 §3.4)');
          return;
        }
        i++;
        this.prefaceMatched++;
      }
      if (i === chunk.length) return;
      chunk = chunk.subarray(i);
    }
    this.reader.push(chunk);
  }

  socketDrained(): void {
    this.queuedAtCheck = 0;
    this.unreadAcks = 0;
    if (this.drainWaiters.size === 0) return;
    const waiting = [...this.drainWaiters];
    this.drainWaiters.clear();
    for (const stream of waiting) {
      if (this.output.full) {
        this.drainWaiters.add(stream);
        continue;
      }
      stream.socketDrained();
    }
  }

  socketClosed(): void {
    if (this.closed) return;
    this.closed = true;
    this.goingAway = true;
    this.reader.stop();
    this.output.discard();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const streams = [...this.streams.values()];
    this.streams.clear();
    this.blocked.clear();
    this.drainWaiters.clear();
    this.open = 0;
    for (const stream of streams) stream.closed();
    this.owner.connectionClosed(this);
  }

  /**
   * Every keepAliveTimeout: a connection with no stream open (and nothing read) for that long
   * gets GOAWAY and closes; one whose frames waited to be sent at the last check and still
   * wait, no fewer and without a 'drain' between (a client that stopped reading), is closed. A
   * stream that is only quiet, or waits for the client's flow-control window, keeps its
   * connection.
   */
  timerFired(): void {
    this.timer = null;
    if (this.closed) return;
    const timeout = this.settings.keepAliveTimeout;
    const now = performance.now();
    if (now - this.checkedAt >= timeout) {
      this.checkedAt = now;
      const queued = this.output.queuedBytes;
      if (queued > 0 && this.queuedAtCheck > 0 && queued >= this.queuedAtCheck) {
        this.owner.stalled(this);
        this.reader.stop();
        this.raw.destroy();
        return;
      }
      this.queuedAtCheck = queued;
      if (this.blocked.size > 0) this.cancelStalledStreams();
    }
    let next = timeout;
    if (this.open === 0 && !this.goingAway) {
      const left = timeout - (now - Math.max(this.idleSince, this.lastRead));
      if (left <= 0) this.goaway();
      // The idle deadline comes before the next regular check: wake for it.
      else next = Math.max(left, 10);
    }
    if (!this.closed) this.timer = setTimeout(onConnectionTimer, next, this).unref();
  }

  /** Cancels the streams that waited for the client's window longer than flowControlTimeout. */
  private cancelStalledStreams(): void {
    const now = performance.now();
    const limit = this.settings.flowControlTimeout;
    for (const stream of [...this.blocked]) {
      if (stream.blockedSince === 0 || now - stream.blockedSince < limit) continue;
      this.streamError(stream, ErrorCode.CANCEL, `the client granted no flow-control window for ${limit} ms`);
    }
  }

  /** Ends the socket once our frames are written; destroyed when ours is flushed (the client need not close its side). */
  private endSocket(): void {
    if (this.raw.writableEnded) return;
    this.output.flush();
    this.raw.once('finish', destroyAfterEnd);
    this.raw.end();
  }
}

function onSocketData(this: TaggedSocket, chunk: Buffer): void {
  this[kConnection]!.received(chunk);
}

function onSocketDrain(this: TaggedSocket): void {
  this[kConnection]!.socketDrained();
}

function onSocketError(this: TaggedSocket): void {
  // The close that follows ends the connection; a reset by the client is not an error of ours.
}

function onSocketClose(this: TaggedSocket): void {
  this[kConnection]!.socketClosed();
}

function destroyAfterEnd(this: Socket): void {
  this.destroy();
}

function onConnectionTimer(connection: Http2ServerConnection): void {
  connection.timerFired();
}

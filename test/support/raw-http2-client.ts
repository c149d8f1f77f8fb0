import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

/** RFC 9113 §6 frame types. */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

/** Frame flags (ACK shares its bit with END_STREAM). */
export const Flag = { END_STREAM: 0x1, ACK: 0x1, END_HEADERS: 0x4, PADDED: 0x8, PRIORITY: 0x20 } as const;

/** RFC 9113 §7 error codes. */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

/** RFC 9113 §6.5.2 setting identifiers. */
export const Setting = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

export const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

/** The largest frame payload a peer must accept before SETTINGS_MAX_FRAME_SIZE says more. */
export const DEFAULT_MAX_FRAME_SIZE = 16_384;

// ---------------------------------------------------------------- frames the client writes

/** One frame: 9-byte header (length, type, flags, stream id) and its payload. */
export function frame(type: number, flags: number, streamId: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.allocUnsafe(9 + payload.length);
  out.writeUIntBE(payload.length, 0, 3);
  out[3] = type;
  out[4] = flags;
  out.writeUInt32BE(streamId & 0x7fffffff, 5);
  payload.copy(out, 9);
  return out;
}

export function settingsFrame(settings: ReadonlyArray<readonly [id: number, value: number]> = []): Buffer {
  const payload = Buffer.allocUnsafe(6 * settings.length);
  settings.forEach(([id, value], i) => {
    payload.writeUInt16BE(id, 6 * i);
    payload.writeUInt32BE(value, 6 * i + 2);
  });
  return frame(FrameType.SETTINGS, 0, 0, payload);
}

export function settingsAckFrame(): Buffer {
  return frame(FrameType.SETTINGS, Flag.ACK, 0);
}

export interface HeadersOptions {
  endStream?: boolean;
  /** false leaves the header block open for CONTINUATION frames. Default true. */
  endHeaders?: boolean;
}

export function headersFrame(streamId: number, block: Buffer, { endStream = false, endHeaders = true }: HeadersOptions = {}): Buffer {
  return frame(FrameType.HEADERS, (endStream ? Flag.END_STREAM : 0) | (endHeaders ? Flag.END_HEADERS : 0), streamId, block);
}

export function continuationFrame(streamId: number, fragment: Buffer, endHeaders = false): Buffer {
  return frame(FrameType.CONTINUATION, endHeaders ? Flag.END_HEADERS : 0, streamId, fragment);
}

export function dataFrame(streamId: number, data: Buffer, endStream = false): Buffer {
  return frame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId, data);
}

export function rstStreamFrame(streamId: number, errorCode: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(errorCode);
  return frame(FrameType.RST_STREAM, 0, streamId, payload);
}

export function pingFrame(opaque: Buffer = Buffer.alloc(8), ack = false): Buffer {
  return frame(FrameType.PING, ack ? Flag.ACK : 0, 0, opaque);
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const payload = Buffer.allocUnsafe(4);
  payload.writeUInt32BE(increment & 0x7fffffff);
  return frame(FrameType.WINDOW_UPDATE, 0, streamId, payload);
}

export function goawayFrame(lastStreamId: number, errorCode: number): Buffer {
  const payload = Buffer.allocUnsafe(8);
  payload.writeUInt32BE(lastStreamId & 0x7fffffff, 0);
  payload.writeUInt32BE(errorCode, 4);
  return frame(FrameType.GOAWAY, 0, 0, payload);
}

/** `count` copies of one frame back to back, for floods (one buffer, one write). */
export function repeated(oneFrame: Buffer, count: number): Buffer {
  return Buffer.alloc(oneFrame.length * count, oneFrame);
}

// ---------------------------------------------------------------- HPACK (encoding only)

/**
 * An HPACK header block (RFC 7541) of literal fields without indexing, new names, no Huffman:
 * the encoder state is then empty and every field is visible byte for byte, so a test can cut
 * a block anywhere for CONTINUATION frames. Hand-written rather than a library: a library
 * encoder indexes and Huffman-codes (state a test would have to mirror), and this form is one
 * integer encoding and two byte copies per field.
 */
export function hpackBlock(fields: ReadonlyArray<readonly [name: string, value: string]>): Buffer {
  const parts: Buffer[] = [];
  for (const [name, value] of fields) {
    parts.push(Buffer.of(0x00), hpackString(name), hpackString(value));
  }
  return Buffer.concat(parts);
}

/** A string literal, H bit clear, length as a 7-bit-prefix integer. */
function hpackString(s: string): Buffer {
  const bytes = Buffer.from(s, 'latin1');
  return Buffer.concat([hpackInteger(bytes.length, 7), bytes]);
}

/** RFC 7541 §5.1 integer with an N-bit prefix (the prefix's other bits left 0). */
export function hpackInteger(value: number, prefixBits: number): Buffer {
  const max = (1 << prefixBits) - 1;
  if (value < max) return Buffer.of(value);
  const out = [max];
  let rest = value - max;
  while (rest >= 128) {
    out.push((rest % 128) + 128);
    rest = Math.floor(rest / 128);
  }
  out.push(rest);
  return Buffer.from(out);
}

/** The header block of a request: pseudo-headers first, then `extra`. */
export function requestBlock(authority: string, path = '/', method = 'GET', extra: ReadonlyArray<readonly [string, string]> = []): Buffer {
  return hpackBlock([[':method', method], [':scheme', 'http'], [':authority', authority], [':path', path], ...extra]);
}

// ---------------------------------------------------------------- frames the client reads

/** A frame the server sent, with the fields tests look at decoded. */
export interface ReceivedFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
  /** RST_STREAM and GOAWAY. */
  errorCode?: number;
  /** GOAWAY. */
  lastStreamId?: number;
  /** SETTINGS (not ACK): identifier → value. */
  settings?: Map<number, number>;
  /** WINDOW_UPDATE. */
  increment?: number;
}

function decodeFrame(type: number, flags: number, streamId: number, payload: Buffer): ReceivedFrame {
  const f: ReceivedFrame = { type, flags, streamId, payload };
  if (type === FrameType.RST_STREAM && payload.length >= 4) f.errorCode = payload.readUInt32BE(0);
  if (type === FrameType.GOAWAY && payload.length >= 8) {
    f.lastStreamId = payload.readUInt32BE(0) & 0x7fffffff;
    f.errorCode = payload.readUInt32BE(4);
  }
  if (type === FrameType.WINDOW_UPDATE && payload.length >= 4) f.increment = payload.readUInt32BE(0) & 0x7fffffff;
  if (type === FrameType.SETTINGS && (flags & Flag.ACK) === 0) {
    f.settings = new Map();
    for (let i = 0; i + 6 <= payload.length; i += 6) f.settings.set(payload.readUInt16BE(i), payload.readUInt32BE(i + 2));
  }
  return f;
}

export interface RawHttp2Options {
  /** Answer each SETTINGS from the server with an ACK (default true). */
  ackSettings?: boolean;
}

/**
 * A client connection that writes HTTP/2 frames exactly as a test builds them (no preface,
 * no SETTINGS unless the test writes them; see `handshake`) and parses every frame the server
 * sends. Counts the bytes written, notes when the server closes, and keeps the flow-control
 * windows the server grants so that an upload can honour them (`sendWithinWindow`).
 */
export class RawHttp2Client {
  readonly frames: ReceivedFrame[] = [];
  /** Bytes handed to the socket so far. */
  bytesWritten = 0;
  /** The server's SETTINGS as last received. */
  readonly serverSettings = new Map<number, number>();
  /** Connection-level send window (RFC 9113 §6.9.1: starts at 65,535). */
  connectionWindow = 65_535;
  private readonly streamWindows = new Map<number, number>();
  private buffered: Buffer = Buffer.alloc(0);
  private closedFlag = false;
  private readonly waiters = new Set<() => void>();
  /** Error the socket reported, if any (a reset by the server). */
  socketError: (Error & { code?: string }) | null = null;

  private constructor(
    readonly socket: Socket,
    private readonly options: RawHttp2Options,
  ) {
    socket.on('data', this.onData);
    socket.on('error', (err: Error & { code?: string }) => {
      // A reset by the server is one way of closing the connection; `closed` reports it.
      this.socketError = err;
    });
    socket.once('close', () => {
      this.closedFlag = true;
      this.notify();
    });
  }

  /** Cleartext HTTP/2 with prior knowledge (h2c). */
  static connect(port: number, options: RawHttp2Options = {}, host = '127.0.0.1'): Promise<RawHttp2Client> {
    return new Promise((resolve, reject) => {
      const socket = netConnect(port, host);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawHttp2Client(socket, options));
      });
      socket.once('error', reject);
    });
  }

  /** TLS with ALPN h2; rejects unless the server selected h2. */
  static connectTls(port: number, servername: string, ca: Buffer | string, options: RawHttp2Options = {}): Promise<RawHttp2Client> {
    return new Promise((resolve, reject) => {
      const socket = tlsConnect({ host: '127.0.0.1', port, servername, ca, ALPNProtocols: ['h2'] });
      socket.once('secureConnect', () => {
        socket.off('error', reject);
        if (socket.alpnProtocol !== 'h2') {
          socket.destroy();
          reject(new Error(`server selected ALPN ${String(socket.alpnProtocol)}, not h2`));
          return;
        }
        resolve(new RawHttp2Client(socket, options));
      });
      socket.once('error', reject);
    });
  }

  /** The connection preface, an empty SETTINGS, and (default) waits for the server's SETTINGS. */
  async handshake(settings: ReadonlyArray<readonly [number, number]> = []): Promise<void> {
    this.write(PREFACE, settingsFrame(settings));
    await this.waitFor((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0, 5_000, 'the server SETTINGS');
  }

  get closed(): boolean {
    return this.closedFlag;
  }

  /** Writes the buffers in one socket write; returns what socket.write returned. */
  write(...buffers: Buffer[]): boolean {
    const bytes = buffers.length === 1 ? buffers[0]! : Buffer.concat(buffers);
    this.bytesWritten += bytes.length;
    if (this.socket.destroyed) return false;
    return this.socket.write(bytes);
  }

  /** Stops reading what the server sends (its frames pile up in the kernel buffers). */
  stopReading(): void {
    this.socket.pause();
  }

  /** Frames received so far that match. */
  received(type: number, streamId?: number): ReceivedFrame[] {
    return this.frames.filter((f) => f.type === type && (streamId === undefined || f.streamId === streamId));
  }

  /** The first GOAWAY received, if any. */
  get goaway(): ReceivedFrame | undefined {
    return this.frames.find((f) => f.type === FrameType.GOAWAY);
  }

  /** Resolves with the first frame (received before or after the call) that matches. */
  async waitFor(match: (f: ReceivedFrame) => boolean, timeoutMs = 5_000, what = 'a frame'): Promise<ReceivedFrame> {
    let found: ReceivedFrame | undefined;
    await this.until(() => (found = this.frames.find(match)) !== undefined, timeoutMs, what);
    return found!;
  }

  /** Resolves when the server has closed the connection. */
  async waitForClose(timeoutMs = 5_000): Promise<void> {
    await this.until(() => this.closedFlag, timeoutMs, 'the server to close the connection');
  }

  /** Resolves when `check` holds after a frame arrives or the connection closes. */
  until(check: () => boolean, timeoutMs: number, what: string): Promise<void> {
    if (check()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const waiter = (): void => {
        if (!check()) return;
        clearTimeout(timer);
        this.waiters.delete(waiter);
        resolve();
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; received ${this.describe()}`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }

  /** The send window of a stream (the server's initial window until it says otherwise). */
  streamWindow(streamId: number): number {
    return this.streamWindows.get(streamId) ?? this.serverSettings.get(Setting.INITIAL_WINDOW_SIZE) ?? 65_535;
  }

  /**
   * Sends as much of `data` (from `offset`) on `streamId` as both windows allow, in DATA frames
   * of at most the default frame size, the last one with END_STREAM when `endStream` and the
   * data is all sent. Returns the new offset.
   */
  sendWithinWindow(streamId: number, data: Buffer, offset: number, endStream: boolean): number {
    const frames: Buffer[] = [];
    let window = Math.min(this.connectionWindow, this.streamWindow(streamId));
    while (offset < data.length && window > 0) {
      const n = Math.min(DEFAULT_MAX_FRAME_SIZE, window, data.length - offset);
      const last = offset + n === data.length;
      frames.push(dataFrame(streamId, data.subarray(offset, offset + n), last && endStream));
      offset += n;
      window -= n;
      this.connectionWindow -= n;
      this.streamWindows.set(streamId, this.streamWindow(streamId) - n);
    }
    if (frames.length > 0) this.write(...frames);
    return offset;
  }

  close(): void {
    this.socket.destroy();
  }

  /** A short list of what was received, for failure messages. */
  describe(): string {
    const names = Object.fromEntries(Object.entries(FrameType).map(([k, v]) => [v, k]));
    const counts = new Map<string, number>();
    for (const f of this.frames) {
      const key = `${names[f.type] ?? f.type}${f.errorCode !== undefined ? `(0x${f.errorCode.toString(16)})` : ''}`;
      counts.set(key, (counts.get(key) ?? 0) + 1);
    }
    return `${[...counts].map(([k, n]) => `${n}×${k}`).join(', ') || 'no frames'}${this.closedFlag ? ', then the connection closed' : ''}`;
  }

  private readonly onData = (chunk: Buffer): void => {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    let at = 0;
    while (this.buffered.length - at >= 9) {
      const length = this.buffered.readUIntBE(at, 3);
      if (this.buffered.length - at < 9 + length) break;
      const f = decodeFrame(this.buffered[at + 3]!, this.buffered[at + 4]!, this.buffered.readUInt32BE(at + 5) & 0x7fffffff, Buffer.from(this.buffered.subarray(at + 9, at + 9 + length)));
      at += 9 + length;
      this.frames.push(f);
      this.track(f);
    }
    this.buffered = this.buffered.subarray(at);
    this.notify();
  };

  private track(f: ReceivedFrame): void {
    if (f.settings !== undefined) {
      const initial = f.settings.get(Setting.INITIAL_WINDOW_SIZE);
      if (initial !== undefined) {
        // RFC 9113 §6.9.2: a new initial window changes every open stream's window by the difference.
        const delta = initial - (this.serverSettings.get(Setting.INITIAL_WINDOW_SIZE) ?? 65_535);
        for (const [id, w] of this.streamWindows) this.streamWindows.set(id, w + delta);
      }
      for (const [id, v] of f.settings) this.serverSettings.set(id, v);
      if (this.options.ackSettings !== false) this.write(settingsAckFrame());
    }
    if (f.increment !== undefined) {
      if (f.streamId === 0) this.connectionWindow += f.increment;
      else this.streamWindows.set(f.streamId, this.streamWindow(f.streamId) + f.increment);
    }
  }

  private notify(): void {
    for (const w of [...this.waiters]) w();
  }
}

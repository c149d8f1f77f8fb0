import { FRAME_HEADER_LENGTH } from './frame-types.js';

/** What the frame reader reports to: one call a frame, or one oversized frame (then nothing more). */
export interface FrameSink {
  /** A whole frame; `payload` is a view valid during the call only when it lies in the chunk. */
  onFrame(type: number, flags: number, streamId: number, payload: Buffer): void;
  /** A frame header announcing more than `maxFrameSize` bytes (RFC 9113 §4.2: FRAME_SIZE_ERROR). */
  onOversizedFrame(type: number, length: number, streamId: number): void;
}

/**
 * Splits the bytes of a connection into HTTP/2 frames (RFC 9113 §4.1). Frames that lie whole in
 * a socket chunk are handed on as views of it (no copy); only a frame split across chunks is
 * gathered into one buffer. `maxFrameSize` is our SETTINGS_MAX_FRAME_SIZE.
 */
export class FrameReader {
  /** Bytes of an unfinished frame (or frame header) kept from earlier chunks. */
  private pending: Buffer | null = null;
  private stopped = false;

  constructor(
    private readonly sink: FrameSink,
    private readonly maxFrameSize: number,
  ) {}

  /** Stops reporting frames (the connection is being closed). */
  stop(): void {
    this.stopped = true;
    this.pending = null;
  }

  push(chunk: Buffer): void {
    if (this.stopped) return;
    let buf = chunk;
    if (this.pending !== null) {
      buf = Buffer.concat([this.pending, chunk]);
      this.pending = null;
    }
    let pos = 0;
    const end = buf.length;
    while (!this.stopped && end - pos >= FRAME_HEADER_LENGTH) {
      const length = (buf[pos]! << 16) | (buf[pos + 1]! << 8) | buf[pos + 2]!;
      const type = buf[pos + 3]!;
      const streamId = buf.readUInt32BE(pos + 5) & 0x7fffffff;
      if (length > this.maxFrameSize) {
        this.stopped = true;
        this.sink.onOversizedFrame(type, length, streamId);
        return;
      }
      if (end - pos - FRAME_HEADER_LENGTH < length) break;
      const start = pos + FRAME_HEADER_LENGTH;
      pos = start + length;
      this.sink.onFrame(type, buf[start - 5]!, streamId, buf.subarray(start, pos));
    }
    if (!this.stopped && pos < end) this.pending = buf.subarray(pos);
  }
}

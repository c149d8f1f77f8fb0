import { ErrorCode, FRAME_HEADER_LENGTH, FrameType, Flag } from './frame-types.js';

/**
 * Builders of the HTTP/2 frames either side sends (RFC 9113 §6). Each returns one Buffer to write;
 * the HEADERS writer takes a block encoded in place after room left for the frame headers.
 */

/** Writes a 9-byte frame header at `pos`. */
export function writeFrameHeader(buf: Buffer, pos: number, length: number, type: number, flags: number, streamId: number): void {
  buf[pos] = length >>> 16;
  buf[pos + 1] = (length >>> 8) & 0xff;
  buf[pos + 2] = length & 0xff;
  buf[pos + 3] = type;
  buf[pos + 4] = flags;
  buf.writeUInt32BE(streamId & 0x7fffffff, pos + 5);
}

export function settingsFrame(settings: readonly (readonly [number, number])[]): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + 6 * settings.length);
  writeFrameHeader(buf, 0, 6 * settings.length, FrameType.SETTINGS, 0, 0);
  let pos = FRAME_HEADER_LENGTH;
  for (const [id, value] of settings) {
    buf.writeUInt16BE(id, pos);
    buf.writeUInt32BE(value, pos + 2);
    pos += 6;
  }
  return buf;
}

export const SETTINGS_ACK = (() => {
  const buf = Buffer.alloc(FRAME_HEADER_LENGTH);
  writeFrameHeader(buf, 0, 0, FrameType.SETTINGS, Flag.ACK, 0);
  return buf;
})();

export function pingAckFrame(payload: Buffer): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + 8);
  writeFrameHeader(buf, 0, 8, FrameType.PING, Flag.ACK, 0);
  payload.copy(buf, FRAME_HEADER_LENGTH, 0, 8);
  return buf;
}

export function windowUpdateFrame(streamId: number, increment: number): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + 4);
  writeFrameHeader(buf, 0, 4, FrameType.WINDOW_UPDATE, 0, streamId);
  buf.writeUInt32BE(increment, FRAME_HEADER_LENGTH);
  return buf;
}

export function rstStreamFrame(streamId: number, code: number): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + 4);
  writeFrameHeader(buf, 0, 4, FrameType.RST_STREAM, 0, streamId);
  buf.writeUInt32BE(code, FRAME_HEADER_LENGTH);
  return buf;
}

export function goawayFrame(lastStreamId: number, code: number = ErrorCode.NO_ERROR, debug = ''): Buffer {
  const debugLength = Buffer.byteLength(debug);
  const buf = Buffer.allocUnsafe(FRAME_HEADER_LENGTH + 8 + debugLength);
  writeFrameHeader(buf, 0, 8 + debugLength, FrameType.GOAWAY, 0, 0);
  buf.writeUInt32BE(lastStreamId & 0x7fffffff, FRAME_HEADER_LENGTH);
  buf.writeUInt32BE(code, FRAME_HEADER_LENGTH + 4);
  buf.write(debug, FRAME_HEADER_LENGTH + 8);
  return buf;
}

/** A DATA frame header for `length` bytes of `streamId` (the payload is written after it, unpadded). */
export function dataFrameHeader(streamId: number, length: number, endStream: boolean): Buffer {
  const buf = Buffer.allocUnsafe(FRAME_HEADER_LENGTH);
  writeFrameHeader(buf, 0, length, FrameType.DATA, endStream ? Flag.END_STREAM : 0, streamId);
  return buf;
}

/**
 * HEADERS (+ CONTINUATION) frames of the block `block[FRAME_HEADER_LENGTH, end)`, split at
 * `maxFrameSize`. The block was encoded after FRAME_HEADER_LENGTH bytes of room, so the common
 * case (one frame) writes its header there and copies once.
 */
export function headersFrames(block: Buffer, end: number, streamId: number, endStream: boolean, maxFrameSize: number): Buffer {
  const blockLength = end - FRAME_HEADER_LENGTH;
  const endStreamFlag = endStream ? Flag.END_STREAM : 0;
  if (blockLength <= maxFrameSize) {
    writeFrameHeader(block, 0, blockLength, FrameType.HEADERS, Flag.END_HEADERS | endStreamFlag, streamId);
    return Buffer.from(block.subarray(0, end));
  }
  const frames = Math.ceil(blockLength / maxFrameSize);
  const out = Buffer.allocUnsafe(blockLength + frames * FRAME_HEADER_LENGTH);
  let src = FRAME_HEADER_LENGTH;
  let pos = 0;
  for (let i = 0; i < frames; i++) {
    const length = Math.min(maxFrameSize, end - src);
    const last = i === frames - 1;
    const type = i === 0 ? FrameType.HEADERS : FrameType.CONTINUATION;
    const flags = (i === 0 ? endStreamFlag : 0) | (last ? Flag.END_HEADERS : 0);
    writeFrameHeader(out, pos, length, type, flags, streamId);
    block.copy(out, pos + FRAME_HEADER_LENGTH, src, src + length);
    pos += FRAME_HEADER_LENGTH + length;
    src += length;
  }
  return out;
}

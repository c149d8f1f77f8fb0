import { describe, expect, it } from 'vitest';
import { FrameReader } from '../../../../src/codec/http2/frame-reader.js';
import { FRAME_HEADER_LENGTH, FrameType, Flag } from '../../../../src/codec/http2/frame-types.js';
import { goawayFrame, headersFrames, rstStreamFrame, windowUpdateFrame } from '../../../../src/codec/http2/frame-writer.js';

interface Seen {
  type: number;
  flags: number;
  streamId: number;
  payload: string;
}

function reader(maxFrameSize = 16_384): { reader: FrameReader; frames: Seen[]; oversized: [number, number, number][] } {
  const frames: Seen[] = [];
  const oversized: [number, number, number][] = [];
  const r = new FrameReader(
    {
      onFrame: (type, flags, streamId, payload) => frames.push({ type, flags, streamId, payload: payload.toString('hex') }),
      onOversizedFrame: (type, length, streamId) => oversized.push([type, length, streamId]),
    },
    maxFrameSize,
  );
  return { reader: r, frames, oversized };
}

describe('HTTP/2 frames (RFC 9113 §4.1)', () => {
  it('splits a header block larger than SETTINGS_MAX_FRAME_SIZE into HEADERS and CONTINUATION, END_HEADERS on the last', () => {
    const block = Buffer.alloc(FRAME_HEADER_LENGTH + 40_000);
    for (let i = 0; i < 40_000; i++) block[FRAME_HEADER_LENGTH + i] = i & 0xff;
    const out = headersFrames(block, block.length, 5, true, 16_384);
    const { reader: r, frames } = reader();
    r.push(out);
    expect(frames.map((f) => [f.type, f.flags, f.streamId, f.payload.length / 2])).toEqual([
      [FrameType.HEADERS, Flag.END_STREAM, 5, 16_384],
      [FrameType.CONTINUATION, 0, 5, 16_384],
      [FrameType.CONTINUATION, Flag.END_HEADERS, 5, 40_000 - 2 * 16_384],
    ]);
    expect(Buffer.from(frames.map((f) => f.payload).join(''), 'hex').equals(block.subarray(FRAME_HEADER_LENGTH))).toBe(true);
  });

  it('writes one HEADERS frame with END_HEADERS for a block that fits', () => {
    const block = Buffer.concat([Buffer.alloc(FRAME_HEADER_LENGTH), Buffer.of(0x82, 0x86)]);
    expect(headersFrames(block, block.length, 1, false, 16_384).toString('hex')).toBe('000002010400000001' + '8286');
  });

  it('reassembles frames split across chunks at every byte boundary, and frames sharing a chunk', () => {
    const bytes = Buffer.concat([windowUpdateFrame(3, 1000), rstStreamFrame(3, 8), goawayFrame(7, 1, 'bye')]);
    for (let cut = 1; cut < bytes.length; cut++) {
      const { reader: r, frames } = reader();
      r.push(bytes.subarray(0, cut));
      r.push(bytes.subarray(cut));
      expect(frames.map((f) => f.type)).toEqual([FrameType.WINDOW_UPDATE, FrameType.RST_STREAM, FrameType.GOAWAY]);
      expect(frames[2]!.payload).toBe('00000007' + '00000001' + Buffer.from('bye').toString('hex'));
    }
  });

  it('reports a frame longer than our SETTINGS_MAX_FRAME_SIZE from its header alone, and stops', () => {
    const { reader: r, frames, oversized } = reader();
    r.push(Buffer.from('004001' + '00' + '00' + '00000001', 'hex'));
    r.push(windowUpdateFrame(0, 1));
    expect(oversized).toEqual([[0, 0x4001, 1]]);
    expect(frames).toEqual([]);
  });
});

import { describe, expect, it } from 'vitest';
import { HpackDecoder } from '../../../../src/codec/http2/hpack-decoder.js';
import { writeField, writePseudoHeaders, writeStatus } from '../../../../src/codec/http2/hpack-encoder.js';
import { huffmanCode } from '../../../../src/codec/http2/huffman.js';

function decodeAll(buf: Buffer, end: number): string[] {
  const out: string[] = [];
  const decoder = new HpackDecoder();
  decoder.decode(buf, 0, end, out, 1 << 20);
  expect(decoder.dynamicEntries).toEqual([]);
  return out;
}

describe('HPACK request encoder', () => {
  it('writes whole static entries as one byte and literals without indexing (RFC 7541 C.2.2 form)', () => {
    const buf = Buffer.alloc(256);
    let end = writePseudoHeaders(buf, 0, 'GET', false, 'www.example.com', '/');
    // :method GET (0x82), :scheme http (0x86), :authority literal with name index 1, :path / (0x84).
    expect(buf.subarray(0, end).toString('hex')).toBe('8286010f7777772e6578616d706c652e636f6d84');
    end = writeField(buf, 0, ':path', '/sample/path');
    expect(buf.subarray(0, end).toString('hex')).toBe('040c2f73616d706c652f70617468');
  });

  it('round-trips through the decoder: other methods, https, long values, names outside the static table', () => {
    const buf = Buffer.alloc(4096);
    const long = 'v'.repeat(1_000);
    let end = writePseudoHeaders(buf, 0, 'DELETE', true, 'svc.test:8443', '/a?b=c');
    end = writeField(buf, end, 'content-type', 'application/grpc');
    end = writeField(buf, end, 'x-long', long);
    end = writeField(buf, end, 'te', 'trailers');
    expect(decodeAll(buf, end)).toEqual([':method', 'DELETE', ':scheme', 'https', ':authority', 'svc.test:8443', ':path', '/a?b=c', 'content-type', 'application/grpc', 'x-long', long, 'te', 'trailers']);
  });
});

describe('HPACK response :status', () => {
  it('is one static-table byte for 200, 204, 206, 304, 400, 404 and 500, a literal with the static name otherwise; both decode', () => {
    const decoder = new HpackDecoder();
    for (const [status, bytes] of [
      [200, 1],
      [204, 1],
      [206, 1],
      [304, 1],
      [400, 1],
      [404, 1],
      [500, 1],
      [103, 5],
      [302, 5],
      [503, 5],
    ] as const) {
      const buf = Buffer.alloc(16);
      const end = writeStatus(buf, 0, status);
      expect(end).toBe(bytes);
      const out: string[] = [];
      decoder.decode(buf, 0, end, out, 4096);
      expect(out).toEqual([':status', String(status)]);
    }
  });
});

describe('HPACK Huffman table (RFC 7541 Appendix B)', () => {
  it('is a complete prefix code: the Kraft sum of the 256 symbols and EOS is exactly 1', () => {
    let sum = 2 ** -30; // EOS: 30 bits
    const seen = new Set<string>();
    for (let s = 0; s < 256; s++) {
      const { code, bits } = huffmanCode(s);
      expect(bits).toBeGreaterThanOrEqual(5);
      expect(bits).toBeLessThanOrEqual(30);
      expect(code).toBeLessThan(2 ** bits);
      seen.add(`${bits}:${code}`);
      sum += 2 ** -bits;
    }
    expect(seen.size).toBe(256);
    expect(sum).toBe(1);
  });

  it('has the codes the RFC lists for a few symbols', () => {
    expect(huffmanCode(0x30)).toEqual({ code: 0x0, bits: 5 }); // '0'
    expect(huffmanCode(0x61)).toEqual({ code: 0x3, bits: 5 }); // 'a'
    expect(huffmanCode(0x20)).toEqual({ code: 0x14, bits: 6 }); // ' '
    expect(huffmanCode(0x00)).toEqual({ code: 0x1ff8, bits: 13 });
    expect(huffmanCode(0xff)).toEqual({ code: 0x3ffffee, bits: 26 });
  });
});

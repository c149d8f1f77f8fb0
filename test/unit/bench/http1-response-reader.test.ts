import { describe, expect, it } from 'vitest';
import { Http1ResponseReader } from '../../../bench/lib/http1-response-reader.js';

const LENGTH = Buffer.from('HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world', 'latin1');
const CHUNKED = Buffer.from(
  'HTTP/1.1 201 Created\r\ntransfer-encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nx-trailer: yes\r\n\r\n',
  'latin1',
);

/** Feeds `bytes` in pieces cut at `cuts`; returns every result. */
function feedInPieces(reader: Http1ResponseReader, bytes: Buffer, cuts: number[]): unknown[] {
  const out: unknown[] = [];
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    if (cut > from) out.push(reader.feed(bytes.subarray(from, cut)));
    from = cut;
  }
  return out;
}

describe('Http1ResponseReader', () => {
  for (const [name, bytes, status] of [
    ['Content-Length', LENGTH, 200],
    ['chunked with extensions and trailers', CHUNKED, 201],
  ] as const) {
    it(`frames a ${name} response whole and cut at every byte, once and twice`, () => {
      for (const cuts of [[], ...Array.from({ length: bytes.length - 1 }, (_, i) => [i + 1]), [3, 20, 40, 50, 51, 52]]) {
        const reader = new Http1ResponseReader();
        for (let round = 0; round < 2; round++) {
          reader.expect();
          const results = feedInPieces(reader, bytes, cuts);
          expect(results.at(-1), `cuts ${cuts.join(',')}: ${reader.error}`).toEqual({ status, close: false });
          expect(results.slice(0, -1).every((r) => r === null)).toBe(true);
          expect(reader.busy).toBe(false);
        }
      }
    });
  }

  it('skips a 100 Continue before the final response', () => {
    const reader = new Http1ResponseReader();
    reader.expect();
    expect(reader.feed(Buffer.from('HTTP/1.1 100 Continue\r\n\r\n', 'latin1'))).toBeNull();
    expect(reader.feed(LENGTH)).toEqual({ status: 200, close: false });
  });

  it('ends a 204 and a 304 at the head and reads Connection: close and HTTP/1.0', () => {
    const reader = new Http1ResponseReader();
    reader.expect();
    expect(reader.feed(Buffer.from('HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n'))).toEqual({ status: 204, close: true });
    reader.expect();
    expect(reader.feed(Buffer.from('HTTP/1.1 304 Not Modified\r\ncontent-length: 99\r\n\r\n'))).toEqual({ status: 304, close: false });
    reader.expect();
    expect(reader.feed(Buffer.from('HTTP/1.0 200 OK\r\ncontent-length: 0\r\n\r\n'))).toEqual({ status: 200, close: true });
    reader.expect();
    expect(reader.feed(Buffer.from('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\ncontent-length: 0\r\n\r\n'))).toEqual({ status: 200, close: false });
  });

  for (const [what, bytes, reason] of [
    ['a body until close', 'HTTP/1.1 200 OK\r\n\r\nbody', /neither Content-Length nor chunked/],
    ['a status line that is not HTTP', 'SPDY/3 200 OK\r\n\r\n', /not an HTTP\/1.x status line/],
    ['a status code that is not a number', 'HTTP/1.1 2x0 OK\r\ncontent-length: 0\r\n\r\n', /malformed status code/],
    ['a negative Content-Length', 'HTTP/1.1 200 OK\r\ncontent-length: -1\r\n\r\n', /malformed Content-Length/],
    ['a chunk size that is not hex', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\nzz\r\n', /malformed chunk size/],
    ['chunk data without its CRLF', 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nab\r\n', /not followed by CRLF/],
    ['bytes after the response', 'HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\nab', /after a complete response/],
  ] as const) {
    it(`rejects ${what}, saying why`, () => {
      const reader = new Http1ResponseReader();
      reader.expect();
      expect(reader.feed(Buffer.from(bytes, 'latin1'))).toBeUndefined();
      expect(reader.error).toMatch(reason);
    });
  }

  it('rejects bytes when no response is expected, and a head that never ends', () => {
    const idle = new Http1ResponseReader();
    expect(idle.feed(LENGTH)).toBeUndefined();
    expect(idle.error).toMatch(/no request outstanding/);
    const reader = new Http1ResponseReader();
    reader.expect();
    const filler = Buffer.alloc(16 * 1024, 'a');
    let result: unknown = reader.feed(Buffer.from('HTTP/1.1 200 OK\r\nx: ', 'latin1'));
    for (let i = 0; i < 5 && result === null; i++) result = reader.feed(filler);
    expect(result).toBeUndefined();
    expect(reader.error).toMatch(/head longer than/);
  });
});

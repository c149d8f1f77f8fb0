import { describe, expect, it } from 'vitest';
import { Http1Parser, ParseError, ParserKind, type ParserHandler } from '../../../src/codec/llhttp.js';

/** A request parser's handler that collects what it is told. */
function collector(): ParserHandler & { url: string; body: Buffer[]; complete: number } {
  const handler = {
    url: '',
    body: [] as Buffer[],
    complete: 0,
    onMessageBegin: () => 0,
    onUrl(chunk: Buffer, start: number, end: number) {
      handler.url += chunk.toString('latin1', start, end);
      return 0;
    },
    onStatus: () => 0,
    onHeaderField: () => 0,
    onHeaderValue: () => 0,
    onHeadersComplete: () => 0,
    onBody(chunk: Buffer, start: number, end: number) {
      handler.body.push(Buffer.from(chunk.subarray(start, end)));
      return 0;
    },
    onMessageComplete() {
      handler.complete++;
      return 0;
    },
  };
  return handler;
}

describe('llhttp', () => {
  it('parses small input, then input larger than its WebAssembly memory held, then small input again (the memory grew under the view of it)', () => {
    const first = collector();
    const before = new Http1Parser(ParserKind.REQUEST, first);
    expect(before.execute(Buffer.from('GET /first HTTP/1.1\r\nhost: a\r\n\r\n', 'latin1'))).toBe(ParseError.OK);
    expect(first.url).toBe('/first');
    before.free();

    // 32 MiB in one execute(): the shared input buffer is allocated anew, which grows the
    // instance's memory (128 KiB at start) and detaches the view the input was copied through.
    const body = Buffer.alloc(32 * 1024 * 1024, 'b');
    body[0] = 0x61;
    body[body.length - 1] = 0x7a;
    const big = collector();
    const parser = new Http1Parser(ParserKind.REQUEST, big);
    const head = Buffer.from(`POST /big HTTP/1.1\r\nhost: a\r\ncontent-length: ${body.length}\r\n\r\n`, 'latin1');
    expect(parser.execute(Buffer.concat([head, body]))).toBe(ParseError.OK);
    expect(big.complete).toBe(1);
    expect(big.url).toBe('/big');
    const received = Buffer.concat(big.body);
    expect(received.length).toBe(body.length);
    expect(received.equals(body)).toBe(true);

    // Another parser, small input: copied through a view of the grown memory.
    const small = collector();
    const other = new Http1Parser(ParserKind.REQUEST, small);
    expect(other.execute(Buffer.from('POST /small HTTP/1.1\r\nhost: a\r\ncontent-length: 5\r\n\r\nhello', 'latin1'))).toBe(ParseError.OK);
    expect(small.url).toBe('/small');
    expect(Buffer.concat(small.body).toString('latin1')).toBe('hello');
    parser.free();
    other.free();
  });
});

import { describe, expect, it } from 'vitest';
import { buildUpstreamTrailers } from '../../../src/proxy/request-trailers.js';

describe('buildUpstreamTrailers: the request trailers an upstream gets', () => {
  it('keeps ordinary fields in order, names lower-cased, repeated names repeated', () => {
    expect(buildUpstreamTrailers(['X-Checksum', 'sha256=abc', 'grpc-status', '0', 'x-a', '1', 'X-A', '2'], undefined)).toEqual(['x-checksum', 'sha256=abc', 'grpc-status', '0', 'x-a', '1', 'x-a', '2']);
  });

  const FORBIDDEN: [string, string][] = [
    [':path', '/evil'],
    [':authority', 'evil.test'],
    ['content-length', '5'],
    ['Transfer-Encoding', 'chunked'],
    ['host', 'evil.test'],
    ['TE', 'trailers'],
    ['connection', 'close'],
    ['keep-alive', 'timeout=5'],
    ['proxy-connection', 'close'],
    ['proxy-authorization', 'Basic eA=='],
    ['trailer', 'x-a'],
    ['upgrade', 'websocket'],
    ['authorization', 'Bearer t'],
    ['set-cookie', 'a=b'],
    ['content-type', 'text/plain'],
    ['content-encoding', 'gzip'],
    ['cache-control', 'no-store'],
    ['expect', '100-continue'],
    ['max-forwards', '1'],
    ['pragma', 'no-cache'],
    ['range', 'bytes=0-1'],
  ];
  for (const [name, value] of FORBIDDEN) {
    it(`drops ${name} (never a trailer)`, () => {
      expect(buildUpstreamTrailers([name, value, 'x-kept', 'yes'], undefined)).toEqual(['x-kept', 'yes']);
    });
  }

  it('drops fields the request\'s Connection header names', () => {
    expect(buildUpstreamTrailers(['x-hop', '1', 'X-Other-Hop', '2', 'x-kept', 'yes'], 'keep-alive, x-hop, X-Other-Hop')).toEqual(['x-kept', 'yes']);
  });

  const MALFORMED: [string, string, string][] = [
    ['a CR LF in the value', 'x-a', 'b\r\nx-injected: 1'],
    ['a bare LF in the value', 'x-a', 'b\nx-injected: 1'],
    ['a NUL in the value', 'x-a', 'b\u0000c'],
    ['DEL in the value', 'x-a', 'b\u007f'],
    ['a space in the name', 'x a', '1'],
    ['a colon in the name', 'x:a', '1'],
    ['a CR in the name', 'x-a\r\nx-injected', '1'],
    ['an empty name', '', '1'],
    ['a non-ASCII name', 'x-é', '1'],
  ];
  for (const [what, name, value] of MALFORMED) {
    it(`drops a field with ${what} (the last gate before an upstream's wire)`, () => {
      expect(buildUpstreamTrailers([name, value, 'x-kept', 'yes'], undefined)).toEqual(['x-kept', 'yes']);
    });
  }

  it('keeps HTAB and obs-text inside a value', () => {
    expect(buildUpstreamTrailers(['x-a', 'a\tb \u00e9'], undefined)).toEqual(['x-a', 'a\tb \u00e9']);
  });

  it('is null when nothing is left (no empty trailer section is announced)', () => {
    expect(buildUpstreamTrailers([], undefined)).toBeNull();
    expect(buildUpstreamTrailers(['content-length', '1', 'host', 'h'], undefined)).toBeNull();
  });

  it('ignores a dangling name without a value', () => {
    expect(buildUpstreamTrailers(['x-a', '1', 'x-b'], undefined)).toEqual(['x-a', '1']);
  });
});

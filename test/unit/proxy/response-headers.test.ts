import { describe, expect, it } from 'vitest';
import { fieldNamed } from '../../../src/codec/field-named.js';
import { buildClientHeaders, grpcStatusIn, UpstreamFramingError } from '../../../src/proxy/response-headers.js';

const raw = (...pairs: [string, string][]) => pairs.flatMap(([n, v]) => [Buffer.from(n), Buffer.from(v)]);

describe('buildClientHeaders', () => {
  it("keeps the upstream's request id, or adds ours when it sent none", () => {
    expect(buildClientHeaders(raw(['X-Request-Id', 'up-1'], ['content-type', 'text/plain']), 'x-request-id', 'ours')).toEqual(['X-Request-Id', 'up-1', 'content-type', 'text/plain']);
    expect(buildClientHeaders(raw(['content-type', 'text/plain']), 'x-request-id', 'ours')).toEqual(['content-type', 'text/plain', 'x-request-id', 'ours']);
  });

  it('still echoes the request id when the upstream names it in Connection', () => {
    const out = buildClientHeaders(raw(['Connection', 'x-request-id, x-private'], ['x-request-id', 'up-1'], ['x-private', 's'], ['etag', '"1"']), 'x-request-id', 'ours');
    expect(out).toEqual(['etag', '"1"', 'x-request-id', 'ours']);
    // The usual values in any case name nothing more; a list with more names still drops them.
    expect(buildClientHeaders(raw(['Connection', 'Keep-Alive'], ['x-a', '1']), 'x-request-id', 'ours')).toEqual(['x-a', '1', 'x-request-id', 'ours']);
    expect(buildClientHeaders(raw(['connection', 'CLOSE'], ['x-a', '1']), 'x-request-id', 'ours')).toEqual(['x-a', '1', 'x-request-id', 'ours']);
    expect(buildClientHeaders(raw(['Connection', 'keep-alive, X-A'], ['x-a', '1'], ['x-b', '2']), 'x-request-id', 'ours')).toEqual(['x-b', '2', 'x-request-id', 'ours']);
  });

  it('drops hop-by-hop fields and matches framing fields in any case', () => {
    const out = buildClientHeaders(
      raw(['Keep-Alive', 'timeout=5'], ['PROXY-CONNECTION', 'x'], ['Te', 'trailers'], ['TRAILER', 'x-t'], ['Upgrade', 'h2c'], ['Proxy-Authenticate', 'Basic'], ['proxy-authorization', 'x'], ['CONNECTION', 'keep-alive'], ['Content-LENGTH', '5'], ['Date', 'd']),
      'x-request-id',
      'ours',
    );
    expect(out).toEqual(['Content-LENGTH', '5', 'Date', 'd', 'x-request-id', 'ours']);
    expect(() => buildClientHeaders(raw(['Content-Length', '5'], ['CONTENT-LENGTH', '5']), 'x-request-id', 'ours')).toThrow(UpstreamFramingError);
    expect(() => buildClientHeaders(raw(['Content-Length', '5x']), 'x-request-id', 'ours')).toThrow(UpstreamFramingError);
    expect(() => buildClientHeaders(raw(['TRANSFER-ENCODING', 'gzip']), 'x-request-id', 'ours')).toThrow(UpstreamFramingError);
    expect(() => buildClientHeaders(raw(['Transfer-Encoding', 'chunked'], ['content-length', '5']), 'x-request-id', 'ours')).toThrow(UpstreamFramingError);
    expect(buildClientHeaders(raw(['Transfer-Encoding', 'Chunked']), 'x-request-id', 'ours')).toEqual(['x-request-id', 'ours']);
  });

  it('recognises the request id header in any case, and only that name (token characters other than letters are compared as they are)', () => {
    expect(buildClientHeaders(raw(['X_REQ~ID', 'up-1']), 'x_req~id', 'ours')).toEqual(['X_REQ~ID', 'up-1']);
    // "^" and "~" differ by the bit that lower-cases a letter: not the same name.
    expect(buildClientHeaders(raw(['x_req^id', 'up-1']), 'x_req~id', 'ours')).toEqual(['x_req^id', 'up-1', 'x_req~id', 'ours']);
    expect(fieldNamed(Buffer.from('Grpc-Status'), 'grpc-status')).toBe(true);
    expect(fieldNamed(Buffer.from('grpc-statu'), 'grpc-status')).toBe(false);
    expect(fieldNamed(Buffer.from('grpc^status'), 'grpc~status')).toBe(false);
    expect(grpcStatusIn(raw(['content-type', 'application/grpc'], ['GRPC-STATUS', '14']))).toBe(14);
  });
});

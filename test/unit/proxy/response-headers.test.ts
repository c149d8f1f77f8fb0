import { describe, expect, it } from 'vitest';
import { buildClientHeaders } from '../../../src/proxy/response-headers.js';

const raw = (...pairs: [string, string][]) => pairs.flatMap(([n, v]) => [Buffer.from(n), Buffer.from(v)]);

describe('buildClientHeaders', () => {
  it("keeps the upstream's request id, or adds ours when it sent none", () => {
    expect(buildClientHeaders(raw(['X-Request-Id', 'up-1'], ['content-type', 'text/plain']), 'x-request-id', 'ours')).toEqual(['X-Request-Id', 'up-1', 'content-type', 'text/plain']);
    expect(buildClientHeaders(raw(['content-type', 'text/plain']), 'x-request-id', 'ours')).toEqual(['content-type', 'text/plain', 'x-request-id', 'ours']);
  });

  it('still echoes the request id when the upstream names it in Connection', () => {
    const out = buildClientHeaders(raw(['Connection', 'x-request-id, x-private'], ['x-request-id', 'up-1'], ['x-private', 's'], ['etag', '"1"']), 'x-request-id', 'ours');
    expect(out).toEqual(['etag', '"1"', 'x-request-id', 'ours']);
  });
});

import { describe, expect, it } from 'vitest';
import { countGrpcMessages, probeProblem, type H2Probe } from '../../../bench/lib/h2-probe.js';

function frame(size: number): Buffer {
  const b = Buffer.alloc(5 + size, 1);
  b[0] = 0;
  b.writeUInt32BE(size, 1);
  return b;
}

const GRPC: H2Probe = { path: '/x.Y/Z', body: frame(4), grpcMessages: 2 };
const GRPC_HEADERS = { 'content-type': 'application/grpc' };

describe('countGrpcMessages', () => {
  it('counts length-prefixed messages, empty ones included', () => {
    expect(countGrpcMessages(Buffer.concat([frame(1024), frame(0), frame(3)]))).toBe(3);
    expect(countGrpcMessages(Buffer.alloc(0))).toBe(0);
  });

  it('gives null for a truncated prefix or message', () => {
    expect(countGrpcMessages(Buffer.concat([frame(10), Buffer.from([0, 0, 0])]))).toBeNull();
    expect(countGrpcMessages(frame(10).subarray(0, 12))).toBeNull();
  });
});

describe('probeProblem', () => {
  it('accepts a 200 for a plain request', () => {
    expect(probeProblem({ path: '/' }, { status: 200, headers: {}, trailers: {}, body: Buffer.alloc(1024) })).toBeNull();
  });

  it('names a status other than 200', () => {
    expect(probeProblem({ path: '/' }, { status: 502, headers: {}, trailers: {}, body: Buffer.alloc(0) })).toBe('status 502');
  });

  it('accepts a gRPC answer with the expected messages and grpc-status 0 in the trailers', () => {
    const answer = { status: 200, headers: GRPC_HEADERS, trailers: { 'grpc-status': '0' }, body: Buffer.concat([frame(8), frame(8)]) };
    expect(probeProblem(GRPC, answer)).toBeNull();
  });

  it('says the trailers were lost when grpc-status is missing', () => {
    const answer = { status: 200, headers: GRPC_HEADERS, trailers: {}, body: Buffer.concat([frame(8), frame(8)]) };
    expect(probeProblem(GRPC, answer)).toMatch(/grpc-status missing \(trailers lost\?\)/);
  });

  it('names a non-zero grpc-status (a trailers-only answer too)', () => {
    const answer = { status: 200, headers: { ...GRPC_HEADERS, 'grpc-status': '14' }, trailers: {}, body: Buffer.alloc(0) };
    expect(probeProblem({ ...GRPC, grpcMessages: 0 }, answer)).toBe('grpc-status 14, expected 0');
  });

  it('names a wrong content-type, a wrong message count and a malformed body', () => {
    expect(probeProblem(GRPC, { status: 200, headers: { 'content-type': 'text/html' }, trailers: { 'grpc-status': '0' }, body: Buffer.alloc(0) })).toBe(
      'content-type text/html, not application/grpc',
    );
    expect(probeProblem(GRPC, { status: 200, headers: GRPC_HEADERS, trailers: { 'grpc-status': '0' }, body: frame(8) })).toBe('1 gRPC messages (13 bytes), expected 2');
    expect(probeProblem(GRPC, { status: 200, headers: GRPC_HEADERS, trailers: { 'grpc-status': '0' }, body: Buffer.from([0, 0, 0]) })).toBe(
      'a malformed gRPC body (3 bytes), expected 2',
    );
  });
});

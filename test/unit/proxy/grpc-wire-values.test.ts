import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { encodeGrpcMessage, isGrpcRequest } from '../../../src/proxy/grpc-status.js';
import { grpcTimeoutMs } from '../../../src/proxy/grpc-timeout.js';
import { grpcStatusOf, PROXY_ERRORS, type ProxyErrorCode } from '../../../src/proxy/proxy-error.js';

const withType = (type: string | undefined) => ({ headers: type === undefined ? {} : { 'content-type': type } }) as unknown as IncomingMessage;

describe('grpc-timeout', () => {
  it('reads every unit, rounding up to whole milliseconds', () => {
    expect(grpcTimeoutMs('2H')).toBe(7_200_000);
    expect(grpcTimeoutMs('3M')).toBe(180_000);
    expect(grpcTimeoutMs('5S')).toBe(5_000);
    expect(grpcTimeoutMs('250m')).toBe(250);
    expect(grpcTimeoutMs('1500u')).toBe(2);
    expect(grpcTimeoutMs('1n')).toBe(1);
    expect(grpcTimeoutMs('596H')).toBe(2_145_600_000);
    // Longer than a timer can wait: no deadline of its own (Node would fire such a timer at once).
    expect(grpcTimeoutMs('99999999S')).toBe(0);
    expect(grpcTimeoutMs('597H')).toBe(0);
  });

  it('ignores malformed values (the route timeouts apply)', () => {
    for (const bad of [undefined, '', 'S', '10', '10s', '10 S', '-1S', '1.5S', '123456789S', 'abcS', '10SS']) expect(grpcTimeoutMs(bad), String(bad)).toBe(0);
    expect(grpcTimeoutMs(['1S', '2S'])).toBe(0);
  });
});

describe('gRPC requests and statuses', () => {
  it('tells gRPC by its content type, not gRPC-Web or look-alikes', () => {
    for (const t of ['application/grpc', 'application/grpc+proto', 'application/grpc+json', 'application/grpc;charset=utf-8']) expect(isGrpcRequest(withType(t)), t).toBe(true);
    for (const t of [undefined, 'application/json', 'application/grpc-web', 'application/grpc-web+proto', 'application/grpcx', 'text/application/grpc']) expect(isGrpcRequest(withType(t)), String(t)).toBe(false);
  });

  it('gives every proxy error a gRPC status, with the mapping docs/grpc.md lists', () => {
    for (const code of Object.keys(PROXY_ERRORS) as ProxyErrorCode[]) expect(grpcStatusOf(code), code).toBeGreaterThan(0);
    expect(grpcStatusOf('no_route')).toBe(12);
    expect(grpcStatusOf('no_healthy_endpoint')).toBe(14);
    expect(grpcStatusOf('breaker_requests')).toBe(14);
    expect(grpcStatusOf('upstream_timeout')).toBe(4);
    expect(grpcStatusOf('rate_limited')).toBe(8);
  });

  it('percent-encodes grpc-message outside printable ASCII, and "%" itself', () => {
    expect(encodeGrpcMessage('plain message: ok')).toBe('plain message: ok');
    expect(encodeGrpcMessage('100% sure')).toBe('100%25 sure');
    expect(encodeGrpcMessage('line\nbreak')).toBe('line%0Abreak');
    expect(encodeGrpcMessage('café')).toBe('caf%C3%A9');
  });
});

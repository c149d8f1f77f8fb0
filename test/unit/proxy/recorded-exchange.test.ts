import { describe, expect, it } from 'vitest';
import type { ResponseState } from '../../../src/codec/server-stream.js';
import { incoming, response, route, TestExchange } from '../../support/test-exchange.js';

describe('RecordedExchange', () => {
  const exchange = (res: ResponseState, headers: Record<string, string> = {}) => new TestExchange(incoming('GET', '/', headers), res, route('r', 's'), 'id');

  it('reads the request facts from the request, the route, the endpoint and the timestamps', () => {
    const x = new TestExchange(incoming('PUT', '/p?q', { host: 'h.test' }), response(200), route('r', 's'), 'id');
    expect([x.method, x.target, x.host, x.routeName, x.serviceName, x.upstreamAddress]).toEqual(['PUT', '/p?q', 'h.test', 'r', 's', '127.0.0.1:9000']);
    expect(x.durationMs).toBe(12.25);
    expect(x.upstreamMs).toBe(2.5);
  });

  it('reads status 499 when no response head reached the client', () => {
    expect(exchange(response(200, false)).status).toBe(499);
    expect(exchange(response(502)).status).toBe(502);
  });

  it('reads bytesIn from Content-Length, 0 without a usable one', () => {
    expect(exchange(response(200), { 'content-length': '1024' }).bytesIn).toBe(1024);
    for (const bad of ['', 'abc', '-5', 'Infinity']) expect(exchange(response(200), { 'content-length': bad }).bytesIn).toBe(0);
    expect(exchange(response(200)).bytesIn).toBe(0);
  });

  it('names the failure: client_closed when the client went away, else its proxy error code with the upstream error', () => {
    const done = exchange(response(200));
    expect(done.errorCode).toBeUndefined();
    expect(done.upstreamError).toBeUndefined();

    const closed = exchange(response(200));
    closed.failure = Object.assign(new Error('gone'), { code: 'SWITCHYARD_CLIENT_CLOSED' });
    expect(closed.errorCode).toBe('client_closed');
    expect(closed.upstreamError).toBeUndefined();

    // A failure before any head reached the client: the proxy error response did not go out either.
    const unanswered = exchange(response(502, false));
    unanswered.failure = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
    expect(unanswered.errorCode).toBe('client_closed');

    const refused = exchange(response(502));
    const err = Object.assign(new Error('refused'), { code: 'ECONNREFUSED' });
    refused.failure = err;
    expect(refused.errorCode).toBe('upstream_connect_failed');
    expect(refused.upstreamError).toBe(err);
  });
});


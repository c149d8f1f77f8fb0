import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PROXY_ERROR_HEADER } from '../../../src/proxy/proxy-error.js';
import { FaultUpstream } from '../../support/fault-upstream.js';
import { fetchText } from '../../support/http-client.js';
import { startProxy, type ProxyHarness } from '../../support/proxy-harness.js';

/**
 * Two instances, `bad` and `good`, behind one route. Each test sets bad's fault and checks
 * which requests are retried (counting the attempts each instance saw).
 */
describe('retries: only when safe, on another instance', () => {
  let bad: FaultUpstream;
  let good: FaultUpstream;
  let proxy: ProxyHarness;

  beforeAll(async () => {
    [bad, good] = await Promise.all([FaultUpstream.start('bad'), FaultUpstream.start('good')]);
    proxy = await startProxy({
      services: { api: [{ port: bad.port }, { port: good.port }] },
      config: {
        routes: [
          { name: 'buffered', match: { path: '/buffered' }, service: 'api', retries: { bufferBody: '1KiB' } },
          { name: 'api', match: { path: '/' }, service: 'api' },
        ],
        // Keep both instances in rotation: this file is about retries, not ejection.
        services: { api: { outlierDetection: { enabled: false } } },
      },
    });
  });
  afterEach(async () => {
    bad.setMode({ kind: 'ok' });
    bad.received.length = 0;
    good.received.length = 0;
    if (!bad.server.listening) await bad.restore();
  });
  afterAll(async () => {
    await proxy.close();
    await Promise.all([bad.close(), good.close()]);
  });

  const retries = () => proxy.app.upstreams.get('api').stats.retries;
  const send = (path: string, method = 'GET', body?: string) =>
    fetchText(`${proxy.url}${path}`, { method, body, headers: body === undefined ? {} : { 'content-type': 'text/plain', 'content-length': String(Buffer.byteLength(body)) } });

  it('retries a GET whose connection was reset, on the other instance', async () => {
    const retriesBefore = retries();
    bad.setMode({ kind: 'resetBeforeResponse' });
    for (let i = 0; i < 6; i++) {
      const r = await send(`/get/${i}`);
      expect(r.status).toBe(200);
      expect(r.headers['x-instance']).toBe('good');
    }
    // Requests that went to `bad` first were each retried once, on `good`.
    expect(bad.attempts).toBeGreaterThan(0);
    expect(good.attempts).toBe(6);
    expect(retries() - retriesBefore).toBe(bad.attempts);
  });

  it('does not retry a POST whose body was sent: the client gets the 502, the upstream saw it once', async () => {
    bad.setMode({ kind: 'resetBeforeResponse' });
    const statuses: number[] = [];
    for (let i = 0; i < 6; i++) statuses.push((await send('/post', 'POST', 'payload')).status);
    expect(statuses.filter((s) => s === 502)).toHaveLength(3);
    expect(statuses.filter((s) => s === 200)).toHaveLength(3);
    expect(bad.attempts + good.attempts).toBe(6); // no request was sent twice
    expect(bad.received.every((r) => r.bodyBytes === 7)).toBe(true);
  });

  it('retries a POST that never reached the upstream (connection refused)', async () => {
    await bad.refuse();
    for (let i = 0; i < 6; i++) {
      const r = await send('/post', 'POST', 'payload');
      expect(r.status).toBe(200);
    }
    expect(good.received.map((r) => r.bodyBytes)).toEqual([7, 7, 7, 7, 7, 7]);
  });

  it('replays a small buffered PUT body after a reset', async () => {
    bad.setMode({ kind: 'resetBeforeResponse' });
    for (let i = 0; i < 4; i++) expect((await send('/buffered/x', 'PUT', 'abcdef')).status).toBe(200);
    expect(bad.attempts).toBeGreaterThan(0);
    expect(bad.received.every((r) => r.bodyBytes === 6)).toBe(true);
    expect(good.received.map((r) => r.bodyBytes)).toEqual([6, 6, 6, 6]);
  });

  it('retries a GET answered 503 (gateway error), but forwards a 503 to a POST', async () => {
    bad.setMode({ kind: 'status', status: 503 });
    for (let i = 0; i < 4; i++) expect((await send('/get')).status).toBe(200);
    expect(bad.attempts).toBeGreaterThan(0);
    expect(good.attempts).toBe(4);
    const posts = [];
    for (let i = 0; i < 4; i++) posts.push((await send('/post', 'POST', 'x')).status);
    expect(posts.sort()).toEqual([200, 200, 503, 503]); // alternating, none retried
  });

  it('never retries once the response started: a reset mid-body cuts the client connection', async () => {
    bad.setMode({ kind: 'resetMidBody' });
    const outcomes: string[] = [];
    for (let i = 0; i < 4; i++) {
      outcomes.push(await send('/get').then((r) => `status ${r.status}`, (err: Error) => `error ${err.message}`));
    }
    expect(outcomes.filter((o) => o === 'status 200')).toHaveLength(2);
    expect(outcomes.filter((o) => o.startsWith('error'))).toHaveLength(2);
    expect(bad.attempts).toBe(2);
  });

  it('survives keep-alive connections closed right after each response', async () => {
    bad.setMode({ kind: 'closeAfterResponse' });
    for (let i = 0; i < 60; i++) expect((await send(`/ka/${i}`)).status).toBe(200);
  });

  it('answers 504 with the error header when every try times out, after maxRetries retries', async () => {
    await proxy.close();
    proxy = await startProxy({
      services: { api: [{ port: bad.port }, { port: good.port }] },
      config: {
        routes: [{ name: 'api', match: { path: '/' }, service: 'api', timeouts: { perTry: '150ms' }, retries: { maxRetries: 1 } }],
        services: { api: { outlierDetection: { enabled: false } } },
      },
    });
    bad.setMode({ kind: 'hang' });
    good.setMode({ kind: 'slowHeaders', delayMs: 2_000 });
    const r = await send('/slow');
    expect(r.status).toBe(504);
    expect(r.headers[PROXY_ERROR_HEADER]).toBe('upstream_timeout');
    expect(bad.attempts + good.attempts).toBe(2);
    good.setMode({ kind: 'ok' });
    bad.release();
  });
});

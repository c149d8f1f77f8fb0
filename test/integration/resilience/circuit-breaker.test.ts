import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PROXY_ERROR_HEADER } from '../../../src/proxy/proxy-error.js';
import { FaultUpstream } from '../../support/fault-upstream.js';
import { fetchText, type ClientResponse } from '../../support/http-client.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';

describe('circuit breakers: an immediate 503 instead of an unbounded queue', () => {
  let up: FaultUpstream;
  let proxy: ProxyHarness | null = null;

  beforeEach(async () => {
    up = await FaultUpstream.start('slow');
    up.setMode({ kind: 'hang' });
  });
  afterEach(async () => {
    await proxy?.close();
    await up.close();
  });

  async function start(service: Record<string, unknown>): Promise<ProxyHarness> {
    proxy = await startProxy({
      services: { api: [{ port: up.port }] },
      config: { routes: [{ name: 'api', match: { path: '/' }, service: 'api', retries: { maxRetries: 0 } }], services: { api: service } },
    });
    return proxy;
  }

  it('maxRequests: requests beyond the limit are refused while the others are held', async () => {
    const p = await start({ circuitBreaker: { maxRequests: 3 } });
    const held = [0, 1, 2].map((i) => fetchText(`${p.url}/held/${i}`));
    await eventually(() => up.attempts === 3, 5_000, 'three requests at the upstream');
    for (let i = 0; i < 5; i++) {
      const r = await fetchText(`${p.url}/over/${i}`);
      expect(r.status).toBe(503);
      expect(r.headers[PROXY_ERROR_HEADER]).toBe('breaker_requests');
    }
    expect(up.attempts).toBe(3);
    up.release();
    expect((await Promise.all(held)).map((r) => r.status)).toEqual([200, 200, 200]);
    up.setMode({ kind: 'ok' });
    expect((await fetchText(`${p.url}/after`)).status).toBe(200);
    expect(p.app.upstreams.get('api').stats.breakerRequests).toBe(5);
  });

  it('maxPending: requests waiting for a connection are limited', async () => {
    const p = await start({ connections: 1, circuitBreaker: { maxPending: 1 } });
    const cluster = p.app.upstreams.get('api');
    const first = fetchText(`${p.url}/first`);
    await eventually(() => up.attempts === 1, 5_000, 'the first request at the upstream');
    const second = fetchText(`${p.url}/second`);
    await eventually(() => cluster.breaker.pendingRequests === 1, 5_000, 'the second request to wait for the connection');
    const third = await fetchText(`${p.url}/third`);
    expect(third.status).toBe(503);
    expect(third.headers[PROXY_ERROR_HEADER]).toBe('breaker_pending');
    up.setMode({ kind: 'ok' });
    up.release();
    const done: ClientResponse[] = await Promise.all([first, second]);
    expect(done.map((r) => r.status)).toEqual([200, 200]);
    expect(up.attempts).toBe(2);
  });

  it('maxConnections: no new connection beyond the limit', async () => {
    const p = await start({ connections: 10, circuitBreaker: { maxConnections: 2 } });
    const cluster = p.app.upstreams.get('api');
    const held = [fetchText(`${p.url}/a`), fetchText(`${p.url}/b`)];
    await eventually(() => up.attempts === 2 && cluster.breaker.openConnections === 2, 5_000, 'two open connections');
    const r = await fetchText(`${p.url}/c`);
    expect(r.status).toBe(503);
    expect(r.headers[PROXY_ERROR_HEADER]).toBe('breaker_connections');
    up.release();
    expect((await Promise.all(held)).map((x) => x.status)).toEqual([200, 200]);
  });
});

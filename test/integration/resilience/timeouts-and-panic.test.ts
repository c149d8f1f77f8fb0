import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROXY_ERROR_HEADER } from '../../../src/proxy/proxy-error.js';
import { FaultUpstream } from '../../support/fault-upstream.js';
import { fetchText } from '../../support/http-client.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';

describe('route timeouts', () => {
  let up: FaultUpstream;
  let proxy: ProxyHarness;

  beforeAll(async () => {
    up = await FaultUpstream.start('slow');
    proxy = await startProxy({
      services: { api: [{ port: up.port }] },
      config: {
        routes: [
          { name: 'headers', match: { path: '/headers' }, service: 'api', timeouts: { headers: '150ms' }, retries: { maxRetries: 0 } },
          { name: 'total', match: { path: '/total' }, service: 'api', timeouts: { total: '200ms' }, retries: { maxRetries: 3 } },
        ],
        services: { api: { outlierDetection: { enabled: false } } },
      },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await up.close();
  });

  it('headers: slow response headers give a 504, fast enough ones a 200', async () => {
    // undici checks headers/bodyIdle timeouts on a coarse (about 1s) clock: keep the upstream far slower.
    up.setMode({ kind: 'slowHeaders', delayMs: 5_000 });
    const slow = await fetchText(`${proxy.url}/headers`);
    expect(slow.status).toBe(504);
    expect(slow.headers[PROXY_ERROR_HEADER]).toBe('upstream_timeout');
    up.setMode({ kind: 'slowHeaders', delayMs: 10 });
    expect((await fetchText(`${proxy.url}/headers`)).status).toBe(200);
  });

  it('total: ends the exchange with a 504 and stops retrying', async () => {
    up.received.length = 0;
    up.setMode({ kind: 'hang' });
    const r = await fetchText(`${proxy.url}/total`);
    expect(r.status).toBe(504);
    expect(r.headers[PROXY_ERROR_HEADER]).toBe('upstream_timeout');
    expect(up.attempts).toBe(1);
    up.release();
  });
});

describe('panic mode driven by registry health', () => {
  let ups: FaultUpstream[];
  let proxy: ProxyHarness;
  const services = (critical: number) => ({ api: ups.map((u, i) => ({ port: u.port, health: i < critical ? ('critical' as const) : ('passing' as const) })) });

  beforeAll(async () => {
    ups = await Promise.all(['a', 'b', 'c', 'd'].map((n) => FaultUpstream.start(n)));
    proxy = await startProxy({
      services: services(0),
      config: { routes: [{ name: 'api', match: { path: '/' }, service: 'api' }], services: { api: { panicThreshold: 50 } } },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await Promise.all(ups.map((u) => u.close()));
  });

  const serving = async (): Promise<string[]> => {
    const seen = new Set<string>();
    for (let i = 0; i < 12; i++) seen.add(String((await fetchText(`${proxy.url}/p`)).headers['x-instance']));
    return [...seen].sort();
  };

  it('engages below the threshold and disengages at it', async () => {
    const cluster = proxy.app.upstreams.get('api');
    await proxy.writeServices(services(2)); // 2 of 4 healthy: 50%, not below
    await eventually(() => cluster.endpoints.filter((e) => e.healthy).length === 2, 5_000, 'two critical instances');
    expect(cluster.panic).toBe(false);
    expect(await serving()).toEqual(['c', 'd']);

    await proxy.writeServices(services(3)); // 1 of 4: 25%
    await eventually(() => cluster.panic, 5_000, 'panic mode');
    expect(await serving()).toEqual(['a', 'b', 'c', 'd']);
    expect(cluster.stats.panicEntered).toBe(1);

    await proxy.writeServices(services(2));
    await eventually(() => !cluster.panic, 5_000, 'panic mode to end');
    expect(await serving()).toEqual(['c', 'd']);
  });
});

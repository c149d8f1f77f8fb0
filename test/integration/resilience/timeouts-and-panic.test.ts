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
    // Keep the upstream far slower than the timeout, so a busy machine cannot blur the two outcomes.
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

describe('panic mode', () => {
  let ups: FaultUpstream[];
  let proxy: ProxyHarness;
  const FAST_CHECKS = { type: 'http', path: '/health', interval: '200ms', jitter: '20ms', timeout: '200ms', healthyThreshold: 1, unhealthyThreshold: 1 };

  beforeAll(async () => {
    ups = await Promise.all(['a', 'b', 'c', 'd', 'e'].map((n) => FaultUpstream.start(n)));
    proxy = await startProxy({
      // "e" is critical in the registry: it is never picked, not even in panic mode.
      services: { api: ups.map((u) => ({ port: u.port, health: u.name === 'e' ? ('critical' as const) : ('passing' as const) })) },
      config: { routes: [{ name: 'api', match: { path: '/' }, service: 'api' }], services: { api: { panicThreshold: 40, healthCheck: FAST_CHECKS } } },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await Promise.all(ups.map((u) => u.close()));
  });

  const serving = async (): Promise<string[]> => {
    const seen = new Set<string>();
    for (let i = 0; i < 15; i++) seen.add(String((await fetchText(`${proxy.url}/p`)).headers['x-instance']));
    return [...seen].sort();
  };
  const panicGauge = async (): Promise<string | undefined> => {
    const text = (await fetchText(`http://127.0.0.1:${proxy.app.adminAddress!.port}/metrics`)).body;
    return /^switchyard_service_panic\{service="api"\} (\d+)$/m.exec(text)?.[1];
  };
  const healthyCount = () => proxy.app.upstreams.get('api').endpoints.filter((e) => e.healthy).length;

  it('engages below the threshold, disengages at it, and never picks registry-critical instances', async () => {
    const cluster = proxy.app.upstreams.get('api');
    await eventually(() => healthyCount() === 4, 5_000, 'four healthy instances');
    expect(await serving()).toEqual(['a', 'b', 'c', 'd']);

    ups[0]!.healthStatus = 500;
    ups[1]!.healthStatus = 500;
    await eventually(() => healthyCount() === 2, 5_000, 'two failing health checks'); // 2 of 5 = 40 %: not below
    expect(cluster.panic).toBe(false);
    expect(await serving()).toEqual(['c', 'd']);

    ups[2]!.healthStatus = 500;
    await eventually(() => cluster.panic, 5_000, 'panic mode'); // 1 of 5 = 20 %
    expect(await serving()).toEqual(['a', 'b', 'c', 'd']);
    expect(cluster.stats.panicEntered).toBe(1);
    expect(await panicGauge()).toBe('1');

    ups[2]!.healthStatus = 200;
    await eventually(() => !cluster.panic, 5_000, 'panic mode to end');
    expect(await serving()).toEqual(['c', 'd']);
    expect(await panicGauge()).toBe('0');
  });
});

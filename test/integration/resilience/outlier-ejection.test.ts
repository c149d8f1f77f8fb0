import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PROXY_ERROR_HEADER } from '../../../src/proxy/proxy-error.js';
import { FaultUpstream } from '../../support/fault-upstream.js';
import { fetchText } from '../../support/http-client.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';

describe('a hanging instance: 504, then ejection, then return after recovery', () => {
  let healthy: FaultUpstream;
  let hanging: FaultUpstream;
  let proxy: ProxyHarness;

  beforeAll(async () => {
    [healthy, hanging] = await Promise.all([FaultUpstream.start('healthy'), FaultUpstream.start('hanging')]);
    proxy = await startProxy({
      services: { api: [{ port: healthy.port }, { port: hanging.port }] },
      config: {
        // No retries here, so the client sees what one try gives.
        routes: [{ name: 'api', match: { path: '/' }, service: 'api', timeouts: { headers: '300ms' }, retries: { maxRetries: 0 } }],
        services: { api: { outlierDetection: { consecutiveFailures: 2, baseEjectionTime: '1s' } } },
      },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await Promise.all([healthy.close(), hanging.close()]);
  });

  it('answers 504 for the hanging instance until it is ejected, then serves from the healthy one, then takes it back', async () => {
    hanging.setMode({ kind: 'hang' });
    const endpoint = proxy.app.upstreams.get('api').endpoints.find((e) => e.instance.port === hanging.port)!;
    const first = await Promise.all([0, 1, 2, 3].map(() => fetchText(`${proxy.url}/x`)));
    const timeouts = first.filter((r) => r.status === 504);
    expect(timeouts).toHaveLength(2);
    for (const r of timeouts) expect(r.headers[PROXY_ERROR_HEADER]).toBe('upstream_timeout');
    expect(endpoint.healthy).toBe(false);

    const attemptsAtEjection = hanging.attempts;
    for (let i = 0; i < 10; i++) {
      const r = await fetchText(`${proxy.url}/y`);
      expect(r.status).toBe(200);
      expect(r.headers['x-instance']).toBe('healthy');
    }
    expect(hanging.attempts).toBe(attemptsAtEjection);

    hanging.setMode({ kind: 'ok' });
    await eventually(async () => (await fetchText(`${proxy.url}/z`)).headers['x-instance'] === 'hanging', 10_000, 'the ejected instance to serve again');
    expect(endpoint.healthy).toBe(true);
    expect(proxy.app.upstreams.get('api').stats.ejections).toBe(1);
  });
});

describe('a hanging instance with per-try timeouts and retries', () => {
  let ups: FaultUpstream[];
  let proxy: ProxyHarness;

  beforeAll(async () => {
    ups = await Promise.all(['a', 'b', 'c'].map((n) => FaultUpstream.start(n)));
    proxy = await startProxy({
      services: { api: ups.map((u) => ({ port: u.port })) },
      config: {
        routes: [{ name: 'api', match: { path: '/' }, service: 'api', timeouts: { perTry: '200ms' } }],
        services: { api: { outlierDetection: { consecutiveFailures: 3 } } },
      },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await Promise.all(ups.map((u) => u.close()));
  });

  it('answers every GET from the others', async () => {
    ups[0]!.setMode({ kind: 'hang' });
    // Two waves of 6: about 2 tries of each wave hang, within the retry budget's floor of 3.
    const rs = [];
    for (let wave = 0; wave < 2; wave++) rs.push(...(await Promise.all(Array.from({ length: 6 }, (_, i) => fetchText(`${proxy.url}/r/${wave}-${i}`)))));
    expect(rs.map((r) => r.status)).toEqual(Array(12).fill(200));
    expect(rs.some((r) => r.headers['x-instance'] === 'a')).toBe(false);
    expect(ups[0]!.attempts).toBeGreaterThan(0);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthFlag } from '../../../src/upstream/endpoint.js';
import { FaultUpstream } from '../../support/fault-upstream.js';
import { fetchText } from '../../support/http-client.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';

const FAST_CHECKS = { interval: '100ms', jitter: '20ms', timeout: '100ms', healthyThreshold: 2, unhealthyThreshold: 2 };

describe('active health checks', () => {
  let a: FaultUpstream;
  let b: FaultUpstream;
  let proxy: ProxyHarness;

  beforeAll(async () => {
    [a, b] = await Promise.all([FaultUpstream.start('a'), FaultUpstream.start('b')]);
    proxy = await startProxy({
      services: { http: [{ port: a.port }, { port: b.port }], tcp: [{ port: a.port }, { port: b.port }] },
      config: {
        routes: [
          { name: 'http', match: { path: '/http' }, service: 'http' },
          { name: 'tcp', match: { path: '/tcp' }, service: 'tcp' },
        ],
        services: {
          http: { healthCheck: { type: 'http', path: '/health', expectedStatuses: [200, '204-299'], ...FAST_CHECKS } },
          tcp: { healthCheck: { type: 'tcp', ...FAST_CHECKS } },
        },
      },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await Promise.all([a.close(), b.close()]);
  });

  const instancesServing = async (path: string, n: number): Promise<Set<string>> => {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) seen.add(String((await fetchText(`${proxy.url}${path}`)).headers['x-instance']));
    return seen;
  };

  it('HTTP: a failing health endpoint takes the instance out; passing again brings it back', async () => {
    const endpoint = proxy.app.upstreams.get('http').endpoints.find((e) => e.instance.port === b.port)!;
    await eventually(() => b.healthProbes >= 2, 5_000, 'probes to reach b');
    b.healthStatus = 500;
    await eventually(() => (endpoint.healthFlags & HealthFlag.activeCheck) !== 0, 5_000, 'b to fail its health check');
    expect(await instancesServing('/http', 6)).toEqual(new Set(['a']));
    b.healthStatus = 204;
    await eventually(() => endpoint.healthy, 5_000, 'b to pass its health check again');
    expect(await instancesServing('/http', 6)).toEqual(new Set(['a', 'b']));
  });

  it('TCP: a refused connection takes the instance out; listening again brings it back', async () => {
    const endpoint = proxy.app.upstreams.get('tcp').endpoints.find((e) => e.instance.port === b.port)!;
    await b.refuse();
    await eventually(() => (endpoint.healthFlags & HealthFlag.activeCheck) !== 0, 5_000, 'b to fail its TCP check');
    await b.restore();
    await eventually(() => endpoint.healthy, 5_000, 'b to pass its TCP check again');
  });

  it('stops probing an instance that leaves the registry', async () => {
    await proxy.writeServices({ http: [{ port: a.port }], tcp: [{ port: a.port }, { port: b.port }] });
    await eventually(() => proxy.app.upstreams.get('http').endpoints.length === 1, 5_000, 'the registry update');
    await new Promise((r) => setTimeout(r, 50)); // let a probe in flight finish
    const probes = b.healthProbes;
    await new Promise((r) => setTimeout(r, 300));
    expect(b.healthProbes).toBe(probes);
  });
});

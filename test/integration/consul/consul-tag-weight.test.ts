import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServiceRegistration } from '../../support/consul-emulator.js';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { startConsulProxy, type ConsulProxyHarness } from '../../support/consul-proxy-harness.js';
import { eventually } from '../../support/proxy-harness.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

describe('fabio weight= route tags through Consul and the real proxy', () => {
  let v1: TestUpstream;
  let v2: TestUpstream;
  let h: ConsulProxyHarness;
  const shop = (name: string, u: TestUpstream, tag: string): ServiceRegistration => ({
    Name: name,
    ID: `${name}-1`,
    Address: '127.0.0.1',
    Port: u.port,
    Tags: [tag],
    Check: { TTL: '10m', Status: 'passing' },
  });
  const spread = async (n: number) => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const r = await fetchText(`${h.url}/shop/x`);
      const who = r.status === 200 ? (JSON.parse(r.body) as EchoReply).instance : `status ${r.status}`;
      counts[who] = (counts[who] ?? 0) + 1;
    }
    return counts;
  };

  beforeAll(async () => {
    [v1, v2] = await Promise.all([startUpstream('v1'), startUpstream('v2')]);
    h = await startConsulProxy();
  });
  afterAll(async () => {
    await h.close();
    await Promise.all([v1.close(), v2.close()]);
  });

  it('splits a route two services tag by the weight= share, and follows a tag change live', async () => {
    h.consul.register(shop('shop-v1', v1, 'urlprefix-/shop'));
    h.consul.register(shop('shop-v2', v2, 'urlprefix-/shop weight=0.2'));
    const admin = `http://127.0.0.1:${h.app.adminAddress!.port}`;
    const splitRoute = async () => (await fetchJson<{ name: string; service: string }[]>(`${admin}/api/v1/routes`)).json.find((r) => r.name === 'tag:shop-v1+shop-v2:/shop');
    await eventually(async () => (await splitRoute()) !== undefined, 5_000, 'the weighted tag route');
    expect((await splitRoute())!.service).toBe('shop-v1 80% | shop-v2 20%');
    const counts = await spread(1_000);
    // Smooth weighted round robin: within one request of 800/200 over any 1,000.
    expect(Math.abs((counts.v2 ?? 0) / 1_000 - 0.2)).toBeLessThanOrEqual(0.01);
    expect((counts.v1 ?? 0) + (counts.v2 ?? 0)).toBe(1_000);

    h.consul.register(shop('shop-v2', v2, 'urlprefix-/shop weight=0.5'));
    await eventually(async () => (await splitRoute())?.service === 'shop-v1 50% | shop-v2 50%', 5_000, 'the new weight');
    const after = await spread(200);
    expect(Math.abs((after.v2 ?? 0) / 200 - 0.5)).toBeLessThanOrEqual(0.01);
  });
});

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ConsulRegistry } from '../../../src/registry/consul/consul-registry.js';
import type { ServiceRegistration } from '../../support/consul-emulator.js';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { startConsulProxy, type ConsulProxyHarness } from '../../support/consul-proxy-harness.js';
import { eventually } from '../../support/proxy-harness.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

/** The requirement: a Consul change reaches routing within one second. */
const WITHIN_ONE_SECOND = 1_000;

describe('Consul discovery through the real proxy', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let c: TestUpstream;
  let h: ConsulProxyHarness;

  beforeAll(async () => {
    [a, b, c] = await Promise.all([startUpstream('a'), startUpstream('b'), startUpstream('c')]);
  });
  afterAll(async () => {
    await Promise.all([a, b, c].map((u) => u.close()));
  });
  afterEach(async () => {
    await h?.close();
  });

  const start = async (extra: Parameters<typeof startConsulProxy>[0] = {}) => {
    h = await startConsulProxy({ config: { routes: [{ name: 'web', match: { path: '/web' }, service: 'web' }] }, ...extra });
    return h;
  };
  const hit = async (path = '/web') => {
    const r = await fetchText(`${h.url}${path}`);
    return r.status === 200 ? (JSON.parse(r.body) as EchoReply).instance : `status ${r.status}`;
  };
  /** Instances answering `n` consecutive requests. */
  const spread = async (n: number, path = '/web') => {
    const counts: Record<string, number> = {};
    for (let i = 0; i < n; i++) {
      const who = await hit(path);
      counts[who] = (counts[who] ?? 0) + 1;
    }
    return counts;
  };
  const onlyFrom = async (names: string[], path = '/web') => Object.keys(await spread(8, path)).sort().join() === names.sort().join();
  const web = (u: TestUpstream, extra: Partial<ServiceRegistration> = {}): ServiceRegistration => ({
    Name: 'web',
    ID: `web-${u.name}`,
    Address: '127.0.0.1',
    Port: u.port,
    Check: { TTL: '10m', Status: 'passing' },
    ...extra,
  });

  it('routes to an instance within a second of its registration', async () => {
    await start();
    expect(await hit()).toBe('status 503');
    h.consul.register(web(a));
    await eventually(async () => (await hit()) === 'a', WITHIN_ONE_SECOND, 'registered instance routable');
  });

  it('stops sending to a deregistered instance and to a critical one within a second', async () => {
    await start();
    h.consul.register(web(a));
    h.consul.register(web(b));
    await eventually(() => onlyFrom(['a', 'b']), 5_000, 'both instances');
    h.consul.deregister('web-b');
    await eventually(() => onlyFrom(['a']), WITHIN_ONE_SECOND, 'deregistered b gone');
    h.consul.register(web(b));
    await eventually(() => onlyFrom(['a', 'b']), 5_000, 'b back');
    h.consul.setCheckStatus('service:web-b', 'critical', 'HTTP 500');
    await eventually(() => onlyFrom(['a']), WITHIN_ONE_SECOND, 'critical b gone');
    // A node check (serfHealth) failing takes every instance on that node out.
    h.consul.setCheckStatus('serfHealth', 'critical', 'Agent not live or unreachable');
    await eventually(async () => (await hit()) === 'status 503', WITHIN_ONE_SECOND, 'node failure drains the node');
  });

  it('uses the Warning weight for an instance whose worst check is warning', async () => {
    await start();
    h.consul.register(web(a, { Weights: { Passing: 1, Warning: 1 } }));
    h.consul.register(web(b, { Weights: { Passing: 3, Warning: 1 } }));
    const registry = () => (h.app as unknown as { registry: ConsulRegistry }).registry;
    const weightOfB = () => registry().current().services.get('web')?.instances.find((i) => i.port === b.port)?.weight;
    await eventually(() => weightOfB() === 3, 5_000, 'passing weight');
    const passing = await spread(40);
    expect(passing.b).toBeGreaterThan(passing.a! * 2);
    h.consul.setCheckStatus('service:web-b', 'warning', 'slow');
    await eventually(() => weightOfB() === 1, WITHIN_ONE_SECOND, 'warning weight');
    const warning = await spread(40);
    expect(warning.b).toBeGreaterThan(10);
    expect(warning.b).toBeLessThan(30);
    expect(registry().current().services.get('web')?.instances.find((i) => i.port === b.port)?.health).toBe('warning');
  });

  it('drains an instance in maintenance mode and takes it back when maintenance ends', async () => {
    await start();
    h.consul.register(web(a));
    h.consul.register(web(b));
    await eventually(() => onlyFrom(['a', 'b']), 5_000, 'both instances');
    const put = (path: string) => fetchText(`${h.consul.url}${path}`, { method: 'PUT' });
    expect((await put('/v1/agent/service/maintenance/web-b?enable=true&reason=deploy')).status).toBe(200);
    await eventually(() => onlyFrom(['a']), WITHIN_ONE_SECOND, 'b drained');
    expect((await put('/v1/agent/service/maintenance/web-b?enable=false')).status).toBe(200);
    await eventually(() => onlyFrom(['a', 'b']), WITHIN_ONE_SECOND, 'b back');
  });

  it('falls back to the node address when the service registered none', async () => {
    await start();
    h.consul.register({ Name: 'web', ID: 'web-no-address', Port: c.port });
    await eventually(async () => (await hit()) === 'c', WITHIN_ONE_SECOND, 'instance reached through Node.Address');
    const instance = (h.app as unknown as { registry: ConsulRegistry }).registry.current().services.get('web')!.instances[0]!;
    expect(instance.address).toBe('127.0.0.1');
  });

  it('adds and removes tag routes live, with strip=, and config routes win conflicts', async () => {
    await start();
    h.consul.register({ Name: 'tagged', ID: 'tagged-1', Address: '127.0.0.1', Port: c.port, Tags: ['urlprefix-/tagged strip=/tagged', 'urlprefix-/web'] });
    await eventually(async () => (await fetchText(`${h.url}/tagged/x?q=1`)).status === 200, WITHIN_ONE_SECOND, 'tag route added');
    const reply = await fetchJson<EchoReply>(`${h.url}/tagged/x?q=1`);
    expect([reply.json.instance, reply.json.url]).toEqual(['c', '/x?q=1']);
    // "urlprefix-/web" conflicts with the config route /web → service web (no instance): config wins.
    expect(await hit('/web')).toBe('status 503');
    expect(h.log.find('conflicts with another route')).toHaveLength(1);
    h.consul.register({ Name: 'tagged', ID: 'tagged-1', Address: '127.0.0.1', Port: c.port, Tags: ['urlprefix-shop.test/'] });
    await eventually(async () => (await fetchText(`${h.url}/tagged/x`)).status === 404, WITHIN_ONE_SECOND, 'tag route removed');
    const shop = await fetchJson<EchoReply>(`${h.url}/any`, { headers: { host: 'shop.test' } });
    expect(shop.json.instance).toBe('c');
    h.consul.deregister('tagged-1');
    await eventually(async () => (await fetchText(`${h.url}/any`, { headers: { host: 'shop.test' } })).status === 404, WITHIN_ONE_SECOND, 'service gone with its routes');
  });

  it('only uses instances with the configured tags', async () => {
    await start({ registry: { tags: ['prod'] } });
    h.consul.register(web(a, { Tags: ['prod'] }));
    h.consul.register(web(b, { Tags: ['canary'] }));
    await eventually(() => onlyFrom(['a']), 5_000, 'prod instance only');
    expect(h.consul.requestsTo('/v1/health/service/web').every((r) => r.query.getAll('tag').includes('prod'))).toBe(true);
  });
});

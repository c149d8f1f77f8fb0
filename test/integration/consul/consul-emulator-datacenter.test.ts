import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConsulEmulator } from '../../support/consul-emulator.js';
import { fetchText } from '../../support/http-client.js';

/**
 * The emulator's busy-datacenter mode, filters, stale-read headers and answer shapes, checked
 * over HTTP. The field sets are those of Consul 1.x's API docs sample responses
 * (developer.hashicorp.com/consul/api-docs/health: "List Service Instances for Service",
 * "List Checks in State"; /api-docs/catalog: "List Services") plus the 1.x fields of the
 * check struct (Type, Interval, Timeout, ExposedPort, Definition, raft indexes).
 */
describe('Consul emulator: a busy datacenter and Consul 1.x answer shapes', () => {
  let consul: ConsulEmulator;
  beforeEach(async () => {
    consul = await ConsulEmulator.start({ runChecks: false });
  });
  afterEach(async () => {
    await consul.close();
  });

  const get = async (path: string) => {
    const r = await fetchText(`${consul.url}${path}`);
    return { status: r.status, headers: r.headers, json: r.status === 200 ? (JSON.parse(r.body) as unknown) : r.body };
  };

  it('moves the catalog index with writes to unrelated services while the service list stays the same', async () => {
    consul.register({ Name: 'web', ID: 'web-1', Port: 8080, Tags: ['urlprefix-/web'], Check: { TTL: '1h', Status: 'passing' } });
    consul.startBusy({ services: 5, writesPerSecond: 50 });
    const first = await get('/v1/catalog/services');
    await new Promise((r) => setTimeout(r, 300));
    const second = await get('/v1/catalog/services');
    consul.stopBusy();
    expect(Number(second.headers['x-consul-index'])).toBeGreaterThan(Number(first.headers['x-consul-index']) + 5);
    expect(second.json).toEqual(first.json);
    expect(second.json).toMatchObject({ web: ['urlprefix-/web'], 'busy-0': ['busy'] });
    // What moved is the unrelated instances' content (their Meta), not web's.
    const busy = (await get('/v1/health/service/busy-0')).json as { Service: { Meta: Record<string, string> } }[];
    expect(busy[0]!.Service.Meta.revision).toBeDefined();
  });

  it('wakes a blocking catalog query on an unrelated write', async () => {
    consul.startBusy({ services: 3 });
    const index = Number((await get('/v1/catalog/services')).headers['x-consul-index']);
    const held = get(`/v1/catalog/services?index=${index}&wait=5s`);
    consul.startBusy({ services: 3, writesPerSecond: 20 });
    const woke = await held;
    consul.stopBusy();
    expect(Number(woke.headers['x-consul-index'])).toBeGreaterThan(index);
  });

  it('flaps unrelated checks between passing and critical, moving the health index', async () => {
    consul.startBusy({ services: 4, flapsPerSecond: 40 });
    const seen = new Set<string>();
    for (let n = 0; n < 10 && seen.size < 2; n++) {
      const checks = (await get('/v1/health/state/any')).json as { CheckID: string; Status: string }[];
      const c = checks.find((x) => x.CheckID === 'service:busy-0');
      if (c) seen.add(c.Status);
      await new Promise((r) => setTimeout(r, 60));
    }
    consul.stopBusy();
    expect(seen).toEqual(new Set(['passing', 'critical']));
  });

  it('filters checks with Consul filter expressions, and rejects one it cannot evaluate with 400', async () => {
    consul.register({ Name: 'web', ID: 'web-1', Port: 8080, Check: { TTL: '1h', Status: 'passing' } });
    consul.register({ Name: 'web', ID: 'web-2', Port: 8081, Check: { TTL: '1h', Status: 'critical' } });
    const failing = (await get(`/v1/health/state/any?filter=${encodeURIComponent('Status != "passing"')}`)).json as { ServiceID: string }[];
    expect(failing.map((c) => c.ServiceID)).toEqual(['web-2']);
    const both = (await get(`/v1/health/state/any?filter=${encodeURIComponent('ServiceName == "web" and Status == "passing"')}`)).json as { ServiceID: string }[];
    expect(both.map((c) => c.ServiceID)).toEqual(['web-1']);
    const bad = await get(`/v1/health/state/any?filter=${encodeURIComponent('Status matches "pass.*"')}`);
    expect(bad.status).toBe(400);
    expect(String(bad.json)).toMatch(/Failed to create boolean expression evaluator/);
    expect((await get(`/v1/catalog/services?filter=${encodeURIComponent('Status == "x"')}`)).status).toBe(400);
  });

  it('answers stale reads with X-Consul-LastContact and X-Consul-Effective-Consistency', async () => {
    consul.setLastContact(1_500);
    const stale = await get('/v1/catalog/services?stale');
    expect(stale.headers).toMatchObject({ 'x-consul-lastcontact': '1500', 'x-consul-knownleader': 'true', 'x-consul-effective-consistency': 'stale' });
    const leader = await get('/v1/catalog/services');
    expect(leader.headers).toMatchObject({ 'x-consul-lastcontact': '0', 'x-consul-effective-consistency': 'leader' });
    expect((await get('/v1/catalog/services?consistent')).headers['x-consul-effective-consistency']).toBe('consistent');
  });

  it('answers health, state and catalog reads with the Consul 1.x field sets', async () => {
    consul.register({ Name: 'web', ID: 'web-1', Address: '10.1.2.3', Port: 8080, Tags: ['v1'], Meta: { a: 'b' }, Check: { TTL: '1h', Status: 'passing' } });
    const [entry] = (await get('/v1/health/service/web')).json as Record<string, Record<string, unknown> | Record<string, unknown>[]>[];
    expect(Object.keys(entry!).sort()).toEqual(['Checks', 'Node', 'Service']);
    expect(Object.keys(entry!.Node as object).sort()).toEqual(['Address', 'CreateIndex', 'Datacenter', 'ID', 'Meta', 'ModifyIndex', 'Node', 'TaggedAddresses']);
    expect(Object.keys(entry!.Service as object).sort()).toEqual(
      ['Address', 'Connect', 'CreateIndex', 'EnableTagOverride', 'ID', 'Meta', 'ModifyIndex', 'Port', 'Proxy', 'Service', 'TaggedAddresses', 'Tags', 'Weights'].sort(),
    );
    const checkKeys = ['CheckID', 'CreateIndex', 'Definition', 'ExposedPort', 'Interval', 'ModifyIndex', 'Name', 'Node', 'Notes', 'Output', 'ServiceID', 'ServiceName', 'ServiceTags', 'Status', 'Timeout', 'Type'];
    for (const c of entry!.Checks as object[]) expect(Object.keys(c).sort()).toEqual(checkKeys);
    const state = (await get('/v1/health/state/any')).json as object[];
    for (const c of state) expect(Object.keys(c).sort()).toEqual(checkKeys);
    const [cat] = (await get('/v1/catalog/service/web')).json as object[];
    expect(cat).toMatchObject({ ServiceID: 'web-1', ServiceName: 'web', ServiceAddress: '10.1.2.3', ServicePort: 8080, ServiceTags: ['v1'], ServiceMeta: { a: 'b' }, Node: consul.agentNode });
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load-config.js';
import type { ConsulRegistryConfig } from '../../../src/config/schema.js';
import { ConsulRegistry } from '../../../src/registry/consul/consul-registry.js';
import type { RegistrySnapshot } from '../../../src/registry/service-instance.js';
import { ConsulEmulator, type ServiceRegistration } from '../../support/consul-emulator.js';
import { captureLog } from '../../support/log-capture.js';
import { eventually } from '../../support/proxy-harness.js';

/**
 * What reading Consul costs when the datacenter is busy: a moving index with unchanged content
 * reads no service, a change reads the services it touches, sweeps and resets obey budgets.
 * Request counts come from the emulator's request log; no timing is asserted beyond generous
 * bounds.
 */
describe('Consul registry at datacenter scale', () => {
  let consul: ConsulEmulator | null = null;
  let registry: ConsulRegistry | null = null;
  afterEach(async () => {
    await registry?.close();
    await consul?.close();
    registry = null;
    consul = null;
  });

  const svc = (s: number, i: number, extra: Partial<ServiceRegistration> = {}): ServiceRegistration => ({
    Name: `svc-${s}`,
    ID: `svc-${s}-${i}`,
    Address: '127.0.0.1',
    Port: 20_000 + i,
    Tags: ['routed', `urlprefix-/svc-${s}`],
    Check: { TTL: '87600h', Status: 'passing' },
    ...extra,
  });

  async function start(services: number, registryFields: Record<string, unknown> = {}, prettyAnswers = false): Promise<{ consul: ConsulEmulator; registry: ConsulRegistry; serviceReads: () => number }> {
    consul = await ConsulEmulator.start({ runChecks: false, prettyAnswers });
    for (let s = 0; s < services; s++) for (let i = 0; i < 2; i++) consul.register(svc(s, i));
    const config = parseConfigText('scale.yaml', JSON.stringify({ registry: { type: 'consul', address: consul.address, wait: '5s', backoff: { initial: '50ms', max: '500ms' }, ...registryFields } }))
      .registry as ConsulRegistryConfig;
    registry = new ConsulRegistry({ config, configFile: 'scale.yaml', logger: captureLog().logger });
    await registry.start();
    const c = consul;
    return { consul: c, registry, serviceReads: () => c.requestsTo('/v1/health/service/').length };
  }

  it('reads no service while writes and flapping checks elsewhere move every index', async () => {
    const { consul, registry, serviceReads } = await start(50, { tags: ['routed'], registrationScanInterval: '500ms' });
    consul.startBusy({ services: 20 });
    await eventually(() => registry.readStatus().registrationScans === 1, 5_000, 'the busy services registered and scanned');
    const readsBefore = serviceReads();
    const catalogBefore = consul.servicesIndex;
    const snapshot = registry.current();
    consul.startBusy({ services: 20, writesPerSecond: 40, flapsPerSecond: 40 });
    await new Promise((r) => setTimeout(r, 2_000));
    consul.stopBusy();
    expect(consul.servicesIndex).toBeGreaterThan(catalogBefore + 20);
    // The watches answered (the index moved under them), yet no service was read again.
    expect(consul.requestsTo('/v1/catalog/services').length).toBeGreaterThan(3);
    expect(serviceReads() - readsBefore).toBe(0);
    expect(registry.current()).toBe(snapshot);
    // Catalog moves that tags do not explain cost registration scans, within their budget (one per 500 ms).
    const st = registry.readStatus();
    expect(st.registrationScans).toBeGreaterThan(1);
    expect(st.registrationScans).toBeLessThanOrEqual(1 + Math.ceil(2_000 / 500) + 1);
    expect(st.sweeps).toBe(0);
    expect(st.sweepPending).toBe(true);
  });

  it('paces the catalog watch by catalogMinInterval while writes elsewhere keep moving its index', async () => {
    const { consul, registry } = await start(20, { tags: ['routed'], catalogMinInterval: '1s' });
    consul.startBusy({ services: 10, writesPerSecond: 50 });
    const since = Date.now();
    await new Promise((r) => setTimeout(r, 2_500));
    consul.stopBusy();
    const elapsed = Date.now() - since;
    const catalogReads = consul.requestsTo('/v1/catalog/services').filter((r) => r.time >= since).length;
    expect(catalogReads).toBeGreaterThan(0);
    expect(catalogReads).toBeLessThanOrEqual(Math.ceil(elapsed / 1_000) + 1);
    // A new routed service still arrives, within the catalog pace.
    consul.register({ Name: 'late', ID: 'late-1', Port: 1, Tags: ['routed'], Check: { TTL: '1h', Status: 'passing' } });
    await eventually(() => registry.current().services.has('late'), 5_000, 'new service');
  });

  it('among 200 services, applies a known check going critical without a read, and reads only its service when it passes again', async () => {
    const { consul, registry, serviceReads } = await start(200);
    const before = serviceReads();
    consul.setCheckStatus('service:svc-123-1', 'critical');
    await eventually(() => registry.current().services.get('svc-123')?.instances.find((i) => i.id.endsWith('/svc-123-1'))?.health === 'critical', 5_000, 'critical seen');
    await new Promise((r) => setTimeout(r, 300));
    expect(serviceReads() - before).toBe(0);
    expect(registry.readStatus().checksApplied).toBe(1);
    // Leaving the non-passing answer, the check may pass or have gone with its instance: a read tells.
    consul.setCheckStatus('service:svc-123-1', 'passing');
    await eventually(() => registry.current().services.get('svc-123')?.instances.find((i) => i.id.endsWith('/svc-123-1'))?.health === 'passing', 5_000, 'passing seen');
    await new Promise((r) => setTimeout(r, 300));
    expect(consul.requestsTo('/v1/health/service/').slice(before).map((r) => r.path)).toEqual(['/v1/health/service/svc-123']);
  });

  it('finds a new checked instance of a known service through a registration scan, without a sweep', async () => {
    const { consul, registry, serviceReads } = await start(100);
    const before = serviceReads();
    consul.register(svc(42, 7));
    await eventually(() => registry.current().services.get('svc-42')?.instances.length === 3, 5_000, 'third instance');
    await new Promise((r) => setTimeout(r, 300));
    expect(serviceReads() - before).toBe(1);
    expect(registry.readStatus()).toMatchObject({ registrationScans: 1, sweeps: 0 });
  });

  it('a registration that lands in the same service-list answer as a tag change elsewhere is still found (the tag change does not explain it)', async () => {
    const { consul, registry } = await start(100, { catalogMinInterval: '300ms', sweepInterval: 0 });
    // Two writes before the catalog watch's next answer: a tag change on svc-33 and a third
    // instance of svc-42 registered already passing (its service list entry is unchanged).
    consul.register(svc(33, 0, { Tags: ['routed', 'urlprefix-/svc-33', 'urlprefix-/svc-33-v2'] }));
    consul.register(svc(42, 7));
    await eventually(() => registry.current().services.get('svc-33')?.tags.includes('urlprefix-/svc-33-v2') === true, 5_000, 'svc-33 new tag');
    await eventually(() => registry.current().services.get('svc-42')?.instances.length === 3, 5_000, 'svc-42 third instance, found by a registration scan');
    expect(registry.readStatus()).toMatchObject({ sweeps: 0 });
    expect(registry.readStatus().registrationScans).toBeGreaterThanOrEqual(1);
  });

  const instanceHealth = (registry: ConsulRegistry, service: string, id: string) => registry.current().services.get(service)?.instances.find((i) => i.id.endsWith(`/${id}`))?.health;

  it('a check flipping critical → passing → critical reaches the snapshot each time, with one read (for the passing)', async () => {
    const { consul, registry, serviceReads } = await start(200);
    const before = serviceReads();
    for (const status of ['critical', 'passing', 'critical'] as const) {
      consul.setCheckStatus('service:svc-77-0', status);
      await eventually(() => instanceHealth(registry, 'svc-77', 'svc-77-0') === status, 5_000, `svc-77-0 ${status}`);
    }
    await new Promise((r) => setTimeout(r, 300));
    expect(serviceReads() - before).toBe(1);
    expect(registry.readStatus()).toMatchObject({ registrationScans: 0, checksApplied: 2 });
  });

  it('a scale-down while passing (seen only by a registration scan) and a tag change (seen in the service list) each read only their service', async () => {
    const { consul, registry, serviceReads } = await start(200);
    const before = serviceReads();
    consul.deregister('svc-150-1');
    await eventually(() => registry.current().services.get('svc-150')?.instances.length === 1, 5_000, 'svc-150 down to one instance');
    consul.register(svc(33, 0, { Tags: ['routed', 'urlprefix-/svc-33', 'urlprefix-/svc-33-v2'] }));
    await eventually(() => registry.current().services.get('svc-33')?.tags.includes('urlprefix-/svc-33-v2') === true, 5_000, 'svc-33 new tag');
    await new Promise((r) => setTimeout(r, 300));
    expect(consul.requestsTo('/v1/health/service/').slice(before).map((r) => r.path)).toEqual(['/v1/health/service/svc-150', '/v1/health/service/svc-33']);
    expect(registry.readStatus()).toMatchObject({ sweeps: 0 });
    expect(registry.readStatus().registrationScans).toBeGreaterThanOrEqual(1);
  });

  it('reads indented answers (Consul with ?pretty) whole, with the same results as compact ones', async () => {
    const { consul, registry, serviceReads } = await start(50, {}, true);
    expect(registry.current().services.size).toBe(50);
    const before = serviceReads();
    consul.deregister('svc-20-1');
    await eventually(() => registry.current().services.get('svc-20')?.instances.length === 1, 5_000, 'svc-20 down to one instance');
    consul.register(svc(7, 0, { Tags: ['routed', 'urlprefix-/svc-7', 'urlprefix-/svc-7-v2'] }));
    await eventually(() => registry.current().services.get('svc-7')?.tags.includes('urlprefix-/svc-7-v2') === true, 5_000, 'svc-7 new tag');
    consul.setCheckStatus('service:svc-9-0', 'critical');
    await eventually(() => instanceHealth(registry, 'svc-9', 'svc-9-0') === 'critical', 5_000, 'svc-9-0 critical');
    await new Promise((r) => setTimeout(r, 300));
    // svc-9's check change is applied without a read (its instance and check are known).
    expect(consul.requestsTo('/v1/health/service/').slice(before).map((r) => r.path).sort()).toEqual(['/v1/health/service/svc-20', '/v1/health/service/svc-7']);
    expect(registry.readStatus().checksApplied).toBe(1);
  });

  it('finds an instance without checks through a sweep, once per sweepInterval', async () => {
    const { consul, registry } = await start(30, { sweepInterval: '1s' });
    consul.register(svc(7, 9, { Check: undefined }));
    await eventually(() => registry.current().services.get('svc-7')?.instances.length === 3, 10_000, 'checkless instance found by a sweep');
    expect(registry.readStatus().sweeps).toBe(1);
    // More unexplained changes inside the interval wait for the next slot: one sweep at a time.
    consul.register(svc(8, 9, { Check: undefined }));
    consul.register(svc(9, 9, { Check: undefined }));
    await eventually(() => registry.current().services.get('svc-9')?.instances.length === 3, 10_000, 'second sweep');
    expect(registry.current().services.get('svc-8')?.instances.length).toBe(3);
    expect(registry.readStatus().sweeps).toBe(2);
  });

  it('never sweeps when sweepInterval is 0 (the change waits; tags and checks still work)', async () => {
    const { consul, registry } = await start(10, { sweepInterval: 0 });
    consul.register(svc(3, 9, { Check: undefined }));
    await eventually(() => registry.readStatus().registrationScans === 1, 5_000, 'registration scan');
    consul.register(svc(4, 9));
    await eventually(() => registry.current().services.get('svc-4')?.instances.length === 3, 5_000, 'checked instance');
    expect(registry.readStatus()).toMatchObject({ sweeps: 0, sweepPending: false });
  });

  it('reads changes before sweep reads, and keeps sweeps under readRate', async () => {
    const { consul, registry } = await start(80, { sweepInterval: '1s', readRate: 20, connections: 4 });
    // Critical is applied without a read; passing again (below) is a change that needs one.
    consul.setCheckStatus('service:svc-79-0', 'critical');
    await eventually(() => registry.current().services.get('svc-79')?.instances.some((i) => i.health === 'critical') === true, 5_000, 'critical applied');
    consul.register(svc(0, 9, { Check: undefined }));
    await eventually(() => registry.readStatus().sweeps === 1, 10_000, 'sweep started');
    const sweepStart = Date.now();
    consul.setCheckStatus('service:svc-79-0', 'passing');
    await eventually(() => registry.current().services.get('svc-79')?.instances.every((i) => i.health === 'passing') === true, 5_000, 'change read during the sweep');
    // The sweep (80 reads at 20/s) is still going: the change did not wait for it.
    const reads = consul.requestsTo('/v1/health/service/').filter((r) => r.time >= sweepStart);
    expect(reads.length).toBeLessThan(80);
    await eventually(() => registry.current().services.get('svc-0')?.instances.length === 3, 15_000, 'sweep completes');
    const all = consul.requestsTo('/v1/health/service/').filter((r) => r.time >= sweepStart - 1_000);
    // In any 1 s window: at most readRate starts plus the burst (connections - 2), with slack for timer skew.
    for (const r of all) {
      const inWindow = all.filter((x) => x.time >= r.time && x.time < r.time + 1_000).length;
      expect(inWindow).toBeLessThanOrEqual(20 + 2 + 3);
    }
  });

  it('an index going backwards again and again reads no service when nothing changed', async () => {
    const { consul, registry, serviceReads } = await start(40);
    const before = serviceReads();
    const since = Date.now();
    let flip = 0;
    const flapper = setInterval(() => consul.resetIndex(++flip % 2 ? 5_000 : 5, true), 5);
    await new Promise((r) => setTimeout(r, 2_000));
    clearInterval(flapper);
    const elapsed = Date.now() - since;
    expect(serviceReads() - before).toBe(0);
    const watch = consul.requests.filter((r) => r.time >= since && (r.path === '/v1/catalog/services' || r.path === '/v1/health/state/any'));
    // Two watches at most once per 100 ms each, plus registration scans (one per 2 s) and the requests in flight.
    expect(watch.length).toBeLessThanOrEqual(2 * (Math.ceil(elapsed / 100) + 1) + Math.ceil(elapsed / 2_000) + 1);
    expect(registry.readStatus().sweeps).toBe(0);
    // After the flapping, a change still arrives.
    consul.resetIndex(10_000, true);
    consul.setCheckStatus('service:svc-5-0', 'critical');
    await eventually(() => registry.current().services.get('svc-5')?.instances.some((i) => i.health === 'critical') === true, 5_000, 'change after resets');
  });

  it('after a reset, reads the services whose content changed around it, and no others', async () => {
    const { consul, registry, serviceReads } = await start(40);
    consul.resetIndex(1, false);
    consul.register(svc(11, 5));
    consul.setCheckStatus('service:svc-12-0', 'critical');
    const before = serviceReads();
    // The held queries see the lower index when their wait ends (5 s) or at the next write.
    await eventually(() => registry.current().services.get('svc-11')?.instances.length === 3, 10_000, 'registration around the reset');
    await eventually(() => registry.current().services.get('svc-12')?.instances.some((i) => i.health === 'critical') === true, 10_000, 'check change around the reset');
    await new Promise((r) => setTimeout(r, 300));
    const read = new Set(consul.requestsTo('/v1/health/service/').slice(before).map((r) => r.path));
    expect(read).toEqual(new Set(['/v1/health/service/svc-11', '/v1/health/service/svc-12']));
    expect(registry.readStatus().sweeps).toBe(0);
  });

  it('publishes each change as a delta: the names it carries are exactly the services that differ from the snapshot before, and the rest are the same objects', async () => {
    const { consul, registry } = await start(300, { tags: ['routed'], registrationScanInterval: '200ms', sweepInterval: 0 });
    const published: RegistrySnapshot[] = [registry.current()];
    registry.subscribe((snapshot) => published.push(snapshot));
    consul.setCheckStatus('service:svc-7-0', 'critical');
    await eventually(() => registry.current().services.get('svc-7')?.instances[0]?.health === 'critical', 5_000, 'the check change applied');
    consul.register(svc(300, 0));
    consul.register({ ...svc(12, 0), Tags: ['routed', 'urlprefix-/moved'] });
    await eventually(() => registry.current().services.has('svc-300') && registry.current().services.get('svc-12')!.tags.includes('urlprefix-/moved'), 5_000, 'a new service and a tag change applied');
    consul.deregister('svc-250-0');
    consul.deregister('svc-250-1');
    await eventually(() => !registry.current().services.has('svc-250'), 5_000, 'a service that left removed');
    expect(published.length).toBeGreaterThan(3);
    for (let k = 1; k < published.length; k++) {
      const before = published[k - 1]!;
      const after = published[k]!;
      const differ = new Set([...after.services].filter(([name, entry]) => before.services.get(name) !== entry).map(([name]) => name));
      for (const name of before.services.keys()) if (!after.services.has(name)) differ.add(name);
      expect(after.delta?.previous.deref()).toBe(before);
      expect(new Set(after.delta!.names)).toEqual(differ);
      expect([...after.services.keys()]).toEqual([...after.services.keys()].sort());
    }
    const all = new Set(published.slice(1).flatMap((s) => s.delta!.names));
    expect(all).toEqual(new Set(['svc-7', 'svc-300', 'svc-12', 'svc-250']));
  });
});

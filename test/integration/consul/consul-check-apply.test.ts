import fc from 'fast-check';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load-config.js';
import type { ConsulRegistryConfig } from '../../../src/config/schema.js';
import { ConsulRegistry } from '../../../src/registry/consul/consul-registry.js';
import type { RegistrySnapshot, ServiceInstance } from '../../../src/registry/service-instance.js';
import { sameSnapshot } from '../../../src/registry/snapshot-equality.js';
import { ConsulEmulator, type ServiceRegistration } from '../../support/consul-emulator.js';
import { startConsulProxy, type ConsulProxyHarness } from '../../support/consul-proxy-harness.js';
import { fetchText } from '../../support/http-client.js';
import { captureLog } from '../../support/log-capture.js';
import { eventually } from '../../support/proxy-harness.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

/**
 * Check status changes the health watch shows, applied to the registry's known entries without a
 * service read when the last read listed the instance and the check, and read as before when
 * not. Reads are counted from the emulator's request log (/v1/health/service/<name>); every
 * outcome is also compared with what a read gives.
 */
describe('Consul check changes applied without a read', () => {
  let consul: ConsulEmulator | null = null;
  const registries: ConsulRegistry[] = [];
  afterEach(async () => {
    await Promise.all(registries.splice(0).map((r) => r.close()));
    await consul?.close();
    consul = null;
  });

  const instance = (service: string, id: string, port: number, checks: readonly string[], status: 'passing' | 'critical' = 'passing', extra: Partial<ServiceRegistration> = {}): ServiceRegistration => ({
    Name: service,
    ID: id,
    Address: '127.0.0.1',
    Port: port,
    Tags: [`urlprefix-/${service}`],
    Checks: checks.map((CheckID) => ({ CheckID, TTL: '87600h', Status: status })),
    ...extra,
  });

  async function startRegistry(c: ConsulEmulator, fields: Record<string, unknown> = {}): Promise<ConsulRegistry> {
    const config = parseConfigText('apply.yaml', JSON.stringify({ registry: { type: 'consul', address: c.address, wait: '5s', backoff: { initial: '50ms', max: '500ms' }, ...fields } })).registry as ConsulRegistryConfig;
    const registry = new ConsulRegistry({ config, configFile: 'apply.yaml', logger: captureLog().logger });
    registries.push(registry);
    await registry.start();
    return registry;
  }

  /**
   * An emulator with `services` services of two instances (one TTL check each) on the agent's
   * node, and `more` registered too, before the registry starts.
   */
  async function start(services: number, fields: Record<string, unknown> = {}, more: readonly ServiceRegistration[] = []): Promise<{ consul: ConsulEmulator; registry: ConsulRegistry; readsOf: (service: string) => number }> {
    const c = await ConsulEmulator.start({ runChecks: false });
    consul = c;
    for (let s = 0; s < services; s++) for (let i = 0; i < 2; i++) c.register(instance(`svc-${s}`, `svc-${s}-${i}`, 20_000 + i, [`check-${s}-${i}`]));
    for (const r of more) c.register(r);
    const registry = await startRegistry(c, fields);
    return { consul: c, registry, readsOf: (service) => c.requestsTo(`/v1/health/service/${service}`).filter((r) => r.path === `/v1/health/service/${service}`).length };
  }

  const find = (snapshot: RegistrySnapshot, service: string, id: string): ServiceInstance | undefined => snapshot.services.get(service)?.instances.find((i) => i.id.endsWith(`/${id}`));
  const healthOf = (registry: ConsulRegistry, service: string, id: string) => find(registry.current(), service, id)?.health;
  /** Lets answers in flight land: the assertions after it count what was read. */
  const settle = () => new Promise((r) => setTimeout(r, 300));

  /** The instances two views disagree on, as "service/instance: health weight port | ...". */
  function differences(a: RegistrySnapshot, b: RegistrySnapshot): string[] {
    const describe = (s: RegistrySnapshot) => {
      const out = new Map<string, string>();
      for (const [name, entry] of s.services) for (const i of entry.instances) out.set(`${name}/${i.id}`, `${i.health} ${i.weight} ${i.port}`);
      return out;
    };
    const [x, y] = [describe(a), describe(b)];
    const keys = new Set([...x.keys(), ...y.keys()]);
    return [...keys].filter((k) => x.get(k) !== y.get(k)).map((k) => `${k}: ${x.get(k) ?? 'absent'} | fresh read: ${y.get(k) ?? 'absent'}`);
  }

  /** Whether Consul (the emulator's own answer) has the instance in rotation now: every check passing or warning. */
  async function routableInConsul(c: ConsulEmulator, service: string, id: string): Promise<boolean> {
    const res = await fetch(`${c.url}/v1/health/service/${service}`);
    const entries = (await res.json()) as { Service: { ID: string; Weights: { Warning: number } }; Checks: { Status: string }[] }[];
    const entry = entries.find((e) => e.Service.ID === id);
    if (entry === undefined) return false;
    return entry.Checks.every((k) => k.Status === 'passing' || (k.Status === 'warning' && entry.Service.Weights.Warning > 0));
  }

  /** What a registry that reads everything afresh sees now. */
  async function freshView(c: ConsulEmulator, fields: Record<string, unknown> = {}): Promise<RegistrySnapshot> {
    const fresh = await startRegistry(c, fields);
    const view = fresh.current();
    await fresh.close();
    registries.splice(registries.indexOf(fresh), 1);
    return view;
  }

  it('a known instance with two checks: each failing and recovering is applied without a read while the other still fails; the last recovery is read', async () => {
    const { consul, registry, readsOf } = await start(20, {}, [instance('svc-5', 'svc-5-x', 20_005, ['a', 'b'])]);
    const reads = readsOf('svc-5');
    const applied = registry.readStatus().checksApplied;
    // Each step: the check, its status, the instance's health it gives.
    const steps: [string, 'passing' | 'warning' | 'critical', ServiceInstance['health']][] = [
      ['a', 'critical', 'critical'],
      ['b', 'warning', 'critical'],
      ['a', 'passing', 'warning'], // b is still listed: the instance is still registered
      ['b', 'critical', 'critical'],
      ['a', 'warning', 'critical'],
      ['b', 'passing', 'warning'], // a is still listed
    ];
    for (const [check, status, health] of steps) {
      consul.setCheckStatus(check, status);
      await eventually(() => healthOf(registry, 'svc-5', 'svc-5-x') === health, 5_000, `${check} ${status}: ${health}`);
      await settle();
      expect(healthOf(registry, 'svc-5', 'svc-5-x'), `${check} ${status}`).toBe(health);
    }
    expect(readsOf('svc-5') - reads).toBe(0);
    expect(registry.readStatus().checksApplied - applied).toBe(steps.length);
    // The last check leaving the answer: it passes, or it went with its instance; a read tells.
    consul.setCheckStatus('a', 'passing');
    await eventually(() => healthOf(registry, 'svc-5', 'svc-5-x') === 'passing', 5_000, 'passing again');
    await settle();
    expect(readsOf('svc-5') - reads).toBe(1);
    expect(sameSnapshot(registry.current(), await freshView(consul))).toBe(true);
  });

  it('a new instance that registers critical is read (an unknown instance), and appears in rotation once passing', async () => {
    const { consul, registry, readsOf } = await start(20);
    const reads = readsOf('svc-3');
    const applied = registry.readStatus().checksApplied;
    consul.register(instance('svc-3', 'svc-3-new', 20_009, ['check-new'], 'critical'));
    await eventually(() => healthOf(registry, 'svc-3', 'svc-3-new') === 'critical', 5_000, 'new instance read, critical');
    expect(readsOf('svc-3') - reads).toBeGreaterThanOrEqual(1);
    consul.setCheckStatus('check-new', 'passing');
    await eventually(() => healthOf(registry, 'svc-3', 'svc-3-new') === 'passing', 5_000, 'new instance passing');
    expect(registry.readStatus().checksApplied).toBe(applied);
    expect(sameSnapshot(registry.current(), await freshView(consul))).toBe(true);
  });

  it('a critical instance that is deregistered leaves at once: its check leaving the answer is read, not taken as passing', async () => {
    // Scans an hour apart: only the health watch can see the deregistration in time.
    const { consul, registry, readsOf } = await start(20, { registrationScanInterval: '1h', sweepInterval: 0 });
    // The first scan runs at once: spend it, so that the next is an hour away.
    consul.register(instance('svc-19', 'svc-19-2', 20_002, ['check-19-2']));
    await eventually(() => registry.current().services.get('svc-19')?.instances.length === 3, 5_000, 'the first scan');
    consul.setCheckStatus('check-7-1', 'critical');
    await eventually(() => healthOf(registry, 'svc-7', 'svc-7-1') === 'critical', 5_000, 'critical');
    const reads = readsOf('svc-7');
    const seen: (ServiceInstance['health'] | undefined)[] = [];
    registry.subscribe((snapshot) => seen.push(find(snapshot, 'svc-7', 'svc-7-1')?.health));
    consul.deregister('svc-7-1');
    await eventually(() => registry.current().services.get('svc-7')?.instances.length === 1, 5_000, 'deregistered instance gone');
    expect(readsOf('svc-7') - reads).toBe(1);
    // Never put back in rotation on the way out.
    expect(seen).not.toContain('passing');
    expect(registry.readStatus().registrationScans).toBe(1);
  });

  it('a check added to a known instance (maintenance mode) is read; its removal too', async () => {
    const { consul, registry, readsOf } = await start(20);
    const reads = readsOf('svc-9');
    consul.maintenance('svc-9-0', true, 'deploy');
    await eventually(() => healthOf(registry, 'svc-9', 'svc-9-0') === 'critical', 5_000, 'maintenance drains');
    consul.maintenance('svc-9-0', false);
    await eventually(() => healthOf(registry, 'svc-9', 'svc-9-0') === 'passing', 5_000, 'maintenance over');
    expect(readsOf('svc-9') - reads).toBe(2);
  });

  it('a node check (serfHealth) failing takes every instance on that node out without a read; recovering is read', async () => {
    const { consul, registry, readsOf } = await start(10);
    consul.addNode('node-2', '127.0.0.2');
    for (const s of [1, 2, 3]) consul.register(instance(`svc-${s}`, `svc-${s}-n2`, 21_000 + s, [`check-${s}-n2`]), 'node-2');
    await eventually(() => [1, 2, 3].every((s) => healthOf(registry, `svc-${s}`, `svc-${s}-n2`) === 'passing'), 5_000, 'node-2 instances known');
    await settle();
    let reads = [1, 2, 3].map((s) => readsOf(`svc-${s}`));
    const applied = registry.readStatus().checksApplied;
    consul.setCheckStatus('serfHealth', 'critical', 'Agent not live or unreachable', 'node-2');
    await eventually(() => [1, 2, 3].every((s) => healthOf(registry, `svc-${s}`, `svc-${s}-n2`) === 'critical'), 5_000, 'node-2 instances out');
    await settle();
    // Instances on the other node stay; nothing was read; one status applied per instance on node-2.
    expect([1, 2, 3].every((s) => healthOf(registry, `svc-${s}`, `svc-${s}-0`) === 'passing')).toBe(true);
    expect([1, 2, 3].map((s) => readsOf(`svc-${s}`))).toEqual(reads);
    expect(registry.readStatus().checksApplied - applied).toBe(3);
    expect(sameSnapshot(registry.current(), await freshView(consul))).toBe(true);
    // The fresh view's reads are in the emulator's log too.
    reads = [1, 2, 3].map((s) => readsOf(`svc-${s}`));
    consul.setCheckStatus('serfHealth', 'passing', '', 'node-2');
    await eventually(() => [1, 2, 3].every((s) => healthOf(registry, `svc-${s}`, `svc-${s}-n2`) === 'passing'), 5_000, 'node-2 back');
    expect([1, 2, 3].map((s) => readsOf(`svc-${s}`) - reads[s - 1]!)).toEqual([1, 1, 1]);
  });

  it('an instance deregistered while its node check fails never comes back when the node check gets better: read, not applied', async () => {
    // Scans an hour apart: only a read can tell that the instance is gone.
    const { consul, registry, readsOf } = await start(5, { registrationScanInterval: '1h', sweepInterval: 0 });
    // The first scan runs at once and finds it; the next is an hour away.
    consul.addNode('node-2', '127.0.0.2');
    consul.register(instance('svc-1', 'svc-1-n2', 21_001, ['check-1-n2']), 'node-2');
    await eventually(() => healthOf(registry, 'svc-1', 'svc-1-n2') === 'passing', 5_000, 'the node-2 instance known');
    consul.setCheckStatus('serfHealth', 'critical', 'Agent not live or unreachable', 'node-2');
    await eventually(() => healthOf(registry, 'svc-1', 'svc-1-n2') === 'critical', 5_000, 'node-2 out');
    await settle();
    const seen: (ServiceInstance['health'] | undefined)[] = [];
    registry.subscribe((snapshot) => seen.push(find(snapshot, 'svc-1', 'svc-1-n2')?.health));
    const reads = readsOf('svc-1');
    // Its own check passes, so the health watch shows nothing when it goes; then the node check
    // improves: that proves the node, not the instance.
    consul.deregister('svc-1-n2', 'node-2');
    await settle();
    consul.setCheckStatus('serfHealth', 'warning', 'flapping', 'node-2');
    await eventually(() => find(registry.current(), 'svc-1', 'svc-1-n2') === undefined, 5_000, 'the deregistered instance gone');
    expect(readsOf('svc-1') - reads).toBe(1);
    expect(seen.filter((h) => h === 'passing' || h === 'warning')).toEqual([]);
  });

  it('a node check no read has listed (node maintenance) is read for every service on that node, and so is its removal', async () => {
    const { consul, registry, readsOf } = await start(5);
    consul.addNode('node-2', '127.0.0.2');
    for (const s of [1, 2]) consul.register(instance(`svc-${s}`, `svc-${s}-n2`, 21_000 + s, [`check-${s}-n2`]), 'node-2');
    await eventually(() => [1, 2].every((s) => healthOf(registry, `svc-${s}`, `svc-${s}-n2`) === 'passing'), 5_000, 'node-2 instances known');
    await settle();
    const reads = [1, 2, 3].map((s) => readsOf(`svc-${s}`));
    consul.nodeMaintenance(true, 'kernel upgrade', 'node-2');
    await eventually(() => [1, 2].every((s) => healthOf(registry, `svc-${s}`, `svc-${s}-n2`) === 'critical'), 5_000, 'node-2 drained');
    consul.nodeMaintenance(false, '', 'node-2');
    await eventually(() => [1, 2].every((s) => healthOf(registry, `svc-${s}`, `svc-${s}-n2`) === 'passing'), 5_000, 'node-2 back');
    await settle();
    // svc-3 has no instance on node-2: not read.
    expect([1, 2, 3].map((s) => readsOf(`svc-${s}`) - reads[s - 1]!)).toEqual([2, 2, 0]);
  });

  it('warning gives what a read gives: the Warning weight, and out of rotation when that weight is 0', async () => {
    const { consul, registry, readsOf } = await start(5);
    consul.register(instance('svc-w', 'w-1', 20_100, ['w-1'], 'passing', { Weights: { Passing: 5, Warning: 2 } }));
    consul.register(instance('svc-w', 'w-2', 20_101, ['w-2'], 'passing', { Weights: { Passing: 3, Warning: 0 } }));
    consul.register(instance('svc-w', 'w-3', 20_102, ['w-3a', 'w-3b'], 'passing', { Weights: { Passing: 4, Warning: 1 } }));
    await eventually(() => registry.current().services.get('svc-w')?.instances.length === 3, 5_000, 'svc-w known');
    await settle();
    let reads = readsOf('svc-w');
    for (const id of ['w-1', 'w-2', 'w-3a']) consul.setCheckStatus(id, 'warning');
    await eventually(() => healthOf(registry, 'svc-w', 'w-1') === 'warning' && healthOf(registry, 'svc-w', 'w-2') === 'critical' && healthOf(registry, 'svc-w', 'w-3') === 'warning', 5_000, 'warnings applied');
    await settle();
    expect(readsOf('svc-w')).toBe(reads);
    const applied = registry.current().services.get('svc-w')!;
    expect(applied.instances.map((i) => [i.id, i.health, i.weight])).toEqual([
      ['node-1/w-1', 'warning', 2],
      ['node-1/w-2', 'critical', 3],
      ['node-1/w-3', 'warning', 1],
    ]);
    expect(sameSnapshot(registry.current(), await freshView(consul))).toBe(true);
    reads = readsOf('svc-w');
    // warning → critical → warning on a known check, and a second check's warning beside it.
    consul.setCheckStatus('w-3a', 'critical');
    await eventually(() => healthOf(registry, 'svc-w', 'w-3') === 'critical', 5_000, 'w-3 critical');
    consul.setCheckStatus('w-3b', 'warning');
    consul.setCheckStatus('w-3a', 'warning');
    await eventually(() => healthOf(registry, 'svc-w', 'w-3') === 'warning', 5_000, 'w-3 warning again');
    await settle();
    expect(readsOf('svc-w')).toBe(reads);
    expect(sameSnapshot(registry.current(), await freshView(consul))).toBe(true);
  });

  it('random sequences of check flips, node failures, maintenance, registrations and deregistrations end in the view a fresh read of every service gives', async () => {
    const c = await ConsulEmulator.start({ runChecks: false });
    consul = c;
    c.addNode('node-2', '127.0.0.2');
    const fields = { registrationScanInterval: '200ms', minInterval: '10ms' };
    const services = ['s0', 's1', 's2'];
    const nodes = ['node-1', 'node-2'];
    /** An instance the test registered; `run`: the run of the property that registered it. */
    type Live = { service: string; id: string; node: string; checks: string[]; run: number };
    let runs = 0;
    const live: Live[] = [];
    let serial = 0;
    const register = (service: string, node: string, checks: number, status: 'passing' | 'critical', weights: boolean): void => {
      const id = `${service}-${serial++}`;
      const checkIds = Array.from({ length: checks }, (_, k) => `${id}-c${k}`);
      c.register(instance(service, id, 22_000 + serial, checkIds, status, weights ? { Weights: { Passing: 2, Warning: 0 } } : {}), node);
      live.push({ service, id, node, checks: checkIds, run: runs });
    };
    for (const s of services) for (const n of nodes) register(s, n, 2, 'passing', false);
    const registry = await startRegistry(c, fields);
    // Instances deregistered while out of rotation in Consul, and whether the registry has shown
    // them out since: one it showed out must not come back (a check leaving the answer with its
    // instance is not a recovery).
    const gone = new Map<string, { service: string; out: boolean }>();
    const cameBack: string[] = [];
    const watchGone = (snapshot: RegistrySnapshot) => {
      for (const [id, g] of gone) {
        const health = find(snapshot, g.service, id)?.health;
        const out = health === undefined || health === 'critical';
        if (g.out && !out) cameBack.push(id);
        g.out ||= out;
      }
    };
    registry.subscribe(watchGone);

    const status = fc.constantFrom('passing' as const, 'warning' as const, 'critical' as const);
    const op = fc.oneof(
      { arbitrary: fc.tuple(fc.constant('check' as const), fc.nat(), fc.nat(), status), weight: 6 },
      { arbitrary: fc.tuple(fc.constant('node' as const), fc.nat(1), status), weight: 1 },
      { arbitrary: fc.tuple(fc.constant('maintenance' as const), fc.nat(), fc.boolean()), weight: 1 },
      { arbitrary: fc.tuple(fc.constant('register' as const), fc.nat(2), fc.nat(1), fc.integer({ min: 1, max: 2 }), fc.constantFrom('passing' as const, 'critical' as const), fc.boolean()), weight: 2 },
      { arbitrary: fc.tuple(fc.constant('deregister' as const), fc.nat()), weight: 2 },
    );
    const run = fc.array(fc.tuple(op, fc.constantFrom(0, 0, 30, 60)), { minLength: 1, maxLength: 12 });
    await fc.assert(
      fc.asyncProperty(run, async (steps) => {
        runs += 1;
        for (const [o, gapMs] of steps) {
          if (o[0] === 'check' && live.length > 0) {
            const inst = live[o[1] % live.length]!;
            c.setCheckStatus(inst.checks[o[2] % inst.checks.length]!, o[3], '', inst.node);
          } else if (o[0] === 'node') {
            c.setCheckStatus('serfHealth', o[2], '', nodes[o[1]]);
          } else if (o[0] === 'maintenance' && live.length > 0) {
            const inst = live[o[1] % live.length]!;
            c.maintenance(inst.id, o[2], '', inst.node);
          } else if (o[0] === 'register') {
            register(services[o[1]]!, nodes[o[2]]!, o[3], o[4], o[5]);
          } else if (o[0] === 'deregister') {
            // Not one registered in this run: an instance registered and deregistered within one
            // registration scan interval is seen by neither the watches nor the scans, and a read
            // of its service for another reason meanwhile keeps it until the next sweep (a known
            // gap, docs/consul.md, before this change too).
            const older = live.filter((l) => l.run < runs);
            if (older.length > 0) {
              const inst = older[o[1] % older.length]!;
              live.splice(live.indexOf(inst), 1);
              const out = !(await routableInConsul(c, inst.service, inst.id));
              c.deregister(inst.id, inst.node);
              if (out) {
                gone.set(inst.id, { service: inst.service, out: false });
                watchGone(registry.current());
              }
            }
          }
          if (gapMs > 0) await new Promise((r) => setTimeout(r, gapMs));
        }
        // Registrations and deregistrations of passing instances wait for a registration scan.
        await new Promise((r) => setTimeout(r, 400));
        const expected = await freshView(c, fields);
        await eventually(() => sameSnapshot(registry.current(), expected), 3_000, 'the registry agrees with a fresh read').catch(() => {
          throw new Error(`the registry differs from a fresh read: ${differences(registry.current(), expected).join('; ')}`);
        });
        expect(cameBack).toEqual([]);
      }),
      { numRuns: 25, endOnFailure: true },
    );
    expect(registry.readStatus().checksApplied).toBeGreaterThan(0);
  }, 120_000);
});

describe('Consul check changes applied without a read, through the real proxy', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let h: ConsulProxyHarness | null = null;
  beforeAll(async () => {
    [a, b] = await Promise.all([startUpstream('a'), startUpstream('b')]);
  });
  afterAll(async () => {
    await Promise.all([a, b].map((u) => u.close()));
  });
  afterEach(async () => {
    await h?.close();
    h = null;
  });

  it('a known instance failing leaves rotation and coming back returns to it, reading the service only for the return', async () => {
    h = await startConsulProxy({ config: { routes: [{ name: 'web', match: { path: '/web' }, service: 'web' }] } });
    const consul = h.consul;
    for (const u of [a, b]) consul.register({ Name: 'web', ID: `web-${u.name}`, Address: '127.0.0.1', Port: u.port, Check: { CheckID: `check-${u.name}`, TTL: '10m', Status: 'passing' } });
    const harness = h;
    const onlyFrom = async (names: string[]) => {
      const seen = new Set<string>();
      for (let i = 0; i < 8; i++) {
        const r = await fetchText(`${harness.url}/web`);
        seen.add(r.status === 200 ? (JSON.parse(r.body) as EchoReply).instance : `status ${r.status}`);
      }
      return [...seen].sort().join() === names.sort().join();
    };
    await eventually(() => onlyFrom(['a', 'b']), 5_000, 'both instances');
    await new Promise((r) => setTimeout(r, 300));
    const reads = () => consul.requestsTo('/v1/health/service/web').length;
    const before = reads();
    consul.setCheckStatus('check-b', 'critical');
    await eventually(() => onlyFrom(['a']), 5_000, 'critical b out of rotation');
    expect(reads()).toBe(before);
    consul.setCheckStatus('check-b', 'passing');
    await eventually(() => onlyFrom(['a', 'b']), 5_000, 'b back in rotation');
    expect(reads()).toBe(before + 1);
  });
});

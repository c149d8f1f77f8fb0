import { describe, expect, it } from 'vitest';
import { changedKeys, changedRegistrations, checkRegistration, digestChecks } from '../../../src/registry/consul/check-digest.js';
import type { HealthCheck, HealthEntry } from '../../../src/registry/consul/consul-responses.js';
import { instanceFromEntry, serviceEntryFrom } from '../../../src/registry/consul/health-entries.js';
import { backoffDelay } from '../../../src/registry/consul/retry-backoff.js';

const check = (CheckID: string, Status: HealthCheck['Status'], ServiceID = '', ServiceName = '', Node = 'n1'): HealthCheck => ({ Node, CheckID, Status, ServiceID, ServiceName });
const entry = (id: string, checks: HealthCheck[], service: Partial<HealthEntry['Service']> = {}): HealthEntry => ({
  Node: { Node: 'n1', Address: '10.0.0.1' },
  Service: { ID: id, Service: 'web', Tags: ['b', 'a'], Address: '10.0.0.2', Port: 80, Meta: { v: '1' }, Weights: { Passing: 5, Warning: 2 }, ...service },
  Checks: checks,
});

describe('health entries → instances', () => {
  it('takes the worst check (node checks included) and the matching weight', () => {
    expect(instanceFromEntry(entry('w', [check('serfHealth', 'passing'), check('c', 'passing', 'w', 'web')]))).toMatchObject({ health: 'passing', weight: 5, address: '10.0.0.2', tags: ['a', 'b'], id: 'n1/w' });
    expect(instanceFromEntry(entry('w', [check('serfHealth', 'passing'), check('c', 'warning', 'w', 'web')]))).toMatchObject({ health: 'warning', weight: 2 });
    expect(instanceFromEntry(entry('w', [check('serfHealth', 'critical'), check('c', 'passing', 'w', 'web')]))).toMatchObject({ health: 'critical' });
    expect(instanceFromEntry(entry('w', [check('_service_maintenance:w', 'critical', 'w', 'web')]))).toMatchObject({ health: 'critical' });
  });

  it('falls back to Node.Address and default weights', () => {
    expect(instanceFromEntry(entry('w', [], { Address: '', Weights: null }))).toMatchObject({ address: '10.0.0.1', weight: 1, health: 'passing' });
  });

  it('treats a Warning weight of 0 as out of rotation while warning', () => {
    expect(instanceFromEntry(entry('w', [check('c', 'warning', 'w', 'web')], { Weights: { Passing: 3, Warning: 0 } }))).toMatchObject({ health: 'critical' });
  });

  it('builds a service entry with sorted instances and tag union, or null when empty', () => {
    const svc = serviceEntryFrom('web', [entry('z', [], { Tags: ['x'] }), entry('a', [], { Tags: ['y'] })])!;
    expect(svc.instances.map((i) => i.id)).toEqual(['n1/a', 'n1/z']);
    expect(svc.tags).toEqual(['x', 'y']);
    expect(serviceEntryFrom('web', [])).toBeNull();
  });
});

describe('check digests', () => {
  it('changes only for the service or node whose checks changed', () => {
    const before = digestChecks([check('serfHealth', 'passing'), check('c1', 'passing', 'a1', 'a'), check('c2', 'passing', 'b1', 'b')]);
    const after = digestChecks([check('c2', 'passing', 'b1', 'b'), check('c1', 'warning', 'a1', 'a'), check('serfHealth', 'passing')]);
    expect(changedKeys(before.services, after.services)).toEqual(['a']);
    expect(changedKeys(before.nodes, after.nodes)).toEqual([]);
    const nodeDown = digestChecks([check('serfHealth', 'critical'), check('c1', 'warning', 'a1', 'a'), check('c2', 'passing', 'b1', 'b')]);
    expect(changedKeys(after.nodes, nodeDown.nodes)).toEqual(['n1']);
    expect(changedKeys(after.services, digestChecks([check('c2', 'passing', 'b1', 'b')]).services)).toEqual(['a']);
  });
});

describe('backoffDelay', () => {
  it('doubles up to the maximum, with jitter between half and all of the step', () => {
    const settings = { initialMs: 100, maxMs: 1_000 };
    expect([1, 2, 3, 4, 5, 50].map((n) => backoffDelay(n, settings, () => 1))).toEqual([100, 200, 400, 800, 1000, 1000]);
    expect(backoffDelay(3, settings, () => 0)).toBe(200);
  });
});

describe('changedRegistrations', () => {
  it('names the services that gained, lost or changed a check, and not status changes nor node checks', () => {
    const reg = (c: ReturnType<typeof check>) => checkRegistration(c);
    // Between two scans: a's checks changed status (left and came back), b gained a check, d left, e came, a node check flipped.
    const removed = [check('c1', 'passing', 'a1', 'a'), check('c2', 'passing', 'a2', 'a'), check('c4', 'passing', 'd1', 'd'), check('serfHealth', 'passing')].map(reg);
    const added = [check('c2', 'critical', 'a2', 'a'), check('c1', 'warning', 'a1', 'a'), check('c5', 'passing', 'b2', 'b'), check('c6', 'passing', 'e1', 'e'), check('serfHealth', 'critical')].map(reg);
    expect(changedRegistrations(removed, added).sort()).toEqual(['b', 'd', 'e']);
    expect(changedRegistrations(added, added)).toEqual([]);
    // Same count, another check: a change.
    expect(changedRegistrations([reg(check('c1', 'passing', 'a1', 'a'))], [reg(check('c9', 'passing', 'a1', 'a'))])).toEqual(['a']);
    // The same check twice (two identical pieces) and one of them gone: a change.
    expect(changedRegistrations([reg(check('c1', 'passing', 'a1', 'a')), reg(check('c1', 'passing', 'a1', 'a'))], [reg(check('c1', 'passing', 'a1', 'a'))])).toEqual(['a']);
  });
});

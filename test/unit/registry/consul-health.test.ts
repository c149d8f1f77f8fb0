import { describe, expect, it } from 'vitest';
import { checkChanges, instanceKey, instancesListed, nonPassingChecks } from '../../../src/registry/consul/check-changes.js';
import { changedRegistrations, checkRegistration } from '../../../src/registry/consul/check-digest.js';
import type { HealthCheck, HealthEntry } from '../../../src/registry/consul/consul-responses.js';
import { instanceFromEntry, readService, reratedInstance, serviceEntryFrom } from '../../../src/registry/consul/health-entries.js';
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

describe('check changes between two health watch answers', () => {
  it('lists a check that came, changed status or left (as passing), node checks included, and nothing else', () => {
    const before = nonPassingChecks([check('c1', 'critical', 'a1', 'a'), check('c2', 'warning', 'b1', 'b'), check('c3', 'critical', 'b2', 'b')]);
    const after = nonPassingChecks([check('c3', 'critical', 'b2', 'b'), check('c2', 'critical', 'b1', 'b'), check('serfHealth', 'critical'), check('c4', 'warning', 'd1', 'd', 'n2')]);
    expect(checkChanges(before, after)).toEqual([
      { node: 'n1', serviceId: 'b1', service: 'b', checkId: 'c2', status: 'critical' },
      { node: 'n1', serviceId: '', service: '', checkId: 'serfHealth', status: 'critical' },
      { node: 'n2', serviceId: 'd1', service: 'd', checkId: 'c4', status: 'warning' },
      { node: 'n1', serviceId: 'a1', service: 'a', checkId: 'c1', status: 'passing' },
    ]);
    expect(checkChanges(after, after)).toEqual([]);
  });

  it('sees a check re-registered under another service as two changes', () => {
    const before = nonPassingChecks([check('c1', 'critical', 'a1', 'a')]);
    const after = nonPassingChecks([check('c1', 'critical', 'a1', 'b')]);
    expect(checkChanges(before, after).map((c) => [c.service, c.status])).toEqual([
      ['b', 'critical'],
      ['a', 'passing'],
    ]);
  });

  it('names the instances with a service check in an answer (not the nodes of node checks)', () => {
    const listed = instancesListed(nonPassingChecks([check('serfHealth', 'critical', '', '', 'n9'), check('c1', 'warning', 'a1', 'a')]));
    expect([...listed]).toEqual([instanceKey('n1', 'a1')]);
  });
});

describe('a status applied to a known instance', () => {
  it('gives the health and weight a read of the same checks gives (warning, Warning weight 0, node checks, maintenance)', () => {
    const cases: [HealthCheck['Status'], HealthCheck['Status'], Partial<HealthEntry['Service']>][] = [
      ['passing', 'warning', {}],
      ['warning', 'passing', {}],
      ['passing', 'warning', { Weights: { Passing: 3, Warning: 0 } }],
      ['passing', 'critical', { Weights: null }],
      ['passing', 'maintenance', {}],
      ['critical', 'warning', { Weights: { Passing: 0, Warning: 4 } }],
    ];
    for (const [from, to, service] of cases) {
      for (const which of [0, 1]) {
        const statuses = (s: HealthCheck['Status']) => [check('serfHealth', which === 0 ? s : 'passing'), check('c', which === 1 ? s : 'passing', 'w', 'web')];
        const known = readService('web', [entry('w', statuses(from), service)])!;
        known.checks[0]!.statuses[which] = to;
        const read = readService('web', [entry('w', statuses(to), service)])!;
        expect(reratedInstance(known.entry.instances[0]!, known.checks[0]!), `${from} → ${to} on check ${which}`).toEqual(read.entry.instances[0]);
      }
    }
  });

  it('keeps the instance object when neither health nor weight changes', () => {
    const known = readService('web', [entry('w', [check('a', 'critical', 'w', 'web'), check('b', 'passing', 'w', 'web')])])!;
    known.checks[0]!.statuses[1] = 'warning';
    expect(reratedInstance(known.entry.instances[0]!, known.checks[0]!)).toBe(known.entry.instances[0]);
  });

  it('keeps each instance\'s checks in the order of the entry\'s instances', () => {
    const read = readService('web', [entry('z', [check('cz', 'passing', 'z', 'web')]), entry('a', [check('ca', 'critical', 'a', 'web')])])!;
    expect(read.entry.instances.map((i) => i.id)).toEqual(['n1/a', 'n1/z']);
    expect(read.checks.map((c) => [c.serviceId, c.checkIds, c.statuses])).toEqual([
      ['a', ['ca'], ['critical']],
      ['z', ['cz'], ['passing']],
    ]);
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

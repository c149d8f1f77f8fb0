import { afterEach, describe, expect, it } from 'vitest';
import { ConsistentHashBalancer } from '../../../src/upstream/consistent-hash-balancer.js';
import { Endpoint, HealthFlag } from '../../../src/upstream/endpoint.js';
import { cookieValue } from '../../../src/upstream/request-hash-key.js';
import { closeAll, endpoints, instance, requestWith, serviceSettings } from '../../support/endpoint-fixtures.js';

const KEYS = Array.from({ length: 10_000 }, (_, i) => `user-${i}`);
const byHeader = { header: 'x-user' } as const;
let lists: Endpoint[][] = [];
afterEach(async () => {
  await Promise.all(lists.map(closeAll));
  lists = [];
});

function track(list: Endpoint[]): Endpoint[] {
  lists.push(list);
  return list;
}

/** key → endpoint key, for every test key. */
function assignments(b: ConsistentHashBalancer): Map<string, string> {
  return new Map(KEYS.map((k) => [k, b.pick(requestWith({ 'x-user': k }), '127.0.0.1', false, null)!.key]));
}

function moved(before: Map<string, string>, after: Map<string, string>): string[] {
  return KEYS.filter((k) => before.get(k) !== after.get(k));
}

describe('ConsistentHashBalancer', () => {
  it('sends the same key to the same endpoint, and spreads keys evenly', () => {
    const list = track(endpoints([1, 1, 1, 1]));
    const b = new ConsistentHashBalancer(list, byHeader);
    const first = assignments(b);
    expect(assignments(b)).toEqual(first);
    const counts = new Map<string, number>();
    for (const e of first.values()) counts.set(e, (counts.get(e) ?? 0) + 1);
    for (const e of list) expect(Math.abs(counts.get(e.key)! - 2500), e.key).toBeLessThan(2500 * 0.2);
  });

  it('gives weighted endpoints a weighted share of keys', () => {
    const list = track(endpoints([1, 3]));
    const b = new ConsistentHashBalancer(list, byHeader);
    const heavy = [...assignments(b).values()].filter((e) => e === list[1]!.key).length;
    expect(Math.abs(heavy - 7500)).toBeLessThan(7500 * 0.1);
  });

  it('moves only about 1/N of the keys when an endpoint is added, all of them to the new one', () => {
    const four = track(endpoints([1, 1, 1, 1]));
    const five = track([...endpoints([1, 1, 1, 1]), new Endpoint(instance(10_005), serviceSettings(), { openConnections: 0 })]);
    const before = assignments(new ConsistentHashBalancer(four, byHeader));
    const after = assignments(new ConsistentHashBalancer(five, byHeader));
    const changed = moved(before, after);
    expect(changed.length / KEYS.length).toBeGreaterThan(0.2 * 0.6);
    expect(changed.length / KEYS.length).toBeLessThan(0.2 * 1.4);
    for (const k of changed) expect(after.get(k)).toBe(five[4]!.key);
  });

  it('moves only the keys of a removed endpoint', () => {
    const four = track(endpoints([1, 1, 1, 1]));
    const three = [four[0]!, four[1]!, four[3]!];
    const before = assignments(new ConsistentHashBalancer(four, byHeader));
    const after = assignments(new ConsistentHashBalancer(three, byHeader));
    const changed = moved(before, after);
    expect(changed.length).toBeGreaterThan(0);
    for (const k of changed) expect(before.get(k)).toBe(four[2]!.key);
    expect(changed.length).toBe([...before.values()].filter((e) => e === four[2]!.key).length);
  });

  it('sends an unhealthy owner\'s keys elsewhere and gives them back when it recovers', () => {
    const list = track(endpoints([1, 1, 1]));
    const b = new ConsistentHashBalancer(list, byHeader);
    const before = assignments(b);
    list[1]!.setHealthFlag(HealthFlag.outlier, true);
    const during = assignments(b);
    for (const k of moved(before, during)) expect(before.get(k)).toBe(list[1]!.key);
    expect([...during.values()]).not.toContain(list[1]!.key);
    list[1]!.setHealthFlag(HealthFlag.outlier, false);
    expect(assignments(b)).toEqual(before);
  });

  it('hashes on a cookie or the client address, and spreads requests without a key', () => {
    const list = track(endpoints([1, 1, 1]));
    const byCookie = new ConsistentHashBalancer(list, { cookie: 'session' });
    const a = byCookie.pick(requestWith({ cookie: 'theme=dark; session=abc123' }), '127.0.0.1', false, null);
    for (let i = 0; i < 20; i++) expect(byCookie.pick(requestWith({ cookie: `session=abc123; n=${i}` }), '127.0.0.1', false, null)).toBe(a);
    const byAddress = new ConsistentHashBalancer(list, { clientAddress: true });
    const c = byAddress.pick(requestWith(), '10.1.2.3', false, null);
    for (let i = 0; i < 20; i++) expect(byAddress.pick(requestWith(), '10.1.2.3', false, null)).toBe(c);
    const keyless = new Set(Array.from({ length: 300 }, () => byCookie.pick(requestWith(), '127.0.0.1', false, null)!.key));
    expect(keyless.size).toBe(3);
  });
});

describe('cookieValue', () => {
  it('finds a cookie by exact name only', () => {
    expect(cookieValue('a=1; session=xyz; b=2', 'session')).toBe('xyz');
    expect(cookieValue('mysession=no; session=yes', 'session')).toBe('yes');
    expect(cookieValue('session=last', 'session')).toBe('last');
    expect(cookieValue('sessionx=1', 'session')).toBeUndefined();
    expect(cookieValue(undefined, 'session')).toBeUndefined();
  });
});

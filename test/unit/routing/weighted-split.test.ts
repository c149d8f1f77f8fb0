import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import type { Route } from '../../../src/routing/route.js';
import { WeightedSplit } from '../../../src/routing/weighted-split.js';

const backend = (service: string, weight: number) => ({ route: { name: 'r', cluster: { name: service } } as unknown as Route, weight });
const request = (headers: Record<string, string> = {}): IncomingMessage => ({ headers }) as unknown as IncomingMessage;

function counts(split: WeightedSplit, n: number, req: (i: number) => IncomingMessage = () => request()): Map<string, number> {
  const out = new Map<string, number>();
  for (let i = 0; i < n; i++) {
    const name = split.pick(req(i)).cluster.name;
    out.set(name, (out.get(name) ?? 0) + 1);
  }
  return out;
}

describe('WeightedSplit', () => {
  it('gives each backend exactly its weight in every run of `total` picks (smooth weighted round robin)', () => {
    const split = new WeightedSplit([backend('v1', 90), backend('v2', 10)], undefined);
    expect(counts(split, 100)).toEqual(new Map([['v1', 90], ['v2', 10]]));
    expect(counts(split, 10_000)).toEqual(new Map([['v1', 9000], ['v2', 1000]]));
    const three = new WeightedSplit([backend('a', 5), backend('b', 3), backend('c', 2)], undefined);
    expect(counts(three, 1000)).toEqual(new Map([['a', 500], ['b', 300], ['c', 200]]));
  });

  it('spreads the smaller backend out instead of sending it a run of requests', () => {
    const split = new WeightedSplit([backend('v1', 9), backend('v2', 1)], undefined);
    const seq = Array.from({ length: 20 }, () => split.pick(request()).cluster.name);
    const v2At = seq.flatMap((s, i) => (s === 'v2' ? [i] : []));
    expect(v2At).toHaveLength(2);
    expect(v2At[1]! - v2At[0]!).toBe(10);
  });

  it('never picks a backend of weight 0', () => {
    const split = new WeightedSplit([backend('off', 0), backend('on', 3)], undefined);
    expect(counts(split, 50)).toEqual(new Map([['on', 50]]));
    expect(split.at(0).cluster.name).toBe('on');
  });

  it('keeps a client on one backend by its sticky header, and splits clients by weight', () => {
    const split = new WeightedSplit([backend('v1', 80), backend('v2', 20)], { header: 'x-user' });
    const first = split.pick(request({ 'x-user': 'alice' })).cluster.name;
    for (let i = 0; i < 50; i++) expect(split.pick(request({ 'x-user': 'alice' })).cluster.name).toBe(first);
    const byUser = counts(split, 10_000, (i) => request({ 'x-user': `user-${i}` }));
    // Hashing distinct keys is a sample, not an exact split: a generous bound.
    expect(byUser.get('v2')! / 10_000).toBeGreaterThan(0.17);
    expect(byUser.get('v2')! / 10_000).toBeLessThan(0.23);
  });

  it('hashes a sticky cookie, and takes the round robin when the request has none', () => {
    const split = new WeightedSplit([backend('v1', 1), backend('v2', 1)], { cookie: 'user' });
    const a = split.pick(request({ cookie: 'theme=dark; user=bob' })).cluster.name;
    for (let i = 0; i < 20; i++) expect(split.pick(request({ cookie: `user=bob; x=${i}` })).cluster.name).toBe(a);
    const noCookie = new WeightedSplit([backend('v1', 1), backend('v2', 1)], { cookie: 'user' });
    expect(counts(noCookie, 10)).toEqual(new Map([['v1', 5], ['v2', 5]]));
  });

  it('refuses a split without traffic', () => {
    expect(() => new WeightedSplit([], undefined)).toThrow(/at least one backend/);
    expect(() => new WeightedSplit([backend('a', 0)], undefined)).toThrow(/weight above 0/);
  });
});

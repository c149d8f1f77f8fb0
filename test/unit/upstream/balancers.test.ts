import { afterEach, describe, expect, it } from 'vitest';
import { HealthFlag, type Endpoint } from '../../../src/upstream/endpoint.js';
import { LeastRequestBalancer } from '../../../src/upstream/least-request-balancer.js';
import { RandomBalancer } from '../../../src/upstream/random-balancer.js';
import { WeightedRoundRobinBalancer } from '../../../src/upstream/weighted-round-robin-balancer.js';
import { closeAll, countPicks, endpoints, requestWith } from '../../support/endpoint-fixtures.js';

const req = requestWith();
let list: Endpoint[] = [];
afterEach(() => closeAll(list));

/** Asserts each endpoint's share of `picks` is within `tolerance` (relative) of its weight share. */
function expectWeightShares(counts: Map<string, number>, picks: number, tolerance: number): void {
  const total = list.reduce((s, e) => s + e.weight, 0);
  for (const e of list) {
    const expected = (picks * e.weight) / total;
    const got = counts.get(e.key) ?? 0;
    expect(Math.abs(got - expected), `${e.key}: ${got} picks, expected about ${expected}`).toBeLessThanOrEqual(expected * tolerance);
  }
}

describe('WeightedRoundRobinBalancer', () => {
  it('gives exact weight shares, interleaved', () => {
    list = endpoints([5, 1, 1]);
    const b = new WeightedRoundRobinBalancer(list, 0);
    const seq = Array.from({ length: 7 }, () => b.pick(req, '127.0.0.1', false, null)!.key.slice(-1));
    expect(seq.join('')).toBe('1121311');
    expectWeightShares(countPicks(() => b.pick(req, '127.0.0.1', false, null), 7000), 7000, 0);
  });

  it('rotates evenly over equal weights and skips unhealthy and excluded endpoints', () => {
    list = endpoints([1, 1, 1]);
    const b = new WeightedRoundRobinBalancer(list, 0);
    expectWeightShares(countPicks(() => b.pick(req, '127.0.0.1', false, null), 3000), 3000, 0);
    list[1]!.setHealthFlag(HealthFlag.activeCheck, true);
    const counts = countPicks(() => b.pick(req, '127.0.0.1', false, [list[0]!]), 100);
    expect([...counts.keys()]).toEqual([list[2]!.key]);
  });

  it('ramps a new endpoint up during slow start', () => {
    list = endpoints([1, 1]);
    list[1]!.warmUntil = Date.now() + 60_000; // just started: about 10% of its weight
    const b = new WeightedRoundRobinBalancer(list, 60_000);
    const counts = countPicks(() => b.pick(req, '127.0.0.1', false, null), 1100);
    expect(counts.get(list[1]!.key)!).toBeLessThan(counts.get(list[0]!.key)! / 4);
  });
});

describe('RandomBalancer', () => {
  it('picks in proportion to weight', () => {
    list = endpoints([1, 2, 3]);
    const b = new RandomBalancer(list);
    expectWeightShares(countPicks(() => b.pick(req, '127.0.0.1', false, null), 60_000), 60_000, 0.05);
  });

  it('never picks an unhealthy endpoint, unless in panic mode', () => {
    list = endpoints([1, 1, 1]);
    list[0]!.setHealthFlag(HealthFlag.outlier, true);
    const b = new RandomBalancer(list);
    expect(countPicks(() => b.pick(req, '127.0.0.1', false, null), 3000).get(list[0]!.key)).toBeUndefined();
    expect(countPicks(() => b.pick(req, '127.0.0.1', true, null), 3000).get(list[0]!.key)).toBeGreaterThan(0);
  });

  it('returns undefined when nothing is eligible', () => {
    list = endpoints([1, 1]);
    for (const e of list) e.setHealthFlag(HealthFlag.drain, true);
    const b = new RandomBalancer(list);
    expect(b.pick(req, '127.0.0.1', true, null)).toBeUndefined();
  });
});

describe('LeastRequestBalancer', () => {
  it('spreads an idle cluster in proportion to weight', () => {
    list = endpoints([1, 3]);
    const b = new LeastRequestBalancer(list, 0);
    expectWeightShares(countPicks(() => b.pick(req, '127.0.0.1', false, null), 40_000), 40_000, 0.05);
  });

  it('avoids the most loaded endpoint (two choices never both land on it)', () => {
    list = endpoints([1, 1, 1]);
    list[0]!.tries = 10;
    list[1]!.tries = 1;
    const b = new LeastRequestBalancer(list, 0);
    const counts = countPicks(() => b.pick(req, '127.0.0.1', false, null), 3000);
    expect(counts.get(list[0]!.key)).toBeUndefined();
    // The idle endpoint wins every comparison it is part of (2 of 3 pairs).
    expect(counts.get(list[2]!.key)!).toBeGreaterThan(counts.get(list[1]!.key)!);
  });

  it('compares load per unit of weight', () => {
    list = endpoints([4, 1]);
    list[0]!.tries = 3; // 0.75 per unit of weight
    list[1]!.tries = 1; // 1 per unit
    const b = new LeastRequestBalancer(list, 0);
    expect(countPicks(() => b.pick(req, '127.0.0.1', false, null), 500).get(list[1]!.key)).toBeUndefined();
  });

  it('uses the only eligible endpoint', () => {
    list = endpoints([1, 1, 1]);
    list[0]!.setHealthFlag(HealthFlag.activeCheck, true);
    list[1]!.setHealthFlag(HealthFlag.registry, true);
    const b = new LeastRequestBalancer(list, 0);
    expect([...countPicks(() => b.pick(req, '127.0.0.1', false, null), 200).keys()]).toEqual([list[2]!.key]);
  });
});

import type { IncomingMessage } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_SERVICE } from '../../../src/config/schema.js';
import type { InstanceHealth } from '../../../src/registry/service-instance.js';
import { Endpoint } from '../../../src/upstream/endpoint.js';
import { WeightedRoundRobinBalancer } from '../../../src/upstream/weighted-round-robin-balancer.js';

const created: Endpoint[] = [];
function endpoint(id: string, weight: number, health: InstanceHealth = 'passing'): Endpoint {
  const e = new Endpoint({ id, service: 's', address: '127.0.0.1', port: 10_000 + created.length, weight, tags: [], meta: {}, health }, DEFAULT_SERVICE, { openConnections: 0 });
  created.push(e);
  return e;
}
afterEach(async () => {
  await Promise.all(created.splice(0).map((e) => e.close()));
});

const req = {} as IncomingMessage;
function picks(b: WeightedRoundRobinBalancer, n: number): string[] {
  return Array.from({ length: n }, () => b.pick(req, '127.0.0.1', false, null)?.instance.id ?? 'none');
}

describe('WeightedRoundRobinBalancer', () => {
  it('rotates evenly over equal weights', () => {
    const b = new WeightedRoundRobinBalancer([endpoint('a', 1), endpoint('b', 1), endpoint('c', 1)], 0);
    expect(picks(b, 6)).toEqual(['a', 'b', 'c', 'a', 'b', 'c']);
  });

  it('spreads weighted picks smoothly (5:1:1 interleaves the light ones)', () => {
    const b = new WeightedRoundRobinBalancer([endpoint('a', 5), endpoint('b', 1), endpoint('c', 1)], 0);
    expect(picks(b, 7)).toEqual(['a', 'a', 'b', 'a', 'c', 'a', 'a']);
  });

  it('honours weights exactly over whole cycles', () => {
    const b = new WeightedRoundRobinBalancer([endpoint('a', 3), endpoint('b', 2), endpoint('c', 0.5)], 0);
    const counts: Record<string, number> = {};
    for (const id of picks(b, 1100)) counts[id] = (counts[id] ?? 0) + 1;
    expect(counts).toEqual({ a: 600, b: 400, c: 100 });
  });

  it('skips unavailable endpoints and returns undefined when none is available', () => {
    const b = new WeightedRoundRobinBalancer([endpoint('a', 1), endpoint('b', 1, 'critical'), endpoint('c', 1)], 0);
    expect(picks(b, 4)).toEqual(['a', 'c', 'a', 'c']);
    const w = new WeightedRoundRobinBalancer([endpoint('x', 2, 'critical'), endpoint('y', 1)], 0);
    expect(picks(w, 3)).toEqual(['y', 'y', 'y']);
    const none = new WeightedRoundRobinBalancer([endpoint('z', 1, 'critical')], 0);
    expect(none.pick(req, '127.0.0.1', false, null)).toBeUndefined();
    expect(new WeightedRoundRobinBalancer([], 0).pick(req, '127.0.0.1', false, null)).toBeUndefined();
  });
});

import type { RequestHead } from '../codec/server-stream.js';
import type { HashOnConfig } from '../config/schema.js';
import { eligible, type Balancer } from './balancer.js';
import type { Endpoint } from './endpoint.js';
import { requestHashKey } from './request-hash-key.js';
import { hash32 } from './string-hash.js';
import { drawAmongEligible } from './weighted-sampler.js';

/** Ring points per endpoint of average weight: more points, more even shares (about ±6% at 256). */
const POINTS_PER_ENDPOINT = 256;

/**
 * Ring hash (Karger et al.; Envoy's RING_HASH): every endpoint owns points on a 32-bit ring,
 * in proportion to its weight, placed by hashing its address. A request's key (header,
 * cookie or client address) hashes to a ring position and goes to the owner of the next
 * point clockwise. Points depend only on the endpoint's own address, so adding or removing
 * one of N endpoints moves only about 1/N of the keys. An unhealthy owner is skipped to the
 * next point, so its keys spread over the others and come back when it recovers.
 * Requests without a key are spread at random.
 */
export class ConsistentHashBalancer implements Balancer {
  /** Ring point positions, ascending. */
  private readonly points: Uint32Array;
  /** owners[i]: index into `endpoints` of the endpoint owning points[i]. */
  private readonly owners: Uint32Array;

  constructor(
    private readonly endpoints: readonly Endpoint[],
    private readonly hashOn: HashOnConfig,
  ) {
    const totalWeight = endpoints.reduce((sum, e) => sum + e.weight, 0);
    const pointsOf = endpoints.map((e) => Math.max(1, Math.round((POINTS_PER_ENDPOINT * endpoints.length * e.weight) / totalWeight)));
    const positions: number[] = [];
    const ownerOf: number[] = [];
    endpoints.forEach((e, index) => {
      for (let p = 0; p < pointsOf[index]!; p++) {
        positions.push(hash32(`${e.key}#${p}`));
        ownerOf.push(index);
      }
    });
    // Ties (two points at one position) are broken by endpoint key, so the ring is the same whatever the list order.
    const order = positions.map((_, i) => i).sort((a, b) => positions[a]! - positions[b]! || compareKeys(endpoints[ownerOf[a]!]!, endpoints[ownerOf[b]!]!));
    this.points = Uint32Array.from(order, (i) => positions[i]!);
    this.owners = Uint32Array.from(order, (i) => ownerOf[i]!);
  }

  pick(request: RequestHead, clientAddress: string, panic: boolean, exclude: readonly Endpoint[] | null): Endpoint | undefined {
    const endpoints = this.endpoints;
    if (endpoints.length === 0) return undefined;
    const key = requestHashKey(request, clientAddress, this.hashOn);
    if (key === undefined) {
      const i = drawAmongEligible(endpoints, panic, exclude);
      return i < 0 ? undefined : endpoints[i];
    }
    return this.ownerOf(hash32(key), panic, exclude);
  }

  /** The first eligible owner clockwise from `position`. Exposed for tests of key movement. */
  ownerOf(position: number, panic: boolean, exclude: readonly Endpoint[] | null): Endpoint | undefined {
    const points = this.points;
    const n = points.length;
    let lo = 0;
    let hi = n;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (points[mid]! < position) lo = mid + 1;
      else hi = mid;
    }
    for (let step = 0; step < n; step++) {
      const e = this.endpoints[this.owners[(lo + step) % n]!]!;
      if (eligible(e, panic, exclude)) return e;
    }
    return undefined;
  }
}

function compareKeys(a: Endpoint, b: Endpoint): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

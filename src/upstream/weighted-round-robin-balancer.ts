import { eligible, type Balancer } from './balancer.js';
import type { Endpoint } from './endpoint.js';

/**
 * Smooth weighted round robin (the nginx algorithm): each pick adds every eligible
 * endpoint's weight to its running score, takes the highest and subtracts the total, so
 * weights 5:1:1 give a a b a c a a rather than a a a a a b c. When all weights are equal (and
 * no slow start applies) it takes an O(1) plain rotation instead.
 */
export class WeightedRoundRobinBalancer implements Balancer {
  private readonly scores: Float64Array;
  private readonly uniform: boolean;
  private next = 0;

  constructor(
    private readonly endpoints: readonly Endpoint[],
    private readonly slowStart: number,
  ) {
    this.scores = new Float64Array(endpoints.length);
    this.uniform = endpoints.every((e) => e.weight === endpoints[0]!.weight);
  }

  pick(_request: unknown, _clientAddress: string, panic: boolean, exclude: readonly Endpoint[] | null): Endpoint | undefined {
    const endpoints = this.endpoints;
    const n = endpoints.length;
    if (n === 0) return undefined;
    const warming = this.slowStart > 0 && anyWarming(endpoints);
    if (this.uniform && !warming) {
      for (let tried = 0; tried < n; tried++) {
        const e = endpoints[this.next]!;
        this.next = this.next + 1 === n ? 0 : this.next + 1;
        if (eligible(e, panic, exclude)) return e;
      }
      return undefined;
    }
    const now = warming ? Date.now() : 0;
    const scores = this.scores;
    let total = 0;
    let best = -1;
    for (let i = 0; i < n; i++) {
      const e = endpoints[i]!;
      if (!eligible(e, panic, exclude)) continue;
      const w = warming ? e.effectiveWeight(now, this.slowStart) : e.weight;
      scores[i]! += w;
      total += w;
      if (best < 0 || scores[i]! > scores[best]!) best = i;
    }
    if (best < 0) return undefined;
    scores[best]! -= total;
    return endpoints[best];
  }
}

function anyWarming(endpoints: readonly Endpoint[]): boolean {
  for (let i = 0; i < endpoints.length; i++) if (endpoints[i]!.warmUntil !== 0) return true;
  return false;
}

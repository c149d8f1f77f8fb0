import { eligible, type Balancer } from './balancer.js';
import type { Endpoint } from './endpoint.js';
import { drawAmongEligible, WeightedSampler } from './weighted-sampler.js';

/** Draws this many times for each of the two candidates before scanning. */
const DRAWS = 4;

/**
 * Least request by the power of two choices: draw two distinct eligible endpoints at random
 * (in proportion to their weights) and take the one with fewer requests in flight per unit
 * of weight. Cheap (O(1) a pick), and it avoids the herd that "always the least loaded"
 * causes. When both are equally loaded (e.g. both idle), the first draw wins, so an idle
 * cluster gets a weight-proportional spread.
 */
export class LeastRequestBalancer implements Balancer {
  private readonly sampler: WeightedSampler;

  constructor(
    private readonly endpoints: readonly Endpoint[],
    private readonly slowStart: number,
  ) {
    this.sampler = new WeightedSampler(endpoints);
  }

  pick(_request: unknown, _clientAddress: string, panic: boolean, exclude: readonly Endpoint[] | null): Endpoint | undefined {
    const endpoints = this.endpoints;
    if (endpoints.length === 0) return undefined;
    const a = this.drawEligible(panic, exclude, null);
    if (a === undefined) return undefined;
    const b = this.drawEligible(panic, exclude, a);
    if (b === undefined) return a;
    // Compare inFlight / weight without dividing: a.inFlight * b.weight vs b.inFlight * a.weight.
    let wa = a.weight;
    let wb = b.weight;
    if (this.slowStart > 0 && (a.warmUntil !== 0 || b.warmUntil !== 0)) {
      const now = Date.now();
      wa = a.effectiveWeight(now, this.slowStart);
      wb = b.effectiveWeight(now, this.slowStart);
    }
    return b.inFlight * wa < a.inFlight * wb ? b : a;
  }

  private drawEligible(panic: boolean, exclude: readonly Endpoint[] | null, not: Endpoint | null): Endpoint | undefined {
    const endpoints = this.endpoints;
    for (let i = 0; i < DRAWS; i++) {
      const e = endpoints[this.sampler.draw()]!;
      if (e !== not && eligible(e, panic, exclude)) return e;
    }
    if (not !== null) {
      // Linear fallback for the second candidate: the first eligible one other than `not`.
      for (let i = 0; i < endpoints.length; i++) {
        const e = endpoints[i]!;
        if (e !== not && eligible(e, panic, exclude)) return e;
      }
      return undefined;
    }
    const i = drawAmongEligible(endpoints, panic, exclude);
    return i < 0 ? undefined : endpoints[i];
  }
}

import { eligible, type Balancer } from './balancer.js';
import type { Endpoint } from './endpoint.js';
import { drawAmongEligible, WeightedSampler } from './weighted-sampler.js';

/** Draws this many times before scanning for an eligible endpoint. */
const DRAWS = 4;

/** Weighted random: each endpoint is picked with probability weight / total weight of the eligible ones. */
export class RandomBalancer implements Balancer {
  private readonly sampler: WeightedSampler;

  constructor(private readonly endpoints: readonly Endpoint[]) {
    this.sampler = new WeightedSampler(endpoints);
  }

  pick(_request: unknown, _clientAddress: string, panic: boolean, exclude: readonly Endpoint[] | null): Endpoint | undefined {
    const endpoints = this.endpoints;
    if (endpoints.length === 0) return undefined;
    for (let i = 0; i < DRAWS; i++) {
      const e = endpoints[this.sampler.draw()]!;
      if (eligible(e, panic, exclude)) return e;
    }
    const i = drawAmongEligible(endpoints, panic, exclude);
    return i < 0 ? undefined : endpoints[i];
  }
}

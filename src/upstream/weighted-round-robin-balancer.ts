import type { IncomingMessage } from 'node:http';
import type { Balancer } from './balancer.js';
import type { Endpoint } from './endpoint.js';

/**
 * Smooth weighted round robin (the nginx algorithm): each pick adds every available
 * endpoint's weight to its running score, takes the highest and subtracts the total, so
 * weights 5:1:1 give a a b a c a a rather than a a a a a b c. When all weights are equal it
 * takes an O(1) plain rotation instead.
 */
export class WeightedRoundRobinBalancer implements Balancer {
  private readonly scores: Float64Array;
  private readonly uniform: boolean;
  private next = 0;

  constructor(private readonly endpoints: readonly Endpoint[]) {
    this.scores = new Float64Array(endpoints.length);
    this.uniform = endpoints.every((e) => e.weight === endpoints[0]!.weight);
  }

  pick(_request?: IncomingMessage): Endpoint | undefined {
    const endpoints = this.endpoints;
    const n = endpoints.length;
    if (n === 0) return undefined;
    if (this.uniform) {
      for (let tried = 0; tried < n; tried++) {
        const e = endpoints[this.next]!;
        this.next = this.next + 1 === n ? 0 : this.next + 1;
        if (e.available) return e;
      }
      return undefined;
    }
    const scores = this.scores;
    let total = 0;
    let best = -1;
    for (let i = 0; i < n; i++) {
      const e = endpoints[i]!;
      if (!e.available) continue;
      scores[i]! += e.weight;
      total += e.weight;
      if (best < 0 || scores[i]! > scores[best]!) best = i;
    }
    if (best < 0) return undefined;
    scores[best]! -= total;
    return endpoints[best];
  }
}

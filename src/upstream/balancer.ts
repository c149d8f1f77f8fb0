import type { IncomingMessage } from 'node:http';
import type { Endpoint } from './endpoint.js';
import { WeightedRoundRobinBalancer } from './weighted-round-robin-balancer.js';

/**
 * Picks an endpoint for one request. A balancer is built for one immutable endpoint list and
 * replaced with it; it reads each endpoint's live `available` flag at pick time.
 */
export interface Balancer {
  /** Returns an available endpoint, or undefined when none is. */
  pick(request: IncomingMessage): Endpoint | undefined;
}

export type BalancerPolicy = 'weighted_round_robin';

export function createBalancer(policy: BalancerPolicy, endpoints: readonly Endpoint[]): Balancer {
  switch (policy) {
    case 'weighted_round_robin':
      return new WeightedRoundRobinBalancer(endpoints);
  }
}

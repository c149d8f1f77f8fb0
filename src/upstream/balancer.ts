import type { RequestHead } from '../codec/server-stream.js';
import type { ServiceConfig } from '../config/schema.js';
import { ConsistentHashBalancer } from './consistent-hash-balancer.js';
import type { Endpoint } from './endpoint.js';
import { LeastRequestBalancer } from './least-request-balancer.js';
import { RandomBalancer } from './random-balancer.js';
import { WeightedRoundRobinBalancer } from './weighted-round-robin-balancer.js';

/**
 * Picks an endpoint for one request. A balancer is built for one immutable endpoint list and
 * replaced with it; it reads each endpoint's live health at pick time (`selectable(panic)`).
 */
export interface Balancer {
  /**
   * Returns a selectable endpoint not in `exclude`, or undefined when there is none.
   * `panic`: the cluster is below its panic threshold, so unhealthy endpoints may be picked too.
   * `exclude`: endpoints already tried by this request (retries), usually null.
   * `clientAddress`: the request's resolved client address (proxy/client-address.ts).
   */
  pick(request: RequestHead, clientAddress: string, panic: boolean, exclude: readonly Endpoint[] | null): Endpoint | undefined;
}

export type BalancerPolicy = ServiceConfig['balancer'];

export function createBalancer(settings: ServiceConfig, endpoints: readonly Endpoint[]): Balancer {
  switch (settings.balancer) {
    case 'weighted_round_robin':
      return new WeightedRoundRobinBalancer(endpoints, settings.slowStart);
    case 'least_request':
      return new LeastRequestBalancer(endpoints, settings.slowStart);
    case 'random':
      return new RandomBalancer(endpoints);
    case 'consistent_hash':
      return new ConsistentHashBalancer(endpoints, settings.hashOn!);
  }
}

/** Whether a balancer may return `e` for this pick. */
export function eligible(e: Endpoint, panic: boolean, exclude: readonly Endpoint[] | null): boolean {
  return e.selectable(panic) && (exclude === null || !exclude.includes(e));
}

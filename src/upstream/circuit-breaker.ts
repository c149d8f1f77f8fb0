import type { CircuitBreakerConfig } from '../config/schema.js';
import type { ConnectionCounter, Endpoint } from './endpoint.js';

/** Which limit a refused request hit. */
export type BreakerLimit = 'requests' | 'pending' | 'connections';

/**
 * Per-service limits on what the proxy sends to a service (Envoy's circuit breakers): requests
 * in flight, requests waiting for a connection, open connections. Over a limit the request is
 * refused at once (503) instead of joining an unbounded queue. The counters are written by the
 * forwarder (requests, pending) and by pool events (connections).
 */
export class CircuitBreaker implements ConnectionCounter {
  activeRequests = 0;
  pendingRequests = 0;
  openConnections = 0;

  constructor(public limits: CircuitBreakerConfig) {}

  /** Whether one more request may start; null when it may, else the limit hit. */
  admitRequest(): BreakerLimit | null {
    return this.activeRequests >= this.limits.maxRequests ? 'requests' : null;
  }

  /**
   * Whether one more try may be dispatched to `endpoint`. The connection limit applies only
   * when the endpoint would need a new connection (no idle one): reading the pool's stats
   * allocates, so it is done only at the limit.
   */
  admitDispatch(endpoint: Endpoint): BreakerLimit | null {
    if (this.pendingRequests >= this.limits.maxPending) return 'pending';
    if (this.openConnections >= this.limits.maxConnections && endpoint.freeConnections === 0) return 'connections';
    return null;
  }
}

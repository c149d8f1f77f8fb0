import { Pool } from 'undici';
import type { ServiceConfig } from '../config/schema.js';
import type { ServiceInstance } from '../registry/service-instance.js';

/** `address:port`, with IPv6 addresses bracketed. */
export function endpointKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * One reachable instance of a service and its connection pool. The pool lives as long as the
 * instance stays in the registry, so keep-alive connections survive registry updates.
 */
export class Endpoint {
  readonly key: string;
  readonly pool: Pool;
  /** The registry's view, replaced (not mutated) on each registry update. */
  instance: ServiceInstance;
  /** Requests now being forwarded to this endpoint. */
  inFlight = 0;
  /** Set by an operator (admin API): the balancer skips the endpoint, in-flight requests finish. */
  drained = false;
  /** Operator weight replacing the registry's (admin route override), or null. */
  weightOverride: number | null = null;

  constructor(instance: ServiceInstance, settings: ServiceConfig) {
    this.instance = instance;
    this.key = endpointKey(instance.address, instance.port);
    this.pool = new Pool(`http://${this.key}`, {
      connections: settings.connections,
      pipelining: 1,
      keepAliveTimeout: settings.keepAliveTimeout,
      keepAliveMaxTimeout: Math.max(settings.keepAliveTimeout, 600_000),
      connect: { timeout: settings.connectTimeout },
    });
  }

  get weight(): number {
    return this.weightOverride ?? this.instance.weight;
  }

  /** Whether the balancer may pick this endpoint: not failing its health checks and not drained. */
  get available(): boolean {
    return this.instance.health !== 'critical' && !this.drained;
  }

  /** Closes the pool once its in-flight requests have finished. */
  async close(): Promise<void> {
    await this.pool.close();
  }
}

import type { ConnectionOptions } from 'node:tls';
import { Pool } from 'undici';
import type { ServiceConfig } from '../config/schema.js';
import type { ServiceInstance } from '../registry/service-instance.js';
import { TlsPool } from './tls-pool.js';
import { upstreamTlsOptions } from './upstream-tls.js';

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
  /** TLS options towards the instance, or null for plain HTTP. */
  readonly tls: ConnectionOptions | null;

  constructor(instance: ServiceInstance, settings: ServiceConfig) {
    this.instance = instance;
    this.key = endpointKey(instance.address, instance.port);
    this.tls = upstreamTlsOptions(instance, settings);
    const options: Pool.Options = {
      connections: settings.connections,
      pipelining: 1,
      keepAliveTimeout: settings.keepAliveTimeout,
      keepAliveMaxTimeout: Math.max(settings.keepAliveTimeout, 600_000),
      connect: { timeout: settings.connectTimeout },
    };
    this.pool =
      this.tls === null ? new Pool(`http://${this.key}`, options) : new TlsPool(`https://${this.key}`, options, this.tls, settings.connectTimeout, instance.address);
  }

  get weight(): number {
    return this.instance.weight;
  }

  /** Whether the balancer may pick this endpoint. */
  get available(): boolean {
    return this.instance.health !== 'critical';
  }

  /** Closes the pool once its in-flight requests have finished. */
  async close(): Promise<void> {
    await this.pool.close();
  }
}

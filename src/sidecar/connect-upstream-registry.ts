import type { Logger } from '../observability/logger.js';
import { BlockingWatch } from '../registry/consul/blocking-watch.js';
import type { ConsulClient } from '../registry/consul/consul-client.js';
import { healthServiceSchema } from '../registry/consul/consul-responses.js';
import { instanceFromEntry } from '../registry/consul/health-entries.js';
import type { Registry, RegistryListener, RegistryStatus } from '../registry/registry.js';
import type { RegistrySnapshot, ServiceEntry, ServiceInstance } from '../registry/service-instance.js';
import type { ConnectCertificates } from './connect-certificates.js';
import type { ConnectUpstreamTls } from './connect-upstream-tls.js';

/**
 * The egress view of the registry with Connect upstreams in it: every service of the base
 * registry as it is (plain HTTP, as before), except the Connect upstreams, whose instances are
 * their Connect endpoints, read with one blocking query each on
 * `/v1/health/connect/<service>`: the service's connect-proxy registrations (any proxy,
 * Switchyard or Envoy) and its Connect-native instances, at the proxy's address and port. The
 * instances keep the upstream's name as their service, so routes, clusters and the TLS
 * resolver (ConnectUpstreamTls) see "orders", not "orders-sidecar-proxy".
 *
 * An upstream is always present (with no instances until its first answer, so a request gets
 * a 503 rather than a 404). A new identity (leaf or roots) publishes the upstream entries as new
 * objects, so the clusters re-resolve their TLS and rebuild the pools for new connections.
 */
export class ConnectUpstreamRegistry implements Registry {
  private readonly connectEntries = new Map<string, ServiceEntry>();
  private readonly listeners = new Set<RegistryListener>();
  private readonly watches: BlockingWatch<typeof healthServiceSchema>[] = [];
  private snapshot: RegistrySnapshot = { services: new Map() };
  private unsubscribeBase: (() => void) | null = null;
  private unsubscribeCertificates: (() => void) | null = null;
  private lastError: string | null = null;
  private lastSyncAt: number | null = null;

  constructor(
    private readonly base: Registry | null,
    client: ConsulClient,
    upstreams: readonly string[],
    private readonly certificates: ConnectCertificates,
    private readonly tls: ConnectUpstreamTls,
    private readonly logger: Logger,
  ) {
    for (const name of upstreams) {
      this.connectEntries.set(name, { name, tags: [], instances: [] });
      this.watches.push(
        new BlockingWatch(client, { path: `/v1/health/connect/${encodeURIComponent(name)}`, query: [], schema: healthServiceSchema, waitMs: 300_000, minIntervalMs: 100, backoff: { initialMs: 200, maxMs: 10_000 }, nonBlockingAfterError: true }, {
          onResult: (entries) => {
            const instances: ServiceInstance[] = entries.map((e) => ({ ...instanceFromEntry(e), service: name })).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
            const previous = this.connectEntries.get(name);
            this.lastSyncAt = Date.now();
            if (previous !== undefined && JSON.stringify(previous.instances) === JSON.stringify(instances)) return;
            this.connectEntries.set(name, { name, tags: [], instances });
            this.logger.info({ upstream: name, endpoints: instances.map((i) => `${i.address}:${i.port}`) }, 'connect: upstream endpoints');
            this.publish();
          },
          onError: (error) => {
            if (this.lastError === null) this.logger.warn({ upstream: name, error: error.message }, 'connect: cannot read the upstream\'s Connect endpoints; the last known ones stay in use');
            this.lastError = error.message;
          },
          onSuccess: () => {
            this.lastError = null;
          },
          onIndexReset: () => undefined,
        }),
      );
    }
  }

  async start(): Promise<void> {
    const current = this.certificates.current;
    if (current !== null) this.tls.setIdentity(current);
    this.unsubscribeCertificates = this.certificates.onChange((identity) => {
      this.tls.setIdentity(identity);
      for (const [name, entry] of this.connectEntries) this.connectEntries.set(name, { ...entry });
      this.publish();
    });
    if (this.base !== null) {
      await this.base.start();
      this.unsubscribeBase = this.base.subscribe(() => this.publish());
    }
    for (const w of this.watches) w.start(0);
    this.publish();
  }

  current(): RegistrySnapshot {
    return this.snapshot;
  }

  subscribe(listener: RegistryListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  status(): RegistryStatus {
    if (this.base !== null) return this.base.status();
    return { source: 'consul', location: 'connect upstreams', synced: this.lastSyncAt !== null, lastSyncAt: this.lastSyncAt, lastError: this.lastError };
  }

  async close(): Promise<void> {
    this.unsubscribeBase?.();
    this.unsubscribeCertificates?.();
    await Promise.all(this.watches.map((w) => w.stop()));
    await this.base?.close();
  }

  private publish(): void {
    const services = new Map(this.base?.current().services ?? []);
    for (const [name, entry] of this.connectEntries) services.set(name, entry);
    this.snapshot = { services };
    for (const listener of this.listeners) listener(this.snapshot);
  }
}

import { DEFAULT_SERVICE, type ServiceConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { RegistrySnapshot } from '../registry/service-instance.js';
import { changedServiceNames } from '../registry/snapshot-equality.js';
import { Cluster } from './cluster.js';
import { NO_DECLARED_TLS, type InstanceTlsResolver } from './upstream-tls.js';

/**
 * Owns one Cluster per service name. Clusters are stable objects (routes hold them), while
 * their endpoint lists follow the registry and their settings follow the config.
 */
export class ClusterManager {
  private readonly clusters = new Map<string, Cluster>();
  private settings: Readonly<Record<string, ServiceConfig>> = {};
  private snapshot: RegistrySnapshot = { services: new Map() };
  private instanceTls: InstanceTlsResolver = NO_DECLARED_TLS;
  private readonly resolveInstanceTls: InstanceTlsResolver = (instance) => this.instanceTls(instance);

  constructor(private readonly logger: Logger) {}

  /** The cluster for a service, created (empty until the registry has it) on first use. */
  get(name: string): Cluster {
    let cluster = this.clusters.get(name);
    if (!cluster) {
      cluster = new Cluster(name, this.settings[name] ?? DEFAULT_SERVICE, this.logger, this.resolveInstanceTls);
      cluster.setInstances(this.snapshot.services.get(name)?.instances ?? []);
      this.clusters.set(name, cluster);
    }
    return cluster;
  }

  all(): IterableIterator<Cluster> {
    return this.clusters.values();
  }

  /** The clusters of these services that exist (none is created). */
  *existing(names: Iterable<string>): IterableIterator<Cluster> {
    for (const name of names) {
      const cluster = this.clusters.get(name);
      if (cluster !== undefined) yield cluster;
    }
  }

  /** Sets how the registry declares TLS per instance (read when endpoints are created or updated). */
  setInstanceTls(resolver: InstanceTlsResolver): void {
    this.instanceTls = resolver;
  }

  applySettings(settings: Readonly<Record<string, ServiceConfig>>): void {
    this.settings = settings;
    for (const cluster of this.clusters.values()) cluster.setSettings(settings[cluster.name] ?? DEFAULT_SERVICE);
  }

  /** Follows a new registry snapshot: only clusters whose service entry is another object are updated. */
  applySnapshot(snapshot: RegistrySnapshot): void {
    const previous = this.snapshot;
    this.snapshot = snapshot;
    for (const cluster of this.existing(changedServiceNames(previous, snapshot))) {
      cluster.setInstances(snapshot.services.get(cluster.name)?.instances ?? []);
    }
  }


  async close(): Promise<void> {
    await Promise.all([...this.clusters.values()].map((c) => c.close()));
  }
}

import type { AddressInfo } from 'node:net';
import type { Config } from '../config/schema.js';
import type { SidecarConfig } from '../config/sidecar-schema.js';
import type { Logger } from '../observability/logger.js';
import { ProxyHandler } from '../proxy/proxy-handler.js';
import { ProxyListener } from '../proxy/proxy-listener.js';
import { requestLimits } from '../proxy/proxy-context.js';
import { forwardingHeaderSettings } from '../proxy/request-headers.js';
import { NO_OBSERVER } from '../proxy/request-observer.js';
import type { ServiceInstance } from '../registry/service-instance.js';
import { buildRouteTable } from '../routing/route-table-builder.js';
import { ClusterManager } from '../upstream/cluster-manager.js';
import type { Cluster } from '../upstream/cluster.js';
import { ConcurrencyLimiter } from './concurrency-limiter.js';

/**
 * The sidecar's inbound side: a listener on the registered port → concurrency limiter →
 * the regular proxy pipeline (ProxyHandler, one catch-all route, one Cluster) whose endpoints
 * are the local app instances. Instance health comes from the sidecar's own checks: the
 * instance list is rebuilt and swapped whole when it changes.
 */
export class InboundProxy {
  private readonly clusters: ClusterManager;
  private readonly cluster: Cluster;
  readonly limiter: ConcurrencyLimiter;
  private readonly listener: ProxyListener;

  constructor(
    private readonly sidecar: SidecarConfig,
    config: Config,
    private readonly ports: readonly number[],
    logger: Logger,
  ) {
    this.clusters = new ClusterManager(logger.child({ component: 'upstream' }));
    this.clusters.applySettings(config.services);
    this.cluster = this.clusters.get(sidecar.service);
    const handler = new ProxyHandler({ logger: logger.child({ component: 'proxy', side: 'inbound' }), headers: forwardingHeaderSettings(config.proxy), limits: requestLimits(config), observer: NO_OBSERVER }, 'http');
    handler.table = buildRouteTable(
      [{ config: { name: 'inbound', match: { path: '/' }, service: sidecar.service, stripPrefix: false }, source: 'config' }],
      { timeouts: { ...config.timeouts, headers: sidecar.inbound.requestTimeout }, retries: config.retries },
      this.clusters,
    );
    this.limiter = new ConcurrencyLimiter(handler, sidecar.inbound.maxConcurrent, sidecar.inbound.queue);
    this.listener = new ProxyListener({ name: 'inbound', address: sidecar.inbound.address, port: sidecar.port, redirectToHttps: false }, config.limits, this.limiter, logger);
    this.setHealth(ports.map(() => false));
  }

  /** Replaces the app instance list with the given health view (true = routable). */
  setHealth(healthy: readonly boolean[]): void {
    const instances: ServiceInstance[] = this.ports.map((port, i) => ({
      id: `${this.sidecar.service}-app-${i}`,
      service: this.sidecar.service,
      address: '127.0.0.1',
      port,
      weight: 1,
      tags: [],
      meta: {},
      health: healthy[i] ? 'passing' : 'critical',
    }));
    this.cluster.setInstances(instances);
  }

  listen(): Promise<AddressInfo> {
    return this.listener.listen();
  }

  get address(): AddressInfo {
    return this.listener.address;
  }

  /** Stops accepting and waits for in-flight (and queued) requests, up to `graceMs`. */
  async drain(graceMs: number): Promise<void> {
    await this.listener.close(graceMs);
  }

  async close(): Promise<void> {
    await this.clusters.close();
  }
}

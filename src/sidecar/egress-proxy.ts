import type { AddressInfo } from 'node:net';
import type { Config } from '../config/schema.js';
import type { SidecarConfig } from '../config/sidecar-schema.js';
import type { Logger } from '../observability/logger.js';
import { ProxyHandler } from '../proxy/proxy-handler.js';
import { ProxyListener } from '../proxy/proxy-listener.js';
import { requestLimits } from '../proxy/proxy-context.js';
import { forwardingHeaderSettings } from '../proxy/request-headers.js';
import type { RequestObserver } from '../proxy/request-observer.js';
import type { SwitchyardMetrics } from '../observability/metrics.js';
import type { Registry } from '../registry/registry.js';
import { buildRouteTable } from '../routing/route-table-builder.js';
import { ClusterManager } from '../upstream/cluster-manager.js';
import type { InstanceTlsResolver } from '../upstream/upstream-tls.js';
import { egressRoutes } from './egress-routes.js';

/**
 * The sidecar's outbound side: a local listener (HTTP/1.1 and h2c, `egress.protocols`) through
 * which the app reaches other services by name (`/<service>/...` or `Host: <service>`), with
 * the same clusters, balancers, forwarder and HTTP/2 pools as the edge router: a service
 * reached over h2c or gRPC (services.<name>.protocol, or instance meta proto) is reached so
 * from here. Requests are recorded by the given observer under the service's name as route
 * label, and carry trace context when `tracing` is on. Routes and endpoints follow the
 * registry: each change builds a new route table off the hot path and swaps it in.
 */
export class EgressProxy {
  private readonly clusters: ClusterManager;
  private readonly handler: ProxyHandler;
  private readonly listener: ProxyListener;
  private unsubscribe: (() => void) | null = null;

  constructor(
    egress: SidecarConfig['egress'],
    private readonly config: Config,
    private readonly registry: Registry,
    logger: Logger,
    observer: RequestObserver,
    private readonly metrics: SwitchyardMetrics,
    /** TLS the registry implies per instance (the service mesh: mTLS to Connect upstreams). */
    instanceTls?: InstanceTlsResolver,
  ) {
    this.clusters = new ClusterManager(logger.child({ component: 'upstream', side: 'egress' }));
    if (instanceTls !== undefined) this.clusters.setInstanceTls(instanceTls);
    this.clusters.applySettings(config.services);
    this.handler = new ProxyHandler({ logger: logger.child({ component: 'proxy', side: 'egress' }), headers: forwardingHeaderSettings(config.proxy), limits: requestLimits(config), observer }, 'http');
    this.listener = new ProxyListener(
      { name: 'egress', address: egress.address, port: egress.port, redirectToHttps: false, protocols: egress.protocols },
      config.limits,
      this.handler,
      logger,
      null,
      config.proxy.engine.listener,
      config.proxy.engine.http2Listener,
    );
  }

  /** Open client connections (for the metrics' scrape-time gauges). */
  get openConnections(): number {
    return this.listener.openConnections;
  }

  /** Endpoint counts of every service egress knows (for the metrics' scrape-time gauges). */
  *endpoints(): Iterable<{ name: string; total: number; healthy: number; drained: number; panic: boolean }> {
    for (const cluster of this.clusters.all()) {
      let healthy = 0;
      for (const e of cluster.endpoints) if (e.healthy) healthy++;
      yield { name: cluster.name, total: cluster.endpoints.length, healthy, drained: 0, panic: cluster.panic };
    }
  }

  async start(): Promise<AddressInfo> {
    this.unsubscribe = this.registry.subscribe(() => this.apply());
    this.apply();
    return this.listener.listen();
  }

  get address(): AddressInfo {
    return this.listener.address;
  }

  async close(graceMs: number): Promise<void> {
    this.unsubscribe?.();
    await this.listener.close(graceMs);
    await this.clusters.close();
  }

  private apply(): void {
    const snapshot = this.registry.current();
    this.clusters.applySnapshot(snapshot);
    this.handler.table = buildRouteTable(egressRoutes(snapshot), { timeouts: this.config.timeouts, retries: this.config.retries, tracing: this.config.tracing }, this.clusters, this.metrics);
  }
}

import type { AddressInfo } from 'node:net';
import type { Config } from '../config/schema.js';
import type { SidecarConfig } from '../config/sidecar-schema.js';
import type { Logger } from '../observability/logger.js';
import { ProxyHandler } from '../proxy/proxy-handler.js';
import { ProxyListener } from '../proxy/proxy-listener.js';
import { requestLimits } from '../proxy/proxy-context.js';
import { forwardingHeaderSettings } from '../proxy/request-headers.js';
import { NO_OBSERVER } from '../proxy/request-observer.js';
import type { Registry } from '../registry/registry.js';
import { buildRouteTable } from '../routing/route-table-builder.js';
import { ClusterManager } from '../upstream/cluster-manager.js';
import type { InstanceTlsResolver } from '../upstream/upstream-tls.js';
import { egressRoutes } from './egress-routes.js';

/**
 * The sidecar's outbound side: a local listener through which the app reaches other services
 * by name (`/<service>/...` or `Host: <service>`), with the same clusters, balancers and
 * forwarder as the edge router. Routes and endpoints follow the registry: each change builds
 * a new route table off the hot path and swaps it in.
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
    /** TLS the registry implies per instance (the service mesh: mTLS to Connect upstreams). */
    instanceTls?: InstanceTlsResolver,
  ) {
    this.clusters = new ClusterManager(logger.child({ component: 'upstream', side: 'egress' }));
    if (instanceTls !== undefined) this.clusters.setInstanceTls(instanceTls);
    this.clusters.applySettings(config.services);
    this.handler = new ProxyHandler({ logger: logger.child({ component: 'proxy', side: 'egress' }), headers: forwardingHeaderSettings(config.proxy), limits: requestLimits(config), observer: NO_OBSERVER }, 'http');
    this.listener = new ProxyListener({ name: 'egress', address: egress.address, port: egress.port, redirectToHttps: false }, config.limits, this.handler, logger);
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
    this.handler.table = buildRouteTable(egressRoutes(snapshot), { timeouts: this.config.timeouts, retries: this.config.retries }, this.clusters);
  }
}

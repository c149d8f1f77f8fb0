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

/**
 * One local listener per Connect upstream (`connect.upstreams[].localBindPort`), as Consul
 * registers them: the app sends plain HTTP to 127.0.0.1:<localBindPort> and every request goes
 * to that service's Connect endpoints over mTLS (the same clusters, balancers and forwarder as
 * the egress listener, with the Connect TLS resolver). Paths and Host pass unchanged.
 */
export class ConnectUpstreamListeners {
  private readonly clusters: ClusterManager;
  private readonly listeners: { service: string; listener: ProxyListener }[] = [];
  private unsubscribe: (() => void) | null = null;

  constructor(
    upstreams: SidecarConfig['connect']['upstreams'],
    config: Config,
    private readonly registry: Registry,
    tls: InstanceTlsResolver,
    logger: Logger,
  ) {
    this.clusters = new ClusterManager(logger.child({ component: 'upstream', side: 'connect-upstream' }));
    this.clusters.setInstanceTls(tls);
    this.clusters.applySettings(config.services);
    for (const u of upstreams) {
      const handler = new ProxyHandler({ logger: logger.child({ component: 'proxy', side: 'connect-upstream', upstream: u.service }), headers: forwardingHeaderSettings(config.proxy), limits: requestLimits(config), observer: NO_OBSERVER }, 'http');
      handler.table = buildRouteTable(
        [{ config: { name: `connect-upstream:${u.service}`, match: { path: '/' }, service: u.service, stripPrefix: false }, source: 'config' }],
        { timeouts: config.timeouts, retries: config.retries },
        this.clusters,
      );
      this.listeners.push({ service: u.service, listener: new ProxyListener({ name: `upstream:${u.service}`, address: u.localBindAddress, port: u.localBindPort, redirectToHttps: false }, config.limits, handler, logger) });
    }
  }

  async start(): Promise<Map<string, AddressInfo>> {
    this.unsubscribe = this.registry.subscribe((snapshot) => this.clusters.applySnapshot(snapshot));
    this.clusters.applySnapshot(this.registry.current());
    const addresses = new Map<string, AddressInfo>();
    for (const { service, listener } of this.listeners) addresses.set(service, await listener.listen());
    return addresses;
  }

  /** Where the app reaches each upstream. */
  addresses(): Map<string, AddressInfo> {
    return new Map(this.listeners.map(({ service, listener }) => [service, listener.address]));
  }

  async close(graceMs: number): Promise<void> {
    this.unsubscribe?.();
    await Promise.all(this.listeners.map(({ listener }) => (listener.server.listening ? listener.close(graceMs) : Promise.resolve())));
    await this.clusters.close();
  }
}

import type { AddressInfo } from 'node:net';
import type { Config } from '../config/schema.js';
import type { SidecarConfig } from '../config/sidecar-schema.js';
import type { Logger } from '../observability/logger.js';
import { ProxyHandler } from '../proxy/proxy-handler.js';
import { ProxyListener } from '../proxy/proxy-listener.js';
import { requestLimits } from '../proxy/proxy-context.js';
import { forwardingHeaderSettings } from '../proxy/request-headers.js';
import type { CertificateStore } from '../proxy/certificate-store.js';
import type { RequestObserver } from '../proxy/request-observer.js';
import type { SwitchyardMetrics } from '../observability/metrics.js';
import type { ServiceInstance } from '../registry/service-instance.js';
import { buildRouteTable } from '../routing/route-table-builder.js';
import { ClusterManager } from '../upstream/cluster-manager.js';
import type { Cluster } from '../upstream/cluster.js';
import { ConcurrencyLimiter } from './concurrency-limiter.js';

/** Instance meta that makes the cluster reach the app over cleartext HTTP/2 (upstream-protocol.ts). */
const APP_META: Readonly<Record<SidecarConfig['app']['protocol'], Record<string, string>>> = { http1: {}, h2c: { proto: 'h2c' }, grpc: { proto: 'grpc' } };

/**
 * The sidecar's inbound side: a listener on the registered port (HTTP/1.1, h2c, TLS with h2,
 * as a router listener: `inbound.protocols`, `inbound.tls`) → concurrency limiter → the
 * regular proxy pipeline (ProxyHandler, one catch-all route named `inbound`, one Cluster)
 * whose endpoints are the local app instances, reached in `app.protocol` (HTTP/1.1, or HTTP/2
 * through the router's HTTP/2 pool, gRPC included) whatever the client spoke. Requests are
 * recorded by the given observer (metrics, access log) and carry trace context when
 * `tracing` is on. Instance health comes from the sidecar's own checks: the instance list is
 * rebuilt and swapped whole when it changes.
 */
export class InboundProxy {
  private readonly clusters: ClusterManager;
  private readonly cluster: Cluster;
  readonly limiter: ConcurrencyLimiter;
  private readonly listener: ProxyListener;
  /** Meta of every app instance: how the cluster reaches it (HTTP/1.1, or h2c/gRPC). */
  private readonly appMeta: Record<string, string>;

  constructor(
    private readonly sidecar: SidecarConfig,
    config: Config,
    private readonly ports: readonly number[],
    logger: Logger,
    observer: RequestObserver,
    metrics: SwitchyardMetrics,
    certificates: CertificateStore | null,
  ) {
    this.clusters = new ClusterManager(logger.child({ component: 'upstream' }));
    this.clusters.applySettings(config.services);
    this.cluster = this.clusters.get(sidecar.service);
    this.appMeta = APP_META[sidecar.app.protocol];
    const handler = new ProxyHandler({ logger: logger.child({ component: 'proxy', side: 'inbound' }), headers: forwardingHeaderSettings(config.proxy), limits: requestLimits(config), observer }, 'http');
    handler.table = buildRouteTable(
      [{ config: { name: 'inbound', match: { path: '/' }, service: sidecar.service, stripPrefix: false }, source: 'config' }],
      { timeouts: { ...config.timeouts, headers: sidecar.inbound.requestTimeout }, retries: config.retries, tracing: config.tracing },
      this.clusters,
      metrics,
    );
    this.limiter = new ConcurrencyLimiter(handler, sidecar.inbound.maxConcurrent, sidecar.inbound.queue);
    const inbound = sidecar.inbound;
    this.listener = new ProxyListener(
      { name: 'inbound', address: inbound.address, port: sidecar.port, redirectToHttps: false, ...(inbound.protocols !== undefined ? { protocols: inbound.protocols } : {}) },
      config.limits,
      this.limiter,
      logger,
      certificates,
      config.proxy.engine.listener,
      config.proxy.engine.http2Listener,
    );
    this.setHealth(ports.map(() => false));
  }

  /** The protocols the inbound port serves. */
  get protocols(): readonly string[] {
    return this.listener.protocols;
  }

  /** Open client connections (for the metrics' scrape-time gauges). */
  get openConnections(): number {
    return this.listener.openConnections;
  }

  /** The app instances as the balancer sees them (for the metrics' scrape-time gauges). */
  get endpoints(): { name: string; total: number; healthy: number; drained: number; panic: boolean } {
    let healthy = 0;
    for (const e of this.cluster.endpoints) if (e.healthy) healthy++;
    return { name: this.cluster.name, total: this.cluster.endpoints.length, healthy, drained: 0, panic: this.cluster.panic };
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
      meta: this.appMeta,
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

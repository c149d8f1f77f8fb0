import type { RequestHead } from '../codec/server-stream.js';
import type { ServiceConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { ServiceInstance } from '../registry/service-instance.js';
import { createBalancer, type Balancer } from './balancer.js';
import { CircuitBreaker } from './circuit-breaker.js';
import { ClusterStats } from './cluster-stats.js';
import { Endpoint, endpointKey } from './endpoint.js';
import { HealthChecker } from './health-checker.js';
import { OutlierDetector } from './outlier-detector.js';
import { RetryBudget } from './retry-budget.js';
import { upstreamProtocol } from './upstream-protocol.js';
import { NO_DECLARED_TLS, upstreamTlsOptions, type InstanceTlsResolver } from './upstream-tls.js';

/**
 * All endpoints of one service and the balancer over them. The endpoint list and its balancer
 * are replaced together (one reference) when the registry or the settings change.
 *
 * Health: each endpoint combines its health sources (registry, active check, outlier
 * ejection, drain) into one `healthy` flag; the cluster listens for changes and keeps `panic`
 * up to date: below `panicThreshold`% healthy endpoints, the balancer picks over every
 * endpoint that is not drained, rather than pile the whole load on the few healthy ones.
 */
export class Cluster {
  private endpointList: readonly Endpoint[] = [];
  private balancer: Balancer;
  private settingsValue: ServiceConfig;
  private healthChecker: HealthChecker | null = null;
  /** Below the panic threshold: balancers ignore health (but not drain). Read on every pick. */
  panic = false;
  readonly stats = new ClusterStats();
  readonly breaker: CircuitBreaker;
  readonly retryBudget: RetryBudget;
  readonly outlier: OutlierDetector;
  private readonly onEndpointHealth = (): void => this.updatePanic();

  constructor(
    readonly name: string,
    settings: ServiceConfig,
    private readonly logger: Logger,
    /** TLS the registry declares per instance (route tags with proto=https). */
    private readonly instanceTls: InstanceTlsResolver = NO_DECLARED_TLS,
  ) {
    this.settingsValue = settings;
    this.breaker = new CircuitBreaker(settings.circuitBreaker);
    this.retryBudget = new RetryBudget(settings.retryBudget);
    this.outlier = new OutlierDetector(this, settings.outlierDetection, logger);
    this.balancer = createBalancer(settings, this.endpointList);
    this.configureHealthChecks();
  }

  get settings(): ServiceConfig {
    return this.settingsValue;
  }

  get endpoints(): readonly Endpoint[] {
    return this.endpointList;
  }

  pick(request: RequestHead, clientAddress: string): Endpoint | undefined {
    if (this.panic) this.stats.panicPicks++;
    return this.balancer.pick(request, clientAddress, this.panic, null);
  }

  /** For a retry: an endpoint not yet tried if there is one, else any selectable endpoint. */
  pickAnother(request: RequestHead, clientAddress: string, tried: readonly Endpoint[]): Endpoint | undefined {
    return this.balancer.pick(request, clientAddress, this.panic, tried) ?? this.balancer.pick(request, clientAddress, this.panic, null);
  }


  /** Replaces the instance list, reusing the pools of endpoints that stay. */
  setInstances(instances: readonly ServiceInstance[]): void {
    const existing = new Map(this.endpointList.map((e) => [e.key, e]));
    const wasEmpty = this.endpointList.length === 0;
    const next: Endpoint[] = [];
    for (const instance of instances) {
      const key = endpointKey(instance.address, instance.port);
      const kept = existing.get(key);
      if (kept && (upstreamTlsOptions(instance, this.settingsValue, this.instanceTls(instance)) !== kept.tls || upstreamProtocol(instance, this.settingsValue) !== kept.protocol)) {
        // Same address, other protocol (http <-> https, other TLS settings, HTTP/1.1 <-> HTTP/2):
        // a new pool; the old one stays in `existing` and closes after the swap.
        const endpoint = this.newEndpoint(instance, this.settingsValue);
        endpoint.drained = kept.drained;
        next.push(endpoint);
      } else if (kept) {
        kept.instance = instance;
        existing.delete(key);
        next.push(kept);
      } else {
        const endpoint = this.newEndpoint(instance, this.settingsValue);
        if (!wasEmpty && this.settingsValue.slowStart > 0) endpoint.warmUntil = Date.now() + this.settingsValue.slowStart;
        next.push(endpoint);
      }
    }
    this.swap(next);
    this.closeAll(existing.values());
  }

  /** Applies new service settings; pools are rebuilt when connection settings changed. */
  setSettings(settings: ServiceConfig): void {
    const old = this.settingsValue;
    this.settingsValue = settings;
    this.breaker.limits = settings.circuitBreaker;
    this.retryBudget.settings = settings.retryBudget;
    this.outlier.settings = settings.outlierDetection;
    if (!settings.outlierDetection.enabled) this.outlier.clear();
    const poolChanged =
      old.connections !== settings.connections ||
      old.connectTimeout !== settings.connectTimeout ||
      old.keepAliveTimeout !== settings.keepAliveTimeout ||
      old.protocol !== settings.protocol ||
      old.maxConcurrentStreams !== settings.maxConcurrentStreams ||
      old.http2Client !== settings.http2Client ||
      JSON.stringify(old.tls) !== JSON.stringify(settings.tls);
    if (poolChanged) {
      const previous = this.endpointList;
      this.swap(previous.map((e) => this.rebuiltEndpoint(e, settings)));
      this.closeAll(previous);
    } else if (old.balancer !== settings.balancer || old.slowStart !== settings.slowStart || JSON.stringify(old.hashOn) !== JSON.stringify(settings.hashOn)) {
      this.swap(this.endpointList);
    } else if (old.panicThreshold !== settings.panicThreshold) {
      this.updatePanic();
    }
    if (JSON.stringify(old.healthCheck) !== JSON.stringify(settings.healthCheck) || old.http2Client !== settings.http2Client) this.configureHealthChecks();
  }

  /** Rebuilds the balancer over the same endpoints (after their weights changed). */
  refreshBalancer(): void {
    this.swap(this.endpointList);
  }

  async close(): Promise<void> {
    this.healthChecker?.stop();
    this.healthChecker = null;
    const list = this.endpointList;
    this.swap([]);
    await Promise.all(list.map((e) => e.close()));
  }

  private newEndpoint(instance: ServiceInstance, settings: ServiceConfig): Endpoint {
    const endpoint = new Endpoint(instance, settings, this.breaker, this.instanceTls(instance));
    endpoint.onHealthChange(this.onEndpointHealth);
    return endpoint;
  }

  /** A new endpoint (new pool) for the same instance, keeping an operator's drain. */
  private rebuiltEndpoint(previous: Endpoint, settings: ServiceConfig): Endpoint {
    const endpoint = this.newEndpoint(previous.instance, settings);
    endpoint.drained = previous.drained;
    return endpoint;
  }

  private configureHealthChecks(): void {
    this.healthChecker?.stop();
    this.healthChecker = null;
    const hc = this.settingsValue.healthCheck;
    if (hc === undefined) return;
    this.healthChecker = new HealthChecker(this.name, hc, this.stats, this.logger, this.settingsValue.http2Client);
    this.healthChecker.sync(this.endpointList);
  }

  private swap(endpoints: readonly Endpoint[]): void {
    const balancer = createBalancer(this.settingsValue, endpoints);
    this.endpointList = endpoints;
    this.balancer = balancer;
    this.healthChecker?.sync(endpoints);
    this.updatePanic();
  }

  /** Recomputes panic mode from the endpoints' health; runs when health or the list changes, never per request. */
  private updatePanic(): void {
    let routable = 0;
    let healthy = 0;
    for (const e of this.endpointList) {
      if (e.routable) routable++;
      if (e.healthy) healthy++;
    }
    const panic = routable > 0 && healthy * 100 < routable * this.settingsValue.panicThreshold;
    if (panic === this.panic) return;
    this.panic = panic;
    if (panic) {
      this.stats.panicEntered++;
      this.logger.warn({ service: this.name, healthy, endpoints: routable, panicThreshold: this.settingsValue.panicThreshold }, 'panic mode: too few healthy endpoints, balancing over all of them');
    } else {
      this.logger.info({ service: this.name, healthy, endpoints: routable }, 'panic mode over: balancing over healthy endpoints again');
    }
  }

  private closeAll(endpoints: Iterable<Endpoint>): void {
    for (const e of endpoints) {
      e.close().catch((err: unknown) => this.logger.warn({ err, service: this.name, endpoint: e.key }, 'closing an endpoint pool failed'));
    }
  }
}

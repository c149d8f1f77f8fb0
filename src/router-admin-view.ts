import type { AdminView, EndpointView, ListenerView, ReadinessView, ReloadResult, RouteView, ServiceView, StatusView } from './admin/admin-view.js';
import { OverrideRejected } from './admin/admin-view.js';
import { formatPath } from './config/config-error.js';
import { redactConfig, redactHeaderMap, redactOverrides } from './config/secret-redactor.js';
import { SWITCHYARD_VERSION } from './observability/build-info.js';
import type { Switchyard } from './main.js';
import { routeOverrideSchema } from './routing/route-overrides.js';
import type { RawTrafficView, TrafficView } from './admin/traffic-history.js';
import { endpointKey, HealthFlag, healthFlagNames, type Endpoint } from './upstream/endpoint.js';

/** The admin API's view of a running Switchyard: JSON shapes built on request, off the proxy path. */
export class RouterAdminView implements AdminView {
  constructor(private readonly app: Switchyard) {}

  ready(): boolean {
    return this.app.ready;
  }

  status(): StatusView {
    return {
      version: SWITCHYARD_VERSION,
      startedAt: this.app.startedAt.toISOString(),
      configFile: this.app.configFile,
      pid: process.pid,
      ready: this.app.ready,
      notReadyReason: this.app.notReadyReason,
      readinessFailed: this.app.readinessFailedByOperator,
      reload: this.app.lastReload,
      operatorState: this.app.operatorStateStatus,
      listeners: this.app.proxyListeners.map(
        (l): ListenerView => ({
          name: l.name,
          address: l.address.address,
          port: l.address.port,
          tls: l.secure,
          protocols: [...l.protocols],
          connections: l.openConnections,
          http2Connections: l.http2Sessions,
        }),
      ),
    };
  }

  setReadinessFailed(failed: boolean): ReadinessView {
    this.app.setReadinessFailed(failed);
    return { ready: this.app.ready, readinessFailed: this.app.readinessFailedByOperator, notReadyReason: this.app.notReadyReason };
  }

  routes(): RouteView[] {
    return this.app.routeTable.routes.map((r) => {
      const split = r.split;
      const backends =
        split === null
          ? null
          : split.backends.map((b) => ({ service: b.route.cluster.name, weight: b.weight, percent: split.percentOf(b.weight), requests: b.route.metrics.requestCount }));
      return {
        name: r.name,
        source: r.source,
        host: r.host ?? null,
        path: r.prefix,
        methods: r.methods ? [...r.methods] : null,
        headers: redactHeaderMap(Object.fromEntries(r.headers)),
        service: backends === null ? r.cluster.name : backends.map((b) => `${b.service} ${b.percent}%`).join(' | '),
        backends,
        rateLimit: r.filters?.rateLimit?.view() ?? null,
        rewritePrefix: r.rewritePrefix,
        hostRewrite: r.hostRewrite,
        timeouts: { headers: r.timeouts.headers, bodyIdle: r.timeouts.bodyIdle },
        requests: backends === null ? r.metrics.requestCount : backends.reduce((sum, b) => sum + b.requests, 0),
      };
    });
  }

  services(): ServiceView[] {
    const source = this.app.registryStatus.source;
    const out = new Map<string, ServiceView>();
    for (const cluster of this.app.clusters.all()) {
      const endpoints = cluster.endpoints.map((e) => endpointView(cluster.name, e, source));
      out.set(cluster.name, {
        name: cluster.name,
        routed: true,
        balancer: cluster.settings.balancer,
        total: endpoints.length,
        healthy: endpoints.filter((e) => e.available).length,
        endpoints,
      });
    }
    for (const [name, entry] of this.app.registrySnapshot.services) {
      if (out.has(name)) continue;
      const endpoints: EndpointView[] = entry.instances.map((i) => {
        const key = endpointKey(i.address, i.port);
        const drained = this.app.isDrained(name, key);
        return {
          service: name,
          endpoint: key,
          id: i.id,
          address: i.address,
          port: i.port,
          health: i.health,
          drained,
          available: i.health !== 'critical' && !drained,
          failing: [...(i.health === 'critical' ? ['registry'] : []), ...(drained ? ['drain'] : [])],
          inFlight: 0,
          requests: 0,
          errors: 0,
          ejected: false,
          healthCheck: null,
          changedAt: { registry: null, activeCheck: null, outlier: null, drain: null },
          weight: i.weight,
          registryWeight: i.weight,
          tags: [...i.tags],
          source,
        };
      });
      out.set(name, { name, routed: false, balancer: null, total: endpoints.length, healthy: endpoints.filter((e) => e.available).length, endpoints });
    }
    return [...out.values()].sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  config(): unknown {
    return redactConfig(this.app.currentConfig);
  }

  registry(): unknown {
    const st = this.app.registryStatus;
    const view = st.persistedView;
    return {
      ...st,
      lastSyncAt: st.lastSyncAt === null ? null : new Date(st.lastSyncAt).toISOString(),
      ...(view === undefined ? {} : { persistedView: { ...view, savedAt: view.savedAt === null ? null : new Date(view.savedAt).toISOString() } }),
      services: this.app.registrySnapshot.services.size,
    };
  }

  traffic(): TrafficView {
    return this.app.traffic.view();
  }

  rawTraffic(): RawTrafficView {
    return this.app.traffic.rawView();
  }

  metrics(): Promise<{ contentType: string; body: string }> {
    return this.app.metrics.scrape();
  }

  async reload(): Promise<ReloadResult> {
    try {
      await this.app.reload();
      return { ok: true };
    } catch (err) {
      // reload() logged it and recorded it in lastReload and the reload metrics.
      return { ok: false, error: (err as Error).message };
    }
  }

  async setDrained(endpoint: string, service: string | undefined, drained: boolean): Promise<{ endpoints: EndpointView[]; forgotten: number }> {
    const source = this.app.registryStatus.source;
    const r = await this.app.setDrained(endpoint, service, drained);
    return { endpoints: r.matched.map((e) => endpointView(e.instance.service, e, source)), forgotten: r.forgotten.length };
  }

  overrides(): unknown[] {
    return redactOverrides([...this.app.overrides]);
  }

  async addOverride(input: unknown): Promise<unknown> {
    const parsed = routeOverrideSchema.safeParse(input);
    if (!parsed.success) {
      throw new OverrideRejected(parsed.error.issues.map((i) => `${formatPath(i.path) || '(body)'}: ${i.message}`).join('; '));
    }
    return redactOverrides([await this.app.addOverride(parsed.data)])[0];
  }

  removeOverride(id: number): Promise<boolean> {
    return this.app.removeOverride(id);
  }

  clearOverrides(): Promise<void> {
    return this.app.clearOverrides();
  }
}

function endpointView(service: string, e: Endpoint, source: string): EndpointView {
  const i = e.instance;
  return {
    service,
    endpoint: e.key,
    id: i.id,
    address: i.address,
    port: i.port,
    health: i.health,
    drained: e.drained,
    available: e.healthy,
    failing: healthFlagNames(e.healthFlags),
    inFlight: e.inFlight,
    requests: e.tries,
    errors: e.outlier.failures,
    ejected: e.outlier.ejected,
    healthCheck: e.lastHealthCheck === null ? null : { ok: e.lastHealthCheck.ok, detail: e.lastHealthCheck.detail, at: iso(e.lastHealthCheck.at) },
    changedAt: {
      registry: isoOrNull(e.flagChangedAt(HealthFlag.registry)),
      activeCheck: isoOrNull(e.flagChangedAt(HealthFlag.activeCheck)),
      outlier: isoOrNull(e.flagChangedAt(HealthFlag.outlier)),
      drain: isoOrNull(e.flagChangedAt(HealthFlag.drain)),
    },
    weight: e.weight,
    registryWeight: i.weight,
    tags: [...i.tags],
    source,
  };
}

function iso(ms: number): string {
  return new Date(ms).toISOString();
}

function isoOrNull(ms: number | null): string | null {
  return ms === null ? null : iso(ms);
}

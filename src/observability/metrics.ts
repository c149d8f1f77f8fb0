import { SWITCHYARD_VERSION } from './build-info.js';
import { collectDefaultMetrics, Counter, Gauge, Registry } from 'prom-client';
import { PreparedCounter, PreparedHistogram, type CounterChild } from './prepared-metrics.js';
import { RouteMetrics, type RequestMetricFamilies } from './route-metrics.js';
import { ServiceMetrics, type UpstreamMetricFamilies } from './service-metrics.js';
import { TUNNEL_DURATION_BUCKETS, type UpgradeMetricFamilies } from './upgrade-metrics.js';

/** What the metrics read from the running router at scrape time (never on the request path). */
export interface MetricsSources {
  /** Endpoint counts of each service the router knows. */
  services(): Iterable<{ name: string; total: number; healthy: number; drained: number; panic: boolean }>;
  /** Open client connections per proxy listener. */
  clientConnections(): Iterable<{ listener: string; open: number }>;
  /**
   * The registry source's state. `staleSince` (epoch ms, or null while in sync) is given by
   * sources that watch (Consul); undefined for sources that cannot go stale.
   */
  registry(): { synced: boolean; lastSyncAt: number | null; syncErrors: number; staleSince?: number | null; consul?: ConsulReadMetrics; servingPersistedView?: boolean | undefined };
}

/** The Consul read path, for Consul registry sources only. */
export interface ConsulReadMetrics {
  knownLeader: boolean | null;
  lastContactMs: number | null;
  staleRetries: number;
  requests: number;
  bytes: number;
}

const NO_SOURCES: MetricsSources = {
  services: () => [],
  clientConnections: () => [],
  registry: () => ({ synced: false, lastSyncAt: null, syncErrors: 0, staleSince: undefined }),
};

/** Request and attempt latencies: 1 ms to 30 s (upper bounds in seconds; +Inf follows). */
export const LATENCY_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** One route's request totals since start, summed over methods, status classes and services. */
export interface RouteTotals {
  requests: number;
  /** Requests answered 5xx (by the upstream or by the proxy itself). */
  errors: number;
  /** Request durations: count per LATENCY_BUCKETS bound, then +Inf; cumulative, as Prometheus exports them. */
  buckets: number[];
}

export interface MetricsOptions {
  /** Also export prom-client's Node process metrics (CPU, memory, event loop, GC). */
  processMetrics?: boolean;
}

/**
 * Gauges carry a cluster-mode `aggregator` (how the primary merges workers' values for
 * /metrics; counters and histograms are summed): per-process facts such as endpoint counts
 * take the max or min across workers instead of the sum.
 *
 * Every Switchyard metric, in a registry of its own (never prom-client's global one, so two
 * routers in one process do not mix). Names follow the Prometheus conventions: `switchyard_`
 * prefix, base units (`_seconds`, `_bytes`), `_total` for counters. docs/observability.md "Metrics" lists them.
 *
 * Per-route and per-service children are prepared off the hot path (`route()`, `service()`)
 * and cached by name, so rebuilding the route table reuses them.
 */
/** Metrics of the shared rate limit store (filters/redis-rate-limit-store.ts). */
export interface RateLimitStoreMetrics {
  readonly granted: CounterChild;
  readonly empty: CounterChild;
  readonly timeout: CounterChild;
  readonly unavailable: CounterChild;
  readonly error: CounterChild;
  setUp(up: boolean): void;
}

export class SwitchyardMetrics {
  readonly registry = new Registry();
  private sources: MetricsSources = NO_SOURCES;
  private readonly requestFamilies: RequestMetricFamilies;
  private readonly upstreamFamilies: UpstreamMetricFamilies;
  private readonly upgradeFamilies: UpgradeMetricFamilies;
  private readonly routes = new Map<string, RouteMetrics>();
  private readonly services = new Map<string, ServiceMetrics>();
  private readonly proxyErrors: Counter<'code'>;
  private readonly rateLimitRequests: PreparedCounter;
  private readonly traceSpanCounter: PreparedCounter;
  private readonly rateLimitStoreCalls: PreparedCounter;
  private readonly rateLimitStoreUp: Gauge;
  private readonly proxyErrorChildren = new Map<string, Counter.Internal>();
  private readonly reloads: Counter<'result'>;
  private readonly droppedLogLines: Counter;
  private readonly lastReloadSuccess: Gauge;
  private readonly lastReloadSuccessful: Gauge;

  constructor(options: MetricsOptions = {}) {
    const registers = [this.registry];
    const requestLabels = ['route', 'service', 'method', 'status_class'] as const;
    this.requestFamilies = {
      requests: new PreparedCounter('switchyard_requests_total', 'Proxied requests by route, service, method and response status class.', requestLabels, this.registry),
      duration: new PreparedHistogram(
        'switchyard_request_duration_seconds',
        'Time from request arrival to the end of the response, by route, service, method and status class.',
        requestLabels,
        LATENCY_BUCKETS,
        this.registry,
      ),
      requestBytes: new PreparedCounter('switchyard_request_body_bytes_total', 'Request body bytes (Content-Length) forwarded, by route and service.', ['route', 'service'], this.registry),
      responseBytes: new PreparedCounter('switchyard_response_body_bytes_total', 'Response body bytes sent to clients, by route and service.', ['route', 'service'], this.registry),
      grpcResponses: new PreparedCounter(
        'switchyard_grpc_responses_total',
        'gRPC requests by route, service and the gRPC status the client got (grpc_status: OK, CANCELLED, UNAVAILABLE, ...), from the upstream or from the proxy.',
        ['route', 'service', 'grpc_status'],
        this.registry,
      ),
    };
    this.upstreamFamilies = {
      attemptDuration: new PreparedHistogram('switchyard_upstream_attempt_duration_seconds', 'Duration of each attempt against an upstream endpoint, by service and outcome.', ['service', 'outcome'], LATENCY_BUCKETS, this.registry),
      connectErrors: new PreparedCounter('switchyard_upstream_connect_errors_total', 'Attempts that could not connect to the upstream endpoint.', ['service'], this.registry),
      timeouts: new PreparedCounter('switchyard_upstream_timeouts_total', 'Attempts that timed out (connect, headers or body idle).', ['service'], this.registry),
      retries: new PreparedCounter('switchyard_upstream_retries_total', 'Requests sent again to another endpoint after a failed attempt.', ['service'], this.registry),
      ejections: new PreparedCounter('switchyard_upstream_ejections_total', 'Endpoints ejected by outlier detection.', ['service'], this.registry),
      breakerRejections: new PreparedCounter('switchyard_upstream_breaker_rejections_total', 'Requests refused by an open circuit breaker.', ['service'], this.registry),
      retryBudgetExhausted: new PreparedCounter('switchyard_upstream_retry_budget_exhausted_total', "Retries not made because the service's retry budget was spent.", ['service'], this.registry),
    };
    // Every known service's upstream counters are exported from the start, at 0 until they count
    // (not "", the pseudo-service of unrouted requests, which never reach an upstream).
    const knownServices = () => this.knownServiceNames();
    for (const family of [this.upstreamFamilies.connectErrors, this.upstreamFamilies.timeouts, this.upstreamFamilies.retries, this.upstreamFamilies.ejections, this.upstreamFamilies.breakerRejections, this.upstreamFamilies.retryBudgetExhausted]) {
      family.exportZeroFor(knownServices);
    }
    const routeLabels = ['route', 'service'] as const;
    this.upgradeFamilies = {
      opened: new PreparedCounter('switchyard_upgrades_opened_total', 'Upgraded connections (tunnels) opened: the upstream answered 101 with the handshake the client asked for.', routeLabels, this.registry),
      closed: new PreparedCounter('switchyard_upgrades_closed_total', 'Tunnels closed (either side).', routeLabels, this.registry),
      refused: new PreparedCounter('switchyard_upgrades_refused_total', 'Upgrade requests that did not become a tunnel, by reason (upstream_refused, bad_handshake, upstream_failed, breaker, limit, client_closed).', ['route', 'service', 'reason'], this.registry),
      active: new Gauge({ name: 'switchyard_upgrades_active', help: 'Tunnels open now.', labelNames: routeLabels, registers }),
      duration: new PreparedHistogram('switchyard_upgrade_duration_seconds', 'Lifetime of each tunnel, from the 101 to the close.', routeLabels, TUNNEL_DURATION_BUCKETS, this.registry),
      bytes: new PreparedCounter('switchyard_upgrade_bytes_total', 'Bytes carried by tunnels after the handshake, by direction (client_to_upstream, upstream_to_client).', ['route', 'service', 'direction'], this.registry),
    };
    this.rateLimitRequests = new PreparedCounter(
      'switchyard_rate_limit_requests_total',
      'Requests checked by a route rate limit, by result (allowed, limited: answered 429).',
      ['route', 'result'],
      this.registry,
    );
    this.rateLimitStoreCalls = new PreparedCounter(
      'switchyard_rate_limit_store_calls_total',
      'Token reservations asked of the shared rate limit store (rateLimitRedis), by result: granted, empty (no token left), timeout (no answer within commandTimeout), unavailable (not connected), error.',
      ['result'],
      this.registry,
    );
    this.rateLimitStoreUp = new Gauge({
      name: 'switchyard_rate_limit_store_up',
      help: '1 while the shared rate limit store (rateLimitRedis, by address) answers, 0 during an outage (routes then answer by rateLimit.onStoreFailure). Absent without rateLimitRedis.',
      labelNames: ['address'],
      registers,
    });
    this.traceSpanCounter = new PreparedCounter(
      'switchyard_trace_spans_total',
      'Server spans handed to the OTLP exporter (tracing.otlp), by result (exported, dropped: queue full or export failed).',
      ['result'],
      this.registry,
    );
    this.proxyErrors = new Counter({ name: 'switchyard_proxy_errors_total', help: 'Responses produced by the proxy itself, by error code (x-switchyard-error).', labelNames: ['code'], registers });

    const metrics = this;
    new Gauge({
      name: 'switchyard_service_endpoints',
      help: 'Endpoints of each service known from the registry.',
      labelNames: ['service'],
      registers,
      aggregator: 'max',
      collect() {
        this.reset();
        for (const s of metrics.sources.services()) this.labels(s.name).set(s.total);
      },
    });
    new Gauge({
      name: 'switchyard_service_endpoints_healthy',
      help: 'Endpoints of each service the balancer may pick (healthy and not drained).',
      labelNames: ['service'],
      registers,
      aggregator: 'min',
      collect() {
        this.reset();
        for (const s of metrics.sources.services()) this.labels(s.name).set(s.healthy);
      },
    });
    new Gauge({
      name: 'switchyard_service_endpoints_drained',
      help: 'Endpoints drained through the admin API.',
      labelNames: ['service'],
      registers,
      aggregator: 'max',
      collect() {
        this.reset();
        for (const s of metrics.sources.services()) this.labels(s.name).set(s.drained);
      },
    });
    new Gauge({
      name: 'switchyard_service_panic',
      help: '1 while the service is below its panic threshold and balances over all routable endpoints, healthy or not.',
      labelNames: ['service'],
      registers,
      aggregator: 'max',
      collect() {
        this.reset();
        for (const s of metrics.sources.services()) this.labels(s.name).set(s.panic ? 1 : 0);
      },
    });
    new Gauge({
      name: 'switchyard_client_connections_open',
      help: 'Open client connections, by proxy listener.',
      labelNames: ['listener'],
      registers,
      collect() {
        this.reset();
        for (const l of metrics.sources.clientConnections()) this.labels(l.listener).set(l.open);
      },
    });
    new Gauge({
      name: 'switchyard_registry_synced',
      help: '1 once the registry source has delivered a first good snapshot.',
      registers,
      aggregator: 'min',
      collect() {
        this.set(metrics.sources.registry().synced ? 1 : 0);
      },
    });
    new Gauge({
      name: 'switchyard_registry_sync_age_seconds',
      help: 'Seconds since the registry data was last known current (absent before the first sync; 0 while a watching registry such as Consul is in sync).',
      registers,
      aggregator: 'max',
      collect() {
        this.reset();
        const { lastSyncAt, staleSince } = metrics.sources.registry();
        if (lastSyncAt === null) return;
        // A watching source in sync holds live blocking queries: its data is current now, even
        // though its last answer may be minutes old (an idle watch answers once per `wait`).
        this.set(staleSince === null ? 0 : Math.max(0, Date.now() - lastSyncAt) / 1000);
      },
    });
    new Gauge({
      name: 'switchyard_registry_persisted_view',
      help: '1 while routing serves from the registry view persisted by an earlier run (registry.persistView; the registry not reached since start): the data is stale. 0 otherwise.',
      registers,
      aggregator: 'max',
      collect() {
        this.set(metrics.sources.registry().servingPersistedView === true ? 1 : 0);
      },
    });
    new Gauge({
      name: 'switchyard_registry_stale_seconds',
      help: 'Seconds the registry source has been failing (last known data kept serving); 0 while it answers.',
      registers,
      collect() {
        const since = metrics.sources.registry().staleSince;
        this.set(since == null ? 0 : Math.max(0, Date.now() - since) / 1000);
      },
    });
    new Counter({
      name: 'switchyard_registry_sync_errors_total',
      help: 'Failed registry syncs (the previous snapshot kept serving) since the registry source started.',
      registers,
      collect() {
        this.reset();
        this.inc(metrics.sources.registry().syncErrors);
      },
    });
    this.droppedLogLines = new Counter({
      name: 'switchyard_log_lines_dropped_total',
      help: 'Log lines (access log included) dropped because the log output could not keep up and logging.maxBuffer was full.',
      registers,
    });
    new Gauge({
      name: 'switchyard_registry_consul_last_contact_seconds',
      help: 'X-Consul-LastContact of the last Consul answer: how far behind the leader the answering server may be (0 when the leader answered; stale reads only).',
      registers,
      aggregator: 'max',
      collect() {
        this.reset();
        const ms = metrics.sources.registry().consul?.lastContactMs;
        if (ms != null) this.set(ms / 1000);
      },
    });
    new Gauge({
      name: 'switchyard_registry_consul_known_leader',
      help: 'X-Consul-KnownLeader of the last Consul answer: 0 when the answering server knew of no leader (its data may be old).',
      registers,
      aggregator: 'min',
      collect() {
        this.reset();
        const known = metrics.sources.registry().consul?.knownLeader;
        if (known != null) this.set(known ? 1 : 0);
      },
    });
    new Counter({
      name: 'switchyard_registry_consul_stale_retries_total',
      help: 'Stale Consul answers older than registry.maxStale that were read again from the leader.',
      registers,
      collect() {
        this.reset();
        const consul = metrics.sources.registry().consul;
        if (consul) this.inc(consul.staleRetries);
      },
    });
    new Counter({
      name: 'switchyard_registry_consul_requests_total',
      help: 'HTTP requests sent to Consul by the registry (watches, service reads, scans).',
      registers,
      collect() {
        this.reset();
        const consul = metrics.sources.registry().consul;
        if (consul) this.inc(consul.requests);
      },
    });
    new Counter({
      name: 'switchyard_registry_consul_response_bytes_total',
      help: 'Response body bytes received from Consul by the registry.',
      registers,
      collect() {
        this.reset();
        const consul = metrics.sources.registry().consul;
        if (consul) this.inc(consul.bytes);
      },
    });
    this.reloads = new Counter({ name: 'switchyard_config_reloads_total', help: 'Configuration reloads (SIGHUP or admin API), by result.', labelNames: ['result'], registers });
    this.reloads.labels('success').inc(0);
    this.reloads.labels('failure').inc(0);
    this.lastReloadSuccess = new Gauge({ name: 'switchyard_config_last_reload_success_timestamp_seconds', help: 'When the configuration was last loaded successfully (start or reload), Unix time.', registers, aggregator: 'min' });
    this.lastReloadSuccessful = new Gauge({ name: 'switchyard_config_last_reload_successful', help: '1 when the last configuration load succeeded, 0 when the last reload was rejected.', registers, aggregator: 'min' });
    this.configLoaded(true);

    const build = new Gauge({ name: 'switchyard_build_info', help: 'Always 1; labels carry the Switchyard and Node.js versions.', labelNames: ['version', 'node_version'], registers, aggregator: 'first' });
    build.labels(SWITCHYARD_VERSION, process.version).set(1);

    if (options.processMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** Connects the scrape-time gauges to the running router. */
  setSources(sources: MetricsSources): void {
    this.sources = sources;
  }

  /** Prepared request metrics of one route (created on first use, then cached). */
  route(route: string, service: string): RouteMetrics {
    const key = `${route}\u0000${service}`;
    let m = this.routes.get(key);
    if (m === undefined) {
      m = new RouteMetrics(route, this.service(service), this.requestFamilies, this.upgradeFamilies);
      this.routes.set(key, m);
    }
    return m;
  }

  /**
   * Prepared counters of a route's rate limit: allowed, limited, and with a shared store the
   * requests answered by onStoreFailure while it was down (store_failed_open: admitted;
   * store_failed_closed: refused with 503).
   */
  rateLimit(route: string): { allowed: CounterChild; limited: CounterChild; storeFailedOpen: CounterChild; storeFailedClosed: CounterChild } {
    return {
      allowed: this.rateLimitRequests.labels(route, 'allowed'),
      limited: this.rateLimitRequests.labels(route, 'limited'),
      storeFailedOpen: this.rateLimitRequests.labels(route, 'store_failed_open'),
      storeFailedClosed: this.rateLimitRequests.labels(route, 'store_failed_closed'),
    };
  }

  /** Metrics of the shared rate limit store: calls by result, and whether it is up. */
  rateLimitStore(address: string): RateLimitStoreMetrics {
    const calls = this.rateLimitStoreCalls;
    const up = this.rateLimitStoreUp;
    return {
      granted: calls.labels('granted'),
      empty: calls.labels('empty'),
      timeout: calls.labels('timeout'),
      unavailable: calls.labels('unavailable'),
      error: calls.labels('error'),
      setUp: (isUp: boolean) => up.set({ address }, isUp ? 1 : 0),
    };
  }

  /** Prepared counters of the OTLP span exporter. */
  traceSpans(): { exported: CounterChild; dropped: CounterChild } {
    return { exported: this.traceSpanCounter.labels('exported'), dropped: this.traceSpanCounter.labels('dropped') };
  }

  /** Prepared upstream metrics of one service (created on first use, then cached). */
  /** The services whose metrics were asked for (every service a route was built for), but "". */
  private *knownServiceNames(): IterableIterator<string> {
    for (const name of this.services.keys()) if (name !== '') yield name;
  }

  service(service: string): ServiceMetrics {
    let m = this.services.get(service);
    if (m === undefined) {
      m = new ServiceMetrics(service, this.upstreamFamilies);
      this.services.set(service, m);
    }
    return m;
  }

  /** A response the proxy produced itself; `code` is one of a fixed set. */
  proxyError(code: string): void {
    let child = this.proxyErrorChildren.get(code);
    if (child === undefined) {
      child = this.proxyErrors.labels(code);
      this.proxyErrorChildren.set(code, child);
    }
    child.inc();
  }

  /** Log lines the destination dropped (its buffer was full). */
  logLinesDropped(lines: number): void {
    this.droppedLogLines.inc(lines);
  }

  /** Records the result of loading the configuration (initial load or reload). */
  configLoaded(ok: boolean, isReload = false): void {
    if (isReload) this.reloads.labels(ok ? 'success' : 'failure').inc();
    this.lastReloadSuccessful.set(ok ? 1 : 0);
    if (ok) this.lastReloadSuccess.set(Date.now() / 1000);
  }

  /**
   * Every route's request totals, read from the request duration histogram that /metrics
   * exports (its count is the request count; its status_class label gives the 5xx count):
   * nothing extra is recorded per request. For samplers running on a timer, never on the
   * request path: it reads the prepared children's fields, allocating one totals object per route.
   */
  routeTotals(): Map<string, RouteTotals> {
    const out = new Map<string, RouteTotals>();
    const buckets = LATENCY_BUCKETS.length;
    for (const child of this.requestFamilies.duration.recorded()) {
      if (!child.used) continue;
      // Label values: route, service, method, status_class.
      const route = child.labelValues[0]!;
      let t = out.get(route);
      if (t === undefined) {
        t = { requests: 0, errors: 0, buckets: new Array<number>(buckets + 1).fill(0) };
        out.set(route, t);
      }
      t.requests += child.count;
      if (child.labelValues[3] === '5xx') t.errors += child.count;
      // The child counts each bucket alone; totals keep Prometheus' cumulative form.
      let cumulative = 0;
      for (let i = 0; i < buckets; i++) {
        cumulative += child.counts[i]!;
        t.buckets[i]! += cumulative;
      }
      t.buckets[buckets]! += child.count;
    }
    return out;
  }

  /** The exposition text and its content type, for GET /metrics. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}

/** Metrics nobody scrapes, for route tables built without a router (tests, tools). */
export const DETACHED_METRICS = new SwitchyardMetrics();

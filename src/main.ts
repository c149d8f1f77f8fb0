import { randomUUID } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { warnIfReadsOpen } from './admin/admin-access.js';
import { AdminServer } from './admin/admin-server.js';
import { MetricsListener } from './admin/metrics-listener.js';
import { StateNotSaved, type OperatorStateView } from './admin/admin-view.js';
import { TrafficHistory } from './admin/traffic-history.js';
import type { ReloadView } from './admin/admin-view.js';
import { EMPTY_OPERATOR_STATE, sameOperatorState, type DrainEntry, type OperatorState } from './operator-state/operator-state.js';
import type { OperatorStateStore } from './operator-state/operator-state-store.js';
import { createOperatorStateStore } from './operator-state/state-store-factory.js';
import { checkConfigFiles, resolveConfigPaths } from './config/config-paths.js';
import type { DeprecatedFieldUse } from './config/deprecated-fields.js';
import { loadConfig } from './config/load-config.js';
import { removedSettingsIn } from './config/removed-settings.js';
import { loadListenerCertificates, loadStartConfig, operatorStateProblem, registryViewFile, startRegistry } from './startup-load.js';
import type { Config } from './config/schema.js';
import { DemoInstances } from './demo/demo-instances.js';
import { FilterState } from './filters/filter-chain-builder.js';
import { AccessLog } from './observability/access-log.js';
import { createProcessLog, onDroppedLogLines, type Logger, type ProcessLog } from './observability/logger.js';
import { LATENCY_BUCKETS, SwitchyardMetrics } from './observability/metrics.js';
import { OtlpSpanExporter } from './observability/otlp-span-exporter.js';
import type { ProxyContext } from './proxy/proxy-context.js';
import { CertificateStore } from './proxy/certificate-store.js';
import { ProxyHandler } from './proxy/proxy-handler.js';
import { ProxyListener } from './proxy/proxy-listener.js';
import { requestLimits } from './proxy/proxy-context.js';
import { forwardingHeaderSettings } from './proxy/request-headers.js';
import { RequestRecorder } from './proxy/request-recorder.js';
import type { Registry } from './registry/registry.js';
import { createRegistry } from './registry/registry-factory.js';
import { RouterAdminView } from './router-admin-view.js';
import { RouteOverrides, type RouteOverride, type StoredOverride } from './routing/route-overrides.js';
import type { RouteTable } from './routing/route-table.js';
import { LiveRouteTable } from './routing/live-route-table.js';
import { tagRoutePrefix, TagRoutes } from './routing/tag-routes.js';
import { tagUpstreamTls } from './routing/tag-upstream-tls.js';
import { ClusterManager } from './upstream/cluster-manager.js';
import type { Endpoint } from './upstream/endpoint.js';

export interface StartOptions {
  /** Use this process log instead of one built from `logging` (tests). */
  log?: ProcessLog;
  /** Override listener and admin ports with 0 (ephemeral) for tests. */
  ephemeralPorts?: boolean;
  /**
   * Bind the admin listener to 127.0.0.1 on a free port (a cluster worker: the primary serves
   * the configured admin address and forwards to this one, and opens the metrics listener).
   */
  internalAdmin?: boolean;
}

export interface ListenerAddress {
  name: string;
  address: string;
  port: number;
  url: string;
  /** Protocols served: http1, h2, h2c. */
  protocols: readonly string[];
}

/**
 * A running router: registry → clusters → route table → listeners, plus the admin listener.
 * Wires the pieces, reloads configuration atomically and shuts down gracefully.
 */
export class Switchyard {
  private config: Config;
  private registry: Registry;
  private unsubscribe: () => void;
  private readonly listeners: ProxyListener[] = [];
  /** Each configured listener's certificates (null for plain HTTP), loaded before anything binds. */
  private certificates: readonly (CertificateStore | null)[] = [];
  private admin: AdminServer | null = null;
  private adminAddressInfo: AddressInfo | null = null;
  private metricsListener: MetricsListener | null = null;
  private metricsAddressInfo: AddressInfo | null = null;
  private demo: DemoInstances | null = null;
  private closing = false;
  /** Set by shutdown(): readiness fails at once while the listeners keep serving for shutdown.drainDelay. */
  private shuttingDown = false;
  /** Ends the drain delay now (a second stop signal); set while shutdown() waits it out. */
  private endDrainDelay: (() => void) | null = null;
  /** Readiness failed on purpose through the admin API (ahead of a restart); not kept across restarts. */
  private readinessFailed = false;
  /** Operator route overrides (admin API), merged into every route table build. */
  private readonly routeOverrides = new RouteOverrides();
  /** The OTLP span exporter (tracing.otlp), or null. */
  spans: OtlpSpanExporter | null = null;
  /** The access log, one for the router's life (used while logging.accessLog is on). */
  accessLog!: AccessLog;
  /** Filter state kept across route table builds (rate limiters while their settings are unchanged). */
  private readonly filterState = new FilterState();
  /** Drained endpoints as "service\0address:port"; kept across registry updates and reloads. */
  private drained: ReadonlySet<string> = new Set();
  private reloadState: ReloadView;
  private reloadQueue: Promise<unknown> = Promise.resolve();
  readonly startedAt = new Date();
  /** The route table: built whole on config and override changes, changed copy-on-write on registry changes. */
  private readonly routes: LiveRouteTable;
  /** True once a route table built from a whole registry view (synced, or the persisted view) was swapped in. */
  private viewApplied = false;
  /** Recent per-route traffic for the status page, sampled on a timer while the admin listener runs. */
  readonly traffic: TrafficHistory;
  /** Where drains and overrides are kept across restarts (chosen at start). */
  private stateStore: OperatorStateStore | null = null;
  /**
   * Names this router in the states it stores: the cluster's id in cluster mode (every worker
   * applies every mutation itself), else one per process. A watched store's own writes are
   * recognised by it and not applied twice.
   */
  private readonly stateWriter = process.env.SWITCHYARD_CLUSTER_ID || randomUUID();
  private stateSaves: Promise<unknown> = Promise.resolve();
  private stateLastSavedAt: string | null = null;
  private stateLastError: string | null = null;

  private constructor(
    readonly configFile: string,
    config: Config,
    readonly logger: Logger,
    registry: Registry,
    readonly clusters: ClusterManager,
    private readonly handler: ProxyHandler,
    readonly metrics: SwitchyardMetrics,
  ) {
    this.config = config;
    this.registry = registry;
    this.unsubscribe = registry.subscribe(() => this.onRegistryChange());
    this.reloadState = { at: null, ok: true, error: null, lastSuccessAt: this.startedAt.toISOString() };
    metrics.setSources({
      services: () => this.endpointCounts(),
      clientConnections: () => this.listeners.map((l) => ({ listener: l.name, open: l.openConnections })),
      registry: () => {
        const st = this.registry.status();
        return { synced: st.synced, lastSyncAt: st.lastSyncAt, syncErrors: st.syncErrors ?? 0, staleSince: st.staleSince, consul: st.consul, servingPersistedView: st.persistedView?.serving };
      },
    });
    this.routes = new LiveRouteTable(new TagRoutes(logger.child({ component: 'routing' })), clusters, metrics, this.filterState);
    this.traffic = new TrafficHistory(
      () => metrics.routeTotals(),
      () => this.handler.table.routes.map((r) => r.name),
      LATENCY_BUCKETS,
      logger.child({ component: 'admin' }),
    );
    // Instances whose route tags say proto=https are reached over TLS (read from the current config).
    clusters.setInstanceTls((instance) => tagUpstreamTls(instance, tagRoutePrefix(this.config.registry)));
  }

  /**
   * Starts the router. The steps before the first port is bound are those of startup-load.ts,
   * in its order (configuration and its files, certificates, registry, operator state store),
   * which `switchyard check` runs alone.
   */
  static async start(configFile: string, options: StartOptions = {}): Promise<Switchyard> {
    const loaded = await loadStartConfig(configFile);
    const config = loaded.config;
    if (options.ephemeralPorts) {
      config.listeners = config.listeners.map((l) => ({ ...l, port: 0 }));
      config.admin.port = 0;
      if (config.admin.metricsListener) config.admin.metricsListener = { ...config.admin.metricsListener, port: 0 };
    }
    if (options.internalAdmin) config.admin = { ...config.admin, address: '127.0.0.1', port: 0, metricsListener: undefined };
    const log = options.log ?? createProcessLog({ level: config.logging.level, maxBuffer: config.logging.maxBuffer });
    const logger = log.logger;
    warnRemovedSettings(config, logger);
    warnDeprecatedFields(logger, configFile, loaded.deprecated);
    const certificates = await loadListenerCertificates(config, logger);

    let demo: DemoInstances | null = null;
    let registry: Registry;
    try {
      if (config.demo) {
        demo = new DemoInstances(config.demo.address, config.demo.ports);
        await demo.start();
        logger.info({ service: config.demo.service, address: config.demo.address, ports: config.demo.ports }, 'demo instances started (config "demo:")');
      }
      registry = await startRegistry(config, configFile, logger, registryViewFile(config, configFile));
    } catch (err) {
      await demo?.close();
      for (const c of certificates) c?.close();
      throw err;
    }
    const clusters = new ClusterManager(logger.child({ component: 'upstream' }));
    clusters.applySettings(config.services);
    clusters.applySnapshot(registry.current());
    const metrics = new SwitchyardMetrics({ processMetrics: true });
    onDroppedLogLines(log, (lines) => metrics.logLinesDropped(lines));
    const spans = spanExporter(config, logger, metrics);
    // The access log shares the process log's format and asynchronous output but not its level.
    const accessLog = new AccessLog(log, { component: 'access' });
    const handler = new ProxyHandler(proxyContext(config, logger, metrics, spans, accessLog), 'http');
    const app = new Switchyard(configFile, config, logger, registry, clusters, handler, metrics);
    app.demo = demo;
    app.certificates = certificates;
    await app.loadOperatorState(createOperatorStateStore(config, configFile));
    app.spans = spans;
    app.accessLog = accessLog;
    await app.openRateLimitStore(config);
    app.rebuildRoutes();
    try {
      await app.openListeners();
    } catch (err) {
      await app.close();
      throw err;
    }
    app.watchOperatorState();
    return app;
  }

  /** Where the proxy listens, in config order. */
  get addresses(): ListenerAddress[] {
    return this.listeners.map((l) => {
      const a = l.address;
      const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      return { name: l.name, address: a.address, port: a.port, url: `${l.secure ? 'https' : 'http'}://${host}:${a.port}`, protocols: l.protocols };
    });
  }

  /** The client-facing listeners, in config order (read only). */
  get proxyListeners(): readonly ProxyListener[] {
    return this.listeners;
  }

  /** Client connections open on all listeners now. */
  get clientConnections(): number {
    let n = 0;
    for (const l of this.listeners) n += l.openConnections;
    return n;
  }

  get adminAddress(): AddressInfo | null {
    return this.adminAddressInfo;
  }

  /** Where the metrics-and-health listener (admin.metricsListener) listens, or null without one. */
  get metricsAddress(): AddressInfo | null {
    return this.metricsAddressInfo;
  }

  get currentConfig(): Config {
    return this.config;
  }

  /** The clusters (endpoints, health, breaker and retry counters), read only. */
  get upstreams(): ClusterManager {
    return this.clusters;
  }

  get registryStatus() {
    return this.registry.status();
  }

  get registrySnapshot() {
    return this.registry.current();
  }

  get routeTable(): RouteTable {
    return this.handler.table;
  }

  /**
   * Whether the router serves: registry synced once (or serving its persisted view), not
   * shutting down, readiness not failed through the admin API.
   */
  get ready(): boolean {
    return this.notReadyReason === null;
  }

  /** Why /readyz answers 503, or null when ready. */
  get notReadyReason(): string | null {
    if (this.closing || this.shuttingDown) return 'shutting down';
    if (this.readinessFailed) return 'readiness failed through the admin API (POST /api/v1/readiness/restore to undo)';
    const st = this.registry.status();
    if (!st.synced && st.persistedView?.serving !== true) return `registry not synced yet${st.lastError ? ` (${st.lastError})` : ''}`;
    if (!this.viewApplied) return 'the first registry view is not in the route table yet';
    return null;
  }

  /** Whether readiness was failed on purpose through the admin API. */
  get readinessFailedByOperator(): boolean {
    return this.readinessFailed;
  }

  /**
   * Fails readiness on purpose (ahead of a restart: load balancers stop sending new clients
   * while everything keeps serving), or restores it. Not kept across restarts.
   */
  setReadinessFailed(failed: boolean): void {
    if (this.readinessFailed === failed) return;
    this.readinessFailed = failed;
    this.logger.info({ readinessFailed: failed }, failed ? 'readiness failed through the admin API: /readyz answers 503, requests are still served' : 'readiness restored through the admin API');
  }

  /** The outcome of the last reload (SIGHUP or admin API). */
  get lastReload(): ReloadView {
    return this.reloadState;
  }

  /**
   * Loads the config file again and applies it atomically. A bad file is rejected with its
   * ConfigError and the running configuration keeps serving; the rejection shows in
   * `lastReload`, the admin API and `switchyard_config_reloads_total{result="failure"}`.
   * Listener and admin addresses are fixed at start: changing them needs a restart (logged).
   * Concurrent reloads run one after the other.
   */
  reload(): Promise<void> {
    const run = this.reloadQueue.then(() => this.reloadNow());
    this.reloadQueue = run.catch(() => undefined);
    return run;
  }

  private async reloadNow(): Promise<void> {
    const at = new Date().toISOString();
    try {
      await this.applyConfigFile();
    } catch (err) {
      const message = (err as Error).message;
      this.reloadState = { at, ok: false, error: message, lastSuccessAt: this.reloadState.lastSuccessAt };
      this.metrics.configLoaded(false, true);
      this.logger.error({ file: this.configFile, err }, 'configuration rejected; the running configuration keeps serving');
      throw err;
    }
    this.reloadState = { at, ok: true, error: null, lastSuccessAt: at };
    this.metrics.configLoaded(true, true);
  }

  private async applyConfigFile(): Promise<void> {
    const loaded = await loadConfig(this.configFile);
    const next = resolveConfigPaths(loaded.config, this.configFile);
    await checkConfigFiles(next, this.configFile);
    warnDeprecatedFields(this.logger, this.configFile, loaded.deprecated);
    if (JSON.stringify(next.listeners) !== JSON.stringify(this.config.listeners) || JSON.stringify(next.admin) !== JSON.stringify(this.config.admin)) {
      this.logger.warn({ file: this.configFile }, 'listener or admin address changes take effect only after a restart');
      next.listeners = this.config.listeners;
      next.admin = this.config.admin;
    }
    const listenerLimits = ['maxHeaderSize', 'maxHeaderCount', 'headersTimeout', 'requestTimeout', 'keepAliveTimeout', 'maxConnections'] as const;
    const changedLimits = listenerLimits.filter((k) => next.limits[k] !== this.config.limits[k]);
    if (changedLimits.length > 0) {
      this.logger.warn({ file: this.configFile, fields: changedLimits.map((k) => `limits.${k}`) }, 'these limits take effect only after a restart');
      next.limits = { ...next.limits, ...Object.fromEntries(listenerLimits.map((k) => [k, this.config.limits[k]])) };
    }
    const stateStoreOf = (c: Config) => (c.registry.type === 'consul' ? `consul:${c.registry.stateKey}` : `file:${c.admin.stateFile ?? ''}`);
    if (stateStoreOf(next) !== stateStoreOf(this.config)) {
      this.logger.warn({ file: this.configFile, store: this.stateStore?.location }, 'the operator state store (admin.stateFile, registry type or registry.stateKey) changes only after a restart; drains and overrides stay where they are');
    }
    if (JSON.stringify(next.registry) !== JSON.stringify(this.config.registry)) {
      const registry = createRegistry(next.registry, this.configFile, this.logger, registryViewFile(next, this.configFile));
      await registry.start();
      const old = this.registry;
      this.unsubscribe();
      this.registry = registry;
      this.unsubscribe = registry.subscribe(() => this.onRegistryChange());
      await old.close();
    }
    let oldSpans: OtlpSpanExporter | null = null;
    if (JSON.stringify(next.tracing.otlp) !== JSON.stringify(this.config.tracing.otlp)) {
      oldSpans = this.spans;
      this.spans = spanExporter(next, this.logger, this.metrics);
    }
    warnRemovedSettings(next, this.logger);
    this.config = next;
    this.handler.context = proxyContext(next, this.logger, this.metrics, this.spans, this.accessLog);
    this.clusters.applySettings(next.services);
    this.clusters.applySnapshot(this.registry.current());
    const oldRateLimitStore = await this.openRateLimitStore(next);
    this.rebuildRoutes();
    await oldRateLimitStore?.close();
    // Renewed certificates are picked up on reload too (not only by tls.watch).
    await Promise.all(this.listeners.map((l) => l.reloadCertificates()));
    this.logger.info({ file: this.configFile, routes: next.routes.length }, 'configuration reloaded');
    // Requests still in flight may hand the old exporter a span: it drops it (closed) and counts it.
    await oldSpans?.close();
  }

  /**
   * Marks an endpoint (address:port or instance id) drained or not, in one service or all;
   * resolves with the endpoints it matched once the operator state is saved (rejects with
   * StateNotSaved when the save failed: the drain is live but would not survive a restart).
   */
  async setDrained(endpoint: string, service: string | undefined, drained: boolean): Promise<{ matched: Endpoint[]; forgotten: DrainEntry[] }> {
    const matched: Endpoint[] = [];
    const next = new Set(this.drained);
    for (const cluster of this.clusters.all()) {
      if (service !== undefined && cluster.name !== service) continue;
      for (const e of cluster.endpoints) {
        if (e.key !== endpoint && e.instance.id !== endpoint) continue;
        matched.push(e);
        const key = drainKey(cluster.name, e.key);
        if (drained) next.add(key);
        else next.delete(key);
      }
    }
    // Undrain also forgets stored drains of instances that are not in the registry now (by address:port).
    const forgotten: DrainEntry[] = [];
    if (!drained) {
      for (const key of next) {
        const d = splitDrainKey(key);
        if (d.endpoint === endpoint && (service === undefined || d.service === service)) {
          next.delete(key);
          forgotten.push(d);
        }
      }
    }
    if (matched.length > 0 || forgotten.length > 0) {
      this.drained = next;
      this.applyEndpointOverrides();
      this.logger.info({ endpoint, service, drained, matched: matched.length, forgotten: forgotten.length }, drained ? 'endpoint drained' : 'endpoint undrained');
      await this.saveOperatorState();
    }
    return { matched, forgotten };
  }

  /** Whether an operator drained `endpoint` (address:port) of `service`, routed or not. */
  isDrained(service: string, endpoint: string): boolean {
    return this.drained.has(drainKey(service, endpoint));
  }

  get overrides(): readonly StoredOverride[] {
    return this.routeOverrides.all;
  }

  /** Adds a route override, rebuilds the route table and saves the operator state (see setDrained). */
  async addOverride(override: RouteOverride): Promise<StoredOverride> {
    const stored = this.routeOverrides.add(override);
    this.rebuildRoutes();
    this.logger.info({ override: stored }, 'route override added');
    await this.saveOperatorState();
    return stored;
  }

  async removeOverride(id: number): Promise<boolean> {
    const removed = this.routeOverrides.remove(id);
    if (removed) {
      this.rebuildRoutes();
      this.logger.info({ id }, 'route override removed');
      await this.saveOperatorState();
    }
    return removed;
  }

  async clearOverrides(): Promise<void> {
    this.routeOverrides.clear();
    this.rebuildRoutes();
    this.logger.info('route overrides cleared');
    await this.saveOperatorState();
  }

  /** Drains and overrides as stored across restarts. */
  get operatorState(): OperatorState {
    const drains: DrainEntry[] = [];
    for (const key of this.drained) drains.push(splitDrainKey(key));
    return { drains, overrides: this.routeOverrides.all, nextOverrideId: this.routeOverrides.nextOverrideId, writer: this.stateWriter };
  }

  get operatorStateStatus(): OperatorStateView {
    return {
      store: this.stateStore?.kind ?? 'none',
      location: this.stateStore?.location ?? '',
      drains: this.drained.size,
      overrides: this.routeOverrides.all.length,
      lastSavedAt: this.stateLastSavedAt,
      lastError: this.stateLastError,
    };
  }

  /**
   * Reads the stored operator state before the first route table is built, so a restarted
   * router never sends traffic to an endpoint an operator drained. A corrupt or unreachable
   * store is logged and the router starts with no drains or overrides; a store that cannot
   * take a save (a read-only folder) is logged and the router serves all the same.
   */
  private async loadOperatorState(store: OperatorStateStore): Promise<void> {
    this.stateStore = store;
    let state = EMPTY_OPERATOR_STATE;
    let loaded = false;
    try {
      state = await store.load();
      loaded = true;
    } catch (err) {
      this.stateLastError = (err as Error).message;
      this.logger.error(
        { store: store.kind, location: store.location, err },
        'cannot load the operator state (drains and route overrides set through the admin API); starting without them. Fix or remove it; the next admin change overwrites it',
      );
    }
    this.adoptOperatorState(state);
    if (state.drains.length > 0 || state.overrides.length > 0) {
      this.logger.info({ store: store.kind, location: store.location, drains: state.drains.length, overrides: state.overrides.length }, 'operator state restored');
    }
    // After a failed load the store has said what is wrong already.
    const problem = loaded ? await operatorStateProblem(store) : null;
    if (problem !== null) {
      this.stateLastError = problem;
      this.logger.error(
        { store: store.kind, location: store.location, error: problem },
        'the operator state cannot be saved: drains and route overrides set through the admin API will answer 503 state_not_saved (`switchyard check` fails on this)',
      );
    }
  }

  /** Follows states other routers store (Consul KV); this router's own writes are recognised and skipped. */
  private watchOperatorState(): void {
    const store = this.stateStore;
    if (store === null) return;
    store.watch(
      (state) => {
        if (this.closing || state.writer === this.stateWriter || sameOperatorState(state, this.operatorState)) return;
        this.adoptOperatorState(state);
        this.rebuildRoutes();
        this.logger.info({ store: store.kind, location: store.location, drains: state.drains.length, overrides: state.overrides.length, writer: state.writer }, 'operator state changed in the store; applied');
      },
      (err) => {
        this.stateLastError = err.message;
        this.logger.error({ store: store.kind, location: store.location, err }, 'cannot read the operator state from the store; keeping the current drains and overrides');
      },
    );
  }

  private adoptOperatorState(state: OperatorState): void {
    this.drained = new Set(state.drains.map((d) => drainKey(d.service, d.endpoint)));
    this.routeOverrides.restore(state.overrides, state.nextOverrideId);
  }

  /** Saves the current drains and overrides; saves run one after the other, in mutation order. */
  private async saveOperatorState(): Promise<void> {
    const store = this.stateStore;
    if (store === null) return;
    const state = this.operatorState;
    const run = this.stateSaves.then(() => store.save(state));
    this.stateSaves = run.catch(() => undefined);
    try {
      await run;
    } catch (err) {
      const message = (err as Error).message;
      this.stateLastError = message;
      this.logger.error({ store: store.kind, location: store.location, err }, 'cannot save the operator state; the change is live but a restart would lose it');
      throw new StateNotSaved(`the change is applied to the running router but could not be saved (${message}); a restart would lose it`);
    }
    this.stateLastSavedAt = new Date().toISOString();
    this.stateLastError = null;
  }

  /**
   * Stop on a signal: readiness fails at once, the listeners keep accepting and serving for
   * `drainDelayMs` (default `shutdown.drainDelay`) so load balancers take the router out of
   * rotation first, with `Connection: close` on every HTTP/1.x response so that clients reconnect
   * (through the load balancer) rather than keep a connection to a leaving router; then close()
   * stops accepting and lets in-flight requests finish. skipDrainDelay() cuts the delay short.
   */
  async shutdown(drainDelayMs = this.config.shutdown.drainDelay, graceMs = this.config.shutdown.gracePeriod): Promise<void> {
    if (this.shuttingDown || this.closing) return;
    this.shuttingDown = true;
    if (drainDelayMs > 0) {
      for (const l of this.listeners) l.beginDrain();
      this.logger.info({ drainDelayMs, gracePeriodMs: graceMs }, 'shutting down: /readyz answers 503; still accepting and serving until the drain delay ends');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, drainDelayMs);
        this.endDrainDelay = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.endDrainDelay = null;
    }
    this.logger.info({ gracePeriodMs: graceMs }, 'shutting down: stopped accepting, finishing in-flight requests');
    await this.close(graceMs);
  }

  /**
   * Ends the drain delay of a shutdown under way now (an operator's second SIGTERM): accepting
   * stops and in-flight requests finish as after a full delay. False when no delay is running.
   */
  skipDrainDelay(): boolean {
    const end = this.endDrainDelay;
    if (end === null) return false;
    this.endDrainDelay = null;
    end();
    return true;
  }

  /**
   * Graceful stop: readiness turns false, listeners stop accepting, idle keep-alive
   * connections close, in-flight requests finish (up to `graceMs`, default
   * `shutdown.gracePeriod`), then pools, registry and the admin listener close.
   */
  async close(graceMs = this.config.shutdown.gracePeriod): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await Promise.all(this.listeners.map((l) => l.close(graceMs)));
    // Certificates of listeners that never opened (a start that failed half-way).
    for (const c of this.certificates) c?.close();
    this.traffic.stop();
    this.unsubscribe();
    await this.stateSaves;
    await this.stateStore?.close();
    await this.registry.close();
    await this.clusters.close();
    await this.admin?.close();
    await this.metricsListener?.close();
    await this.demo?.close();
    await this.spans?.close();
    await this.filterState.rateLimitStore?.close();
    this.accessLog.close();
  }

  /**
   * Opens the shared rate limit store of `config` (rateLimitRedis) when it is new or changed,
   * waiting for its connection up to 2 s (an unreachable Redis starts an outage, logged; the
   * router serves anyway). Returns the store it replaced, to close after the route table swap.
   */
  private async openRateLimitStore(config: Config): Promise<{ close(): Promise<void> } | null> {
    const before = this.filterState.rateLimitStore;
    const old = this.filterState.useRateLimitRedis(config.rateLimitRedis, this.logger, this.metrics);
    const store = this.filterState.rateLimitStore;
    if (store !== null && store !== before) await store.connected(2_000);
    return old;
  }

  private async openListeners(): Promise<void> {
    for (const [i, lc] of this.config.listeners.entries()) {
      const listener = new ProxyListener(lc, this.config.limits, this.handler, this.logger, this.certificates[i] ?? null, this.config.proxy.engine.listener, this.config.proxy.engine.http2Listener);
      this.listeners.push(listener);
      await listener.listen();
    }
    const admin = this.config.admin;
    const view = new RouterAdminView(this);
    const adminLogger = this.logger.child({ component: 'admin' });
    if (admin.enabled) {
      this.admin = new AdminServer(view, { token: admin.token, readToken: admin.readToken, logger: adminLogger });
      this.adminAddressInfo = await this.admin.listen(admin.port, admin.address);
      warnIfReadsOpen(admin, adminLogger);
      this.traffic.start();
    }
    if (admin.metricsListener) {
      this.metricsListener = new MetricsListener(view, adminLogger);
      this.metricsAddressInfo = await this.metricsListener.listen(admin.metricsListener.port, admin.metricsListener.address);
    }
  }

  /**
   * A registry change updates only what it touches: the changed services' clusters, their tag
   * routes (LiveRouteTable.applyRegistry, copy-on-write, swapped with one assignment) and their
   * endpoints' drains and weight overrides.
   */
  private onRegistryChange(): void {
    const snapshot = this.registry.current();
    this.clusters.applySnapshot(snapshot);
    const change = this.routes.applyRegistry(snapshot);
    this.handler.table = change.table;
    this.applyEndpointOverrides(change.services);
    this.noteViewApplied();
  }

  /**
   * Builds the whole route table off the hot path (config routes, tag routes, then admin
   * overrides) and swaps it in with one assignment; then re-applies drains and weight overrides
   * to the endpoints.
   */
  private rebuildRoutes(): void {
    this.handler.table = this.routes.rebuild(
      {
        configRoutes: this.config.routes,
        overrides: this.routeOverrides,
        defaults: { timeouts: this.config.timeouts, retries: this.config.retries, tracing: this.config.tracing },
        tagPrefix: tagRoutePrefix(this.config.registry),
      },
      this.registry.current(),
    );
    this.applyEndpointOverrides();
    this.noteViewApplied();
  }

  /** Readiness waits for a route table built from a whole registry view (not only for the registry). */
  private noteViewApplied(): void {
    if (this.viewApplied || !this.routes.built) return;
    const st = this.registry.status();
    this.viewApplied = st.synced || st.persistedView?.serving === true;
  }

  /**
   * Sets each endpoint's drained flag and weight override (of the named services' clusters, or
   * all); rebuilds a balancer whose weights changed.
   */
  private applyEndpointOverrides(services?: readonly string[]): void {
    const clusters = services === undefined ? this.clusters.all() : this.clusters.existing(services);
    for (const cluster of clusters) {
      let weightsChanged = false;
      for (const e of cluster.endpoints) {
        e.drained = this.drained.has(drainKey(cluster.name, e.key));
        const weight = this.routeOverrides.weightFor(cluster.name, { key: e.key, id: e.instance.id, tags: e.instance.tags });
        if (weight !== e.weightOverride) {
          e.weightOverride = weight;
          weightsChanged = true;
        }
      }
      if (weightsChanged) cluster.refreshBalancer();
    }
  }

  private *endpointCounts(): Iterable<{ name: string; total: number; healthy: number; drained: number; panic: boolean }> {
    for (const cluster of this.clusters.all()) {
      let healthy = 0;
      let drained = 0;
      for (const e of cluster.endpoints) {
        if (e.healthy) healthy++;
        if (e.drained) drained++;
      }
      yield { name: cluster.name, total: cluster.endpoints.length, healthy, drained, panic: cluster.panic };
    }
  }
}

/** Logs a warning for each setting of an earlier version that `config` still sets (they are ignored). */
function warnRemovedSettings(config: Config, logger: Logger): void {
  for (const removed of removedSettingsIn(config)) logger.warn({ field: removed.field }, `configuration: ${removed.field} is ${removed.advice}`);
}

/** The span exporter `tracing.otlp` asks for, or null. */
function spanExporter(config: Config, logger: Logger, metrics: SwitchyardMetrics): OtlpSpanExporter | null {
  const otlp = config.tracing.otlp;
  if (otlp === undefined) return null;
  return new OtlpSpanExporter(
    { endpoint: otlp.endpoint, headers: otlp.headers, serviceName: otlp.serviceName, maxQueue: otlp.maxQueue, batchSize: otlp.batchSize, flushIntervalMs: otlp.flushInterval },
    logger.child({ component: 'tracing' }),
    metrics.traceSpans(),
  );
}

function drainKey(service: string, endpoint: string): string {
  return `${service}\u0000${endpoint}`;
}

function splitDrainKey(key: string): DrainEntry {
  const cut = key.indexOf('\u0000');
  return { service: key.slice(0, cut), endpoint: key.slice(cut + 1) };
}

/** What the request path needs from one configuration: headers, logger, metrics and access log. */
function proxyContext(config: Config, logger: Logger, metrics: SwitchyardMetrics, spans: OtlpSpanExporter | null, accessLogger: AccessLog): ProxyContext {
  const accessLog = config.logging.accessLog ? accessLogger : null;
  return {
    logger: logger.child({ component: 'proxy' }),
    headers: forwardingHeaderSettings(config.proxy),
    limits: requestLimits(config),
    observer: new RequestRecorder(metrics, accessLog, spans),
  };
}

/** One warning line per deprecated field the configuration file uses (the field still works). */
function warnDeprecatedFields(logger: Logger, file: string, uses: readonly DeprecatedFieldUse[]): void {
  for (const use of uses) logger.warn({ file, field: use.field, replacement: use.replacement }, use.message);
}

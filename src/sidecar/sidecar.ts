import type { AddressInfo } from 'node:net';
import { hostname } from 'node:os';
import { registrySchema, type Config } from '../config/schema.js';
import type { SidecarConfig } from '../config/sidecar-schema.js';
import { createProcessLog, type Logger, type ProcessLog } from '../observability/logger.js';
import { CertificateStore } from '../proxy/certificate-store.js';
import { createRegistry } from '../registry/registry-factory.js';
import type { Registry } from '../registry/registry.js';
import type { MetricsSources } from '../observability/metrics.js';
import { AgentRegistration, buildRegistration } from './agent-registration.js';
import { AppCgroups } from './app-cgroups.js';
import { AppHealthChecker } from './app-health-checker.js';
import { AppSupervisor, type InstanceState } from './app-supervisor.js';
import type { CgroupLimits, CgroupUsage } from './instance-cgroup.js';
import { ConsulAgentClient, consulOrigin, type CheckStatus } from './consul-agent-client.js';
import { ConnectProxy } from './connect-proxy.js';
import { EgressProxy } from './egress-proxy.js';
import { InboundProxy } from './inbound-proxy.js';
import { RssGuard } from './rss-guard.js';
import { SidecarAdminServer } from './sidecar-admin-server.js';
import { SidecarMetrics } from './sidecar-metrics.js';
import { SidecarRequestRecording } from './sidecar-request-recording.js';

/** GET /status of the sidecar admin listener, and `Sidecar.status()`. */
export interface SidecarStatus {
  service: string;
  /** Which cgroup version applies the limits; null when no limit is set. */
  cgroups: { version: 'v1' | 'v2'; controllers: readonly string[]; parents: readonly string[]; limits: CgroupLimits } | null;
  instances: (InstanceState & { healthy: boolean; cgroup: { paths: readonly string[]; usage: CgroupUsage } | null })[];
}

export interface SidecarStartOptions {
  /**
   * The process log (its output also carries the access-log lines); default: built from the
   * `logging` section (level, maxBuffer) on standard output.
   */
  log?: ProcessLog;
  /** Environment for CONSUL_HTTP_ADDR / CONSUL_HTTP_TOKEN and the app's base environment. */
  env?: NodeJS.ProcessEnv;
  /** The configuration file, if any (relative paths of the egress registry start from its folder). */
  configFile?: string;
  /** Host name in the default service ID. */
  hostname?: string;
  /** Where egress finds other services' instances; default: Consul at the agent address. */
  egressRegistry?: Registry;
}

/** Exit code after a crash loop: the app cannot stay up. */
export const CRASH_LOOP_EXIT_CODE = 1;

/**
 * Sidecar mode: runs one service's app processes and stands in front of them. Wires the
 * supervisor (processes), the health checker (the sidecar's view of each instance), the
 * inbound proxy (limiter + proxy pipeline to the healthy instances), the Consul registration
 * (TTL check fed by the health view) and the optional egress proxy.
 *
 * Shutdown order: maintenance on → keep serving for `drainDelay` → stop accepting and wait
 * for in-flight requests → deregister → stop the app → close egress. The app is stopped last
 * so nothing is routed to it after it is gone, and egress outlives it for its own shutdown.
 */
export class Sidecar {
  /** Resolves with the process exit code once the sidecar has shut down. */
  readonly done: Promise<number>;
  private resolveDone!: (code: number) => void;
  private shuttingDown: Promise<number> | null = null;
  private egress: EgressProxy | null = null;
  private rssGuard: RssGuard | null = null;
  private admin: SidecarAdminServer | null = null;
  /** The service mesh side (connect.enabled), else null. */
  private connect: ConnectProxy | null = null;
  private readonly metrics: SidecarMetrics;

  private constructor(
    readonly config: SidecarConfig,
    readonly logger: Logger,
    private readonly inbound: InboundProxy,
    private readonly supervisor: AppSupervisor,
    private readonly health: AppHealthChecker,
    private readonly registration: AgentRegistration | null,
    private readonly egressRegistry: Registry | null,
    private readonly cgroups: AppCgroups | null,
    private readonly recording: SidecarRequestRecording,
  ) {
    this.metrics = new SidecarMetrics(config.app.instances);
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
  }

  static async start(config: Config & { sidecar: SidecarConfig }, options: SidecarStartOptions): Promise<Sidecar> {
    const sc = config.sidecar;
    const env = options.env ?? process.env;
    const log = options.log ?? createProcessLog({ level: config.logging.level, maxBuffer: config.logging.maxBuffer });
    const logger = log.logger.child({ service: sc.service });
    const ports = Array.from({ length: sc.app.instances }, (_, i) => sc.app.port + i);

    // Groups first: a limit that cannot be applied stops the start before anything listens or registers.
    const cgroups = await AppCgroups.open(sc.app, sc.service, logger.child({ component: 'cgroups' }));
    let certificates: CertificateStore | null = null;
    try {
      if (sc.inbound.tls !== undefined) certificates = await CertificateStore.load(sc.inbound.tls, logger.child({ component: 'tls', listener: 'inbound' }));
    } catch (err) {
      await cgroups?.close();
      throw err;
    }
    const recording = new SidecarRequestRecording(config, log, logger);
    const inbound = new InboundProxy(sc, config, ports, logger, recording.observer('inbound'), recording.metrics, certificates);
    const consulAddress = sc.consul.address ?? (env.CONSUL_HTTP_ADDR || '127.0.0.1:8500');
    const consulToken = sc.consul.token ?? (env.CONSUL_HTTP_TOKEN || undefined);
    let registration: AgentRegistration | null = null;
    if (sc.consul.enabled) {
      const client = new ConsulAgentClient(consulOrigin(consulAddress), consulToken);
      registration = new AgentRegistration(buildRegistration(sc, options.hostname ?? hostname()), client, sc.consul.check.type, sc.consul.check.ttl, sc.consul.syncInterval, logger.child({ component: 'consul' }));
    }

    // The pieces call each other through the instance, created before any of them runs.
    let self: Sidecar | null = null;
    const health = new AppHealthChecker(sc.app.healthCheck, ports, logger.child({ component: 'health' }), (view) => self?.onHealth(view), sc.app.protocol !== 'http1');
    const supervisor = new AppSupervisor(sc.app, logger.child({ component: 'app' }), {
      started: () => undefined,
      exited: (instance) => health.processExited(instance),
      gaveUp: (_instance, reason) => void self?.shutdown(CRASH_LOOP_EXIT_CODE, reason),
    }, env, cgroups?.groups ?? []);
    let egressRegistry = options.egressRegistry ?? null;
    if (sc.egress.enabled && egressRegistry === null) {
      // Egress reads the catalog through the same agent the instance registers with.
      try {
        const registryConfig = registrySchema.parse({ type: 'consul', address: consulAddress, ...(consulToken ? { token: consulToken } : {}) });
        egressRegistry = createRegistry(registryConfig, options.configFile ?? `${process.cwd()}/sidecar`, logger);
      } catch (err) {
        certificates?.close();
        await cgroups?.close();
        await recording.close();
        throw err;
      }
    }
    let connect: ConnectProxy | null = null;
    if (sc.connect.enabled && registration !== null) {
      // Connect upstreams join the egress view (their mTLS endpoints replace their plain instances).
      connect = new ConnectProxy(sc, config, { origin: consulOrigin(consulAddress), token: consulToken, instance: registration.registration, egressRegistry, logger: logger.child({ component: 'connect' }) });
      egressRegistry = connect.registry;
    }
    self = new Sidecar(sc, logger, inbound, supervisor, health, registration, egressRegistry, cgroups, recording);
    self.connect = connect;
    const sidecar = self;
    recording.setSources({
      services: () => sidecar.endpointCounts(),
      clientConnections: () => [{ listener: 'inbound', open: inbound.openConnections }, ...(sidecar.egress ? [{ listener: 'egress', open: sidecar.egress.openConnections }] : [])],
      registry: () => sidecar.egressRegistryMetrics(),
    });

    try {
      const address = await inbound.listen();
      logger.info({ address: address.address, port: address.port, protocols: inbound.protocols, tls: certificates !== null, appPorts: ports, appProtocol: sc.app.protocol, maxConcurrent: sc.inbound.maxConcurrent, queue: sc.inbound.queue }, 'sidecar inbound listening');
      if (connect !== null) {
        const c = await connect.start(inbound.limiter);
        if (!sc.egress.enabled) await connect.registry.start();
        logger.info({ address: c.address, port: c.port, upstreams: Object.fromEntries([...connect.upstreamAddresses].map(([s, a]) => [s, `${a.address}:${a.port}`])) }, 'sidecar Connect (mTLS) listening');
      }
      if (sc.egress.enabled) {
        if (!self.egressRegistry) throw new Error('sidecar.egress is enabled but no registry was given to find other services');
        await self.egressRegistry.start();
        self.egress = new EgressProxy(sc.egress, config, self.egressRegistry, logger, recording.observer('egress'), recording.metrics, connect?.upstreamTls.resolve);
        const e = await self.egress.start();
        logger.info({ address: e.address, port: e.port, protocols: sc.egress.protocols }, 'sidecar egress listening: /<service>/... or Host: <service>');
      }
      if (sc.admin.enabled) {
        self.admin = new SidecarAdminServer(sc.admin, { metrics: () => sidecar.metricsText(), status: () => sidecar.status() }, logger.child({ component: 'admin' }));
        const a = await self.admin.listen();
        logger.info({ address: a.address, port: a.port }, 'sidecar admin listening: GET /metrics, GET /status');
      }
    } catch (err) {
      await inbound.drain(0);
      await inbound.close();
      await connect?.drain(0);
      await connect?.close(0);
      await self.egress?.close(0);
      await self.admin?.close();
      await registration?.close();
      await cgroups?.close();
      await recording.close();
      throw err;
    }
    await registration?.start();
    await connect?.register(inbound.address.port, sc.consul.syncInterval);
    supervisor.start();
    health.start();
    const mem = sc.app.memory;
    if (mem.rssLimit !== undefined) {
      self.rssGuard = new RssGuard(
        { limitBytes: mem.rssLimit, forMs: mem.rssLimitFor, intervalMs: mem.rssCheckInterval },
        (i) => supervisor.pid(i),
        sc.app.instances,
        (i, reason) => supervisor.restart(i, reason),
        logger.child({ component: 'rss-guard' }),
      );
      self.rssGuard.start();
    }
    return self;
  }

  get inboundAddress(): AddressInfo {
    return this.inbound.address;
  }

  get egressAddress(): AddressInfo | null {
    return this.egress?.address ?? null;
  }

  /** The mTLS listener (connect.enabled), else null. */
  get connectAddress(): AddressInfo | null {
    return this.connect?.address ?? null;
  }

  /** Local listeners of the Connect upstreams, by service. */
  get connectUpstreamAddresses(): Map<string, AddressInfo> {
    return this.connect?.upstreamAddresses ?? new Map();
  }

  get adminAddress(): AddressInfo | null {
    return this.admin?.address ?? null;
  }

  /** Instances, their processes and (with limits) their cgroup usage, read now. */
  async status(): Promise<SidecarStatus> {
    const health = this.health.view;
    const groups = this.cgroups?.groups ?? [];
    const usages = await Promise.all(groups.map((g) => g.usage()));
    const driver = this.cgroups?.driver;
    return {
      service: this.config.service,
      cgroups: driver && this.cgroups ? { version: driver.version, controllers: driver.controllers, parents: driver.parents, limits: this.cgroups.limits } : null,
      instances: this.supervisor.states().map((state) => {
        const group = groups[state.instance];
        const usage = usages[state.instance];
        return { ...state, healthy: health[state.instance] ?? false, cgroup: group && usage ? { paths: group.paths, usage } : null };
      }),
    };
  }

  /**
   * The sidecar's metrics in Prometheus text: its own (instances, read now) and the router's
   * request, upstream and process families for both directions.
   */
  async metricsText(): Promise<string> {
    const status = await this.status();
    const limits = this.cgroups?.limits ?? null;
    for (const instance of status.instances) this.metrics.update(instance, instance.cgroup?.usage ?? null, limits);
    const [own, requests] = await Promise.all([this.metrics.text(), this.recording.text()]);
    const text = `${own}\n${requests}`;
    return this.connect === null ? text : text + (await this.connect.metricsText());
  }

  /** Endpoint counts of the app (inbound) and of every service egress knows. */
  private *endpointCounts(): Iterable<{ name: string; total: number; healthy: number; drained: number; panic: boolean }> {
    yield this.inbound.endpoints;
    if (this.egress) yield* this.egress.endpoints();
  }

  /** The registry gauges describe the egress registry; without egress there is none to go stale. */
  private egressRegistryMetrics(): ReturnType<MetricsSources['registry']> {
    const registry = this.egress ? this.egressRegistry : null;
    if (registry === null) return { synced: true, lastSyncAt: null, syncErrors: 0, staleSince: undefined };
    const st = registry.status();
    return { synced: st.synced, lastSyncAt: st.lastSyncAt, syncErrors: st.syncErrors ?? 0, staleSince: st.staleSince, consul: st.consul, servingPersistedView: st.persistedView?.serving };
  }

  get serviceId(): string | null {
    return this.registration?.serviceId ?? null;
  }

  /** Requests being forwarded or waiting on the inbound side. */
  get inFlight(): number {
    return this.inbound.limiter.inFlight;
  }

  /** Forwards a signal (SIGHUP, SIGUSR1, SIGUSR2, ...) to every app instance. */
  forward(signal: NodeJS.Signals): void {
    this.supervisor.forward(signal);
  }

  /** Graceful stop; resolves with the exit code (0 unless the app crash-looped). */
  stop(reason = 'stop requested'): Promise<number> {
    return this.shutdown(0, reason);
  }

  private shutdown(code: number, reason: string): Promise<number> {
    this.shuttingDown ??= this.runShutdown(code, reason).then(
      () => code,
      (err: unknown) => {
        this.logger.error({ err }, 'sidecar shutdown failed');
        return code === 0 ? 1 : code;
      },
    );
    void this.shuttingDown.then((c) => this.resolveDone(c));
    return this.shuttingDown;
  }

  private async runShutdown(code: number, reason: string): Promise<void> {
    const s = this.config.shutdown;
    this.logger.info({ reason, exitCode: code }, 'sidecar shutting down: maintenance, drain, deregister, stop the app');
    this.rssGuard?.stop();
    if (this.registration) {
      await this.registration.enterMaintenance(`${s.maintenanceReason}: ${reason}`);
      await this.connect?.enterMaintenance(`${s.maintenanceReason}: ${reason}`);
      if (this.registration.isRegistered && s.drainDelay > 0) {
        this.logger.info({ drainDelayMs: s.drainDelay }, 'maintenance on; still serving while callers see it');
        await new Promise((r) => setTimeout(r, s.drainDelay));
      }
    }
    this.logger.info({ inFlight: this.inFlight, drainTimeoutMs: s.drainTimeout }, 'draining in-flight requests');
    await Promise.all([this.inbound.drain(s.drainTimeout), this.connect?.drain(s.drainTimeout)]);
    this.logger.info({}, 'drained');
    await this.connect?.deregister();
    await this.registration?.deregister();
    await this.health.stop();
    await this.supervisor.stop();
    await this.cgroups?.close();
    await this.egress?.close(s.drainTimeout);
    await this.connect?.close(s.drainTimeout);
    await this.egressRegistry?.close();
    await this.inbound.close();
    await this.registration?.close();
    await this.admin?.close();
    this.logger.info({ exitCode: code }, 'sidecar stopped');
    await this.recording.close();
  }

  private onHealth(view: readonly boolean[]): void {
    this.inbound.setHealth(view);
    const healthy = view.filter(Boolean).length;
    const status: CheckStatus = healthy === view.length ? 'passing' : healthy > 0 ? 'warning' : 'critical';
    void this.registration?.setStatus(status, this.health.describe());
    this.connect?.setStatus(status, this.health.describe());
  }
}

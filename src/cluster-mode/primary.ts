import cluster, { type Worker } from 'node:cluster';
import { randomUUID } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { AggregatorRegistry } from 'prom-client';
import { request } from 'undici';
import { warnIfReadsOpen } from '../admin/admin-access.js';
import { MetricsListener } from '../admin/metrics-listener.js';
import { listenerProtocols, type Config } from '../config/schema.js';
import { createLogger, type Logger } from '../observability/logger.js';
import { SWITCHYARD_VERSION } from '../observability/build-info.js';
import { ClusterAdminServer, type WorkerAdmin } from './cluster-admin-server.js';
import { isWorkerMessage, type PrimaryMessage } from './worker-messages.js';

/** Restart delay after a worker died: doubles per quick death, from 100 ms up to 10 s. */
const RESTART_INITIAL_MS = 100;
const RESTART_MAX_MS = 10_000;
/** A worker that served this long before dying is restarted after the initial delay again. */
const STABLE_AFTER_MS = 30_000;
/** Beyond shutdown.gracePeriod, how long the primary waits for a worker to exit before killing it. */
const EXIT_MARGIN_MS = 5_000;

/** The number of worker processes `workers` asks for. */
export function workerCount(config: Config): number {
  return config.workers === 'auto' ? availableParallelism() : config.workers;
}

interface Slot {
  readonly slot: number;
  worker: Worker | null;
  startedAt: number;
  /** Deaths in a row without serving STABLE_AFTER_MS. */
  quickDeaths: number;
  adminPort: number | null;
  serving: boolean;
  restartTimer: NodeJS.Timeout | null;
}

/**
 * The cluster-mode primary: forks `workers` processes that run the router and share the
 * listener ports (node:cluster, round-robin accept on Linux), and supervises them:
 * - a worker that dies is forked again after a backoff (logged with its exit code or signal);
 * - SIGHUP is relayed to every worker as a reload;
 * - SIGTERM/SIGINT asks every worker to drain (as a single process does on SIGTERM), and the
 *   primary exits 0 once all have exited (1 if one had to be killed or failed); a second one
 *   makes them skip the rest of the drain delay;
 * - the admin listener is the primary's (ClusterAdminServer): /metrics aggregated across
 *   workers, reads answered by one worker, mutations applied to all; so is the metrics
 *   listener (admin.metricsListener): the same aggregated /metrics, /healthz, and /readyz
 *   (ready while a worker serves and the cluster is not stopping).
 * Resolves only with the exit code; the process is expected to exit with it.
 */
export class ClusterPrimary {
  private readonly slots: Slot[];
  private readonly logger: Logger;
  private admin: ClusterAdminServer | null = null;
  private metricsListener: MetricsListener | null = null;
  /** Asks every worker for its metrics over IPC and merges them (counters summed, gauges by their aggregator). */
  private readonly aggregator = new AggregatorRegistry();
  private started = false;
  private stopping = false;
  private failed = false;
  private finish: (code: number) => void = () => undefined;
  /**
   * Given to every worker: the workers all apply every admin mutation and store the same
   * operator state under this writer id, so none of them re-applies another's write.
   */
  private readonly clusterId = randomUUID();

  constructor(
    private readonly configFile: string,
    private readonly config: Config,
  ) {
    this.logger = createLogger({ level: config.logging.level, maxBuffer: config.logging.maxBuffer }).child({ component: 'cluster' });
    this.slots = Array.from({ length: workerCount(config) }, (_, i) => ({
      slot: i + 1,
      worker: null,
      startedAt: 0,
      quickDeaths: 0,
      adminPort: null,
      serving: false,
      restartTimer: null,
    }));
  }

  run(): Promise<number> {
    const done = new Promise<number>((resolve) => (this.finish = resolve));
    // Round-robin accept in the primary (the default on Linux): even spread across workers.
    cluster.schedulingPolicy = cluster.SCHED_RR;
    cluster.on('message', (worker, message: unknown) => {
      if (isWorkerMessage(message)) this.onReady(worker, message.adminPort);
    });
    cluster.on('exit', (worker, code, signal) => this.onExit(worker, code, signal));
    process.on('SIGTERM', () => this.onStopSignal('SIGTERM'));
    process.on('SIGINT', () => this.onStopSignal('SIGINT'));
    process.on('SIGHUP', () => {
      this.logger.info({ signal: 'SIGHUP', workers: this.slots.length }, 'reloading the configuration in every worker');
      this.broadcast({ type: 'switchyard:reload' });
    });
    this.logger.info({ workers: this.slots.length, config: this.configFile, pid: process.pid }, 'cluster primary starting workers');
    for (const s of this.slots) this.fork(s);
    return done;
  }

  /** Admin listener ports of the serving workers, in slot order. */
  private servingAdmins(): WorkerAdmin[] {
    const out: WorkerAdmin[] = [];
    for (const s of this.slots) {
      if (s.serving && s.adminPort !== null && s.worker?.process.pid !== undefined) out.push({ slot: s.slot, pid: s.worker.process.pid, port: s.adminPort });
    }
    return out;
  }

  private fork(s: Slot): void {
    s.restartTimer = null;
    s.serving = false;
    s.adminPort = null;
    s.startedAt = Date.now();
    s.worker = cluster.fork({ SWITCHYARD_WORKER_SLOT: String(s.slot), SWITCHYARD_CLUSTER_ID: this.clusterId });
    this.logger.info({ slot: s.slot, pid: s.worker.process.pid }, 'worker forked');
  }

  private slotOf(worker: Worker): Slot | undefined {
    return this.slots.find((s) => s.worker === worker);
  }

  private onReady(worker: Worker, adminPort: number | null): void {
    const s = this.slotOf(worker);
    if (s === undefined) return;
    s.serving = true;
    s.adminPort = adminPort;
    this.logger.info({ slot: s.slot, pid: worker.process.pid }, 'worker serving');
    if (!this.started && this.slots.every((x) => x.serving)) void this.onAllServing();
  }

  private async onAllServing(): Promise<void> {
    this.started = true;
    const banner = [`Switchyard ${SWITCHYARD_VERSION} is routing (config ${this.configFile}, ${this.slots.length} workers, primary pid ${process.pid})`];
    for (const l of this.config.listeners) banner.push(`  listener ${l.name ?? `${l.address}:${l.port}`}: http${l.tls ? 's' : ''}://${l.address}:${l.port} (${listenerProtocols(l).join(', ')})`);
    const admin = this.config.admin;
    const adminLogger = this.logger.child({ component: 'admin' });
    const metrics = () => this.clusterMetrics();
    if (admin.enabled) {
      this.admin = new ClusterAdminServer(() => this.servingAdmins(), adminLogger, { metrics, token: admin.token, readToken: admin.readToken, stopping: () => this.stopping });
      try {
        const a = await this.admin.listen(admin.port, admin.address);
        banner.push(`  admin:            http://${a.address}:${a.port}/ (status page, /metrics aggregated across workers, /api/v1)`);
        warnIfReadsOpen(admin, adminLogger);
      } catch (err) {
        this.logger.error({ err, address: admin.address, port: admin.port }, 'cannot open the admin listener; stopping the workers');
        this.failed = true;
        this.shutdown('admin listener failed');
        return;
      }
    }
    if (admin.metricsListener) {
      this.metricsListener = new MetricsListener({ metrics, ready: () => this.clusterReady() }, adminLogger);
      try {
        const m = await this.metricsListener.listen(admin.metricsListener.port, admin.metricsListener.address);
        banner.push(`  metrics:          http://${m.address}:${m.port}/metrics (aggregated across workers; /healthz, /readyz)`);
      } catch (err) {
        this.logger.error({ err, address: admin.metricsListener.address, port: admin.metricsListener.port }, 'cannot open the metrics listener; stopping the workers');
        this.failed = true;
        this.shutdown('metrics listener failed');
        return;
      }
    }
    process.stderr.write(`${banner.join('\n')}\n`);
  }

  /**
   * Readiness of the cluster: not while stopping; else the first serving worker's /readyz (it
   * holds the registry state and any readiness failed through the admin API, which every
   * worker applies), or, with the admin listener off, whether a worker serves.
   */
  private async clusterReady(): Promise<boolean> {
    if (this.stopping) return false;
    const admins = this.servingAdmins();
    if (admins.length === 0) return this.slots.some((s) => s.serving);
    return workerReady(admins[0]!, this.logger);
  }

  private async clusterMetrics(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.aggregator.contentType, body: await this.aggregator.clusterMetrics() };
  }

  private onExit(worker: Worker, code: number | null, signal: string | null): void {
    const s = this.slotOf(worker);
    if (s === undefined) return;
    s.worker = null;
    s.serving = false;
    if (code !== 0) this.failed ||= this.stopping;
    if (this.stopping) {
      this.logger.info({ slot: s.slot, pid: worker.process.pid, code, signal }, 'worker exited');
      if (this.slots.every((x) => x.worker === null)) this.exit();
      return;
    }
    if (!this.started) {
      // A worker that cannot start (port taken, bad TLS files, registry down) will not start on retry either.
      this.logger.error({ slot: s.slot, pid: worker.process.pid, code, signal }, 'worker failed to start; stopping the cluster (see the worker\'s error above)');
      this.failed = true;
      this.shutdown('worker failed to start');
      return;
    }
    if (Date.now() - s.startedAt >= STABLE_AFTER_MS) s.quickDeaths = 0;
    const delay = Math.min(RESTART_MAX_MS, RESTART_INITIAL_MS * 2 ** s.quickDeaths);
    s.quickDeaths++;
    this.logger.warn({ slot: s.slot, pid: worker.process.pid, code, signal, restartInMs: delay, quickDeaths: s.quickDeaths }, 'worker died; restarting it');
    s.restartTimer = setTimeout(() => this.fork(s), delay);
  }

  private broadcast(message: PrimaryMessage): void {
    for (const s of this.slots) {
      if (s.worker?.isConnected()) s.worker.send(message);
    }
  }

  /**
   * The first SIGTERM/SIGINT starts the shutdown; another one is relayed to the workers, which
   * then skip the rest of their drain delay (as a single process does on a second signal).
   */
  private onStopSignal(signal: NodeJS.Signals): void {
    if (!this.stopping) {
      this.shutdown(signal);
      return;
    }
    this.logger.info({ signal }, 'second stop signal: every worker skips the rest of its drain delay');
    this.broadcast({ type: 'switchyard:shutdown' });
  }

  private shutdown(reason: string): void {
    if (this.stopping) return;
    this.stopping = true;
    const { drainDelay, gracePeriod: graceMs } = this.config.shutdown;
    this.logger.info({ reason, drainDelayMs: drainDelay, gracePeriodMs: graceMs }, 'shutting down: every worker fails readiness, serves for the drain delay, drains and exits');
    for (const s of this.slots) {
      if (s.restartTimer !== null) clearTimeout(s.restartTimer);
      s.restartTimer = null;
    }
    this.broadcast({ type: 'switchyard:shutdown' });
    const kill = setTimeout(() => {
      for (const s of this.slots) {
        if (s.worker === null) continue;
        this.logger.error({ slot: s.slot, pid: s.worker.process.pid, waitedMs: drainDelay + graceMs + EXIT_MARGIN_MS }, 'worker did not exit after its drain delay and grace period; killing it');
        this.failed = true;
        s.worker.process.kill('SIGKILL');
      }
    }, drainDelay + graceMs + EXIT_MARGIN_MS);
    kill.unref();
    if (this.slots.every((x) => x.worker === null)) this.exit();
  }

  private exit(): void {
    const code = this.failed ? 1 : 0;
    const listeners = [this.admin, this.metricsListener];
    this.admin = null;
    this.metricsListener = null;
    void Promise.all(listeners.map((l) => l?.close())).then(() => {
      this.logger.info({ code }, 'cluster stopped');
      this.logger.flush(() => this.finish(code));
    });
  }
}

/** A worker's own /readyz (its admin listener on 127.0.0.1); an unreachable worker is not ready. */
async function workerReady(worker: WorkerAdmin, logger: Logger): Promise<boolean> {
  try {
    const res = await request(`http://127.0.0.1:${worker.port}/readyz`, { headersTimeout: 5_000, bodyTimeout: 5_000 });
    await res.body.dump();
    return res.statusCode === 200;
  } catch (err) {
    // Refused or timed out: a worker exiting or stuck; the probe says not ready rather than failing.
    logger.debug({ slot: worker.slot, pid: worker.pid, err }, 'worker did not answer /readyz; the cluster reports not ready');
    return false;
  }
}

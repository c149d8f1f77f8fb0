import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import type { HealthCheckConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { ClusterStats } from './cluster-stats.js';
import { HealthFlag, type Endpoint } from './endpoint.js';
import { probeGrpcHealth, type GrpcProbeClient } from './grpc-health-probe.js';

/**
 * Active health checks for one cluster: one probe loop per endpoint, HTTP (GET path, expected
 * statuses, Host header), TCP (connect) or gRPC (the standard grpc.health.v1.Health/Check over
 * HTTP/2, h2c or TLS as the endpoint's TLS options say, on the service's HTTP/2 client: the
 * codec, or node:http2 with `http2Client: node`; see grpc-health-probe.ts). A loop
 * waits interval + random jitter after each probe ends, so there is never more than one probe
 * in flight per endpoint and probes of many endpoints do not align. `unhealthyThreshold`
 * failures in a row set the endpoint's activeCheck health flag; `healthyThreshold` passes in a
 * row clear it. Endpoints start healthy (the registry vouches for them) and get their first
 * probe within one jitter. Probes use their own short-lived connections, never the request
 * pools; stop() cancels a probe in flight.
 */
export class HealthChecker {
  private readonly probes = new Map<Endpoint, EndpointProbe>();

  constructor(
    private readonly service: string,
    readonly settings: HealthCheckConfig,
    private readonly stats: ClusterStats,
    private readonly logger: Logger,
    /** The service's `http2Client`: what the gRPC probes run on. */
    private readonly http2Client: GrpcProbeClient = 'switchyard',
  ) {}

  /** Starts probes for new endpoints and stops those of endpoints that left. */
  sync(endpoints: readonly Endpoint[]): void {
    const keep = new Set(endpoints);
    for (const [endpoint, probe] of this.probes) {
      if (keep.has(endpoint)) continue;
      probe.stop();
      this.probes.delete(endpoint);
    }
    for (const endpoint of endpoints) {
      if (this.probes.has(endpoint)) continue;
      const probe = new EndpointProbe(endpoint, this.service, this.settings, this.stats, this.logger, this.http2Client);
      this.probes.set(endpoint, probe);
      probe.start();
    }
  }

  /** Stops every probe and clears the health flags they set. */
  stop(): void {
    for (const probe of this.probes.values()) {
      probe.stop();
      probe.endpoint.setHealthFlag(HealthFlag.activeCheck, false);
    }
    this.probes.clear();
  }
}

/** The probe loop of one endpoint. */
class EndpointProbe {
  private timer: NodeJS.Timeout | null = null;
  private stopped = false;
  private passes = 0;
  private failures = 0;
  /** The probe in flight, so stop() can cancel it. */
  private current: { destroy(): void } | null = null;

  constructor(
    readonly endpoint: Endpoint,
    private readonly service: string,
    private readonly settings: HealthCheckConfig,
    private readonly stats: ClusterStats,
    private readonly logger: Logger,
    private readonly http2Client: GrpcProbeClient,
  ) {}

  start(): void {
    this.schedule(Math.random() * Math.min(this.settings.jitter, this.settings.interval));
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.current?.destroy();
    this.current = null;
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => this.run(), delay);
    this.timer.unref();
  }

  private run(): void {
    this.timer = null;
    if (this.settings.type === 'tcp') this.probeTcp();
    else if (this.settings.type === 'grpc') this.probeGrpc();
    else this.probeHttp();
  }

  private probeGrpc(): void {
    const probe = probeGrpcHealth(this.endpoint, this.settings.grpcService, this.settings.timeout, (ok, detail) => {
      this.current = null;
      this.record(ok, detail);
    }, this.http2Client);
    this.current = probe;
  }

  private probeHttp(): void {
    const { instance } = this.endpoint;
    const s = this.settings;
    let done = false;
    const req = httpRequest({
      host: instance.address,
      port: instance.port,
      method: 'GET',
      path: s.path,
      headers: { host: s.host ?? this.endpoint.key, 'user-agent': 'switchyard-health-check', connection: 'close' },
      agent: false,
    });
    const timer = setTimeout(() => req.destroy(new Error(`no response within ${s.timeout}ms`)), s.timeout);
    const settle = (ok: boolean, reason: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.current = null;
      this.record(ok, reason);
    };
    req.on('response', (res: IncomingMessage) => {
      const status = res.statusCode ?? 0;
      res.resume();
      const ok = s.expectedStatuses.some(([lo, hi]) => status >= lo && status <= hi);
      settle(ok, `status ${status}`);
      req.destroy();
    });
    req.on('error', (err: Error) => settle(false, err.message));
    req.on('close', () => settle(false, 'connection closed before a response'));
    this.current = req;
    req.end();
  }

  private probeTcp(): void {
    const { instance } = this.endpoint;
    let done = false;
    const socket: Socket = connect({ host: instance.address, port: instance.port });
    socket.setTimeout(this.settings.timeout, () => socket.destroy(new Error(`no connection within ${this.settings.timeout}ms`)));
    const settle = (ok: boolean, reason: string): void => {
      if (done) return;
      done = true;
      this.current = null;
      socket.destroy();
      this.record(ok, reason);
    };
    socket.once('connect', () => settle(true, 'connected'));
    socket.once('error', (err: Error) => settle(false, err.message));
    socket.once('close', () => settle(false, 'connection closed'));
    this.current = socket;
  }

  private record(ok: boolean, reason: string): void {
    if (this.stopped) return;
    this.endpoint.lastHealthCheck = { ok, detail: reason, at: Date.now() };
    const s = this.settings;
    const failing = (this.endpoint.healthFlags & HealthFlag.activeCheck) !== 0;
    if (ok) {
      this.passes++;
      this.failures = 0;
      if (failing && this.passes >= s.healthyThreshold) {
        this.endpoint.setHealthFlag(HealthFlag.activeCheck, false);
        this.logger.info({ service: this.service, endpoint: this.endpoint.key }, 'health check passing: endpoint back in rotation');
      }
    } else {
      this.failures++;
      this.passes = 0;
      this.stats.healthCheckFailures++;
      if (!failing && this.failures >= s.unhealthyThreshold) {
        this.endpoint.setHealthFlag(HealthFlag.activeCheck, true);
        this.logger.warn({ service: this.service, endpoint: this.endpoint.key, reason }, 'health check failing: endpoint taken out of rotation');
      }
    }
    this.schedule(s.interval + Math.random() * s.jitter);
  }
}

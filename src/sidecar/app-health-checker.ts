import { connect as connectHttp2 } from 'node:http2';
import { Agent, request } from 'undici';
import type { SidecarConfig } from '../config/sidecar-schema.js';
import type { Logger } from '../observability/logger.js';
import { probeGrpcHealth } from '../upstream/grpc-health-probe.js';

interface InstanceHealth {
  readonly instance: number;
  readonly url: string;
  /** `127.0.0.1:<port>`, where a gRPC probe connects. */
  readonly key: string;
  healthy: boolean;
  successes: number;
  failures: number;
  timer: NodeJS.Timeout | null;
  /** The HTTP/2 (gRPC or h2c GET) probe in flight, so stop() can cancel it. */
  http2Probe: { destroy(): void } | null;
  lastOutput: string;
}

/**
 * The sidecar's own active health check of each app instance: GET <path> every interval, 2xx
 * within the timeout is a success; or (type grpc) the standard gRPC health check
 * (grpc.health.v1.Health/Check over h2c, the router's probe: upstream/grpc-health-probe.ts),
 * SERVING within the timeout is a success. An app that speaks h2c (app.protocol h2c or grpc)
 * gets its http check as an HTTP/2 GET (prior knowledge) on a session of its own: it may not
 * answer HTTP/1.1 at all. An instance turns healthy after `healthyThreshold`
 * consecutive successes and unhealthy after `unhealthyThreshold` consecutive failures; one
 * whose process exited is unhealthy at once. `onChange` gets the whole view on each flip.
 */
export class AppHealthChecker {
  private readonly instances: InstanceHealth[];
  private readonly agent: Agent;
  private stopped = false;

  constructor(
    private readonly settings: SidecarConfig['app']['healthCheck'],
    ports: readonly number[],
    private readonly logger: Logger,
    private readonly onChange: (healthy: readonly boolean[]) => void,
    /** The app speaks cleartext HTTP/2 only (app.protocol h2c or grpc). */
    private readonly h2c = false,
  ) {
    this.instances = ports.map((port, instance) => ({
      instance,
      url: `http://127.0.0.1:${port}${settings.path}`,
      key: `127.0.0.1:${port}`,
      healthy: false,
      successes: 0,
      failures: 0,
      timer: null,
      http2Probe: null,
      lastOutput: 'not checked yet',
    }));
    this.agent = new Agent({ connections: 1, keepAliveTimeout: Math.max(settings.interval * 2, 1_000) });
  }

  get view(): readonly boolean[] {
    return this.instances.map((i) => i.healthy);
  }

  /** One line per instance for the Consul check output. */
  describe(): string {
    const healthy = this.instances.filter((i) => i.healthy).length;
    const lines = this.instances.map((i) => `instance ${i.instance}: ${i.healthy ? 'healthy' : 'unhealthy'} (${i.lastOutput})`);
    return `${healthy}/${this.instances.length} app instance(s) healthy\n${lines.join('\n')}`;
  }

  start(): void {
    for (const i of this.instances) this.schedule(i, 0);
  }

  /** The instance's process exited: unhealthy now, checks continue (they fail until it is back). */
  processExited(instance: number): void {
    const i = this.instances[instance];
    if (!i) return;
    i.successes = 0;
    i.failures = this.settings.unhealthyThreshold;
    i.lastOutput = 'process exited';
    this.set(i, false);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    for (const i of this.instances) {
      if (i.timer) clearTimeout(i.timer);
      i.http2Probe?.destroy();
      i.http2Probe = null;
    }
    await this.agent.close();
  }

  private schedule(i: InstanceHealth, delay: number): void {
    if (this.stopped) return;
    i.timer = setTimeout(() => (this.settings.type === 'grpc' ? this.probeGrpc(i) : this.h2c ? this.probeHttp2(i) : void this.probe(i)), delay);
  }

  private probeGrpc(i: InstanceHealth): void {
    const service = this.settings.grpcService;
    const what = service === '' ? 'grpc health' : `grpc health of "${service}"`;
    i.http2Probe = probeGrpcHealth({ key: i.key, tls: null }, service, this.settings.timeout, (ok, detail) => {
      i.http2Probe = null;
      i.lastOutput = `${what}: ${detail}`;
      this.record(i, ok);
    });
  }

  /** GET <path> over cleartext HTTP/2 on a session of its own, closed when the probe ends. */
  private probeHttp2(i: InstanceHealth): void {
    const path = this.settings.path;
    const session = connectHttp2(`http://${i.key}`);
    let done = false;
    const settle = (ok: boolean, output: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      session.destroy();
      i.http2Probe = null;
      i.lastOutput = `GET ${path} (h2c): ${output}`;
      this.record(i, ok);
    };
    const timer = setTimeout(() => settle(false, `no response within ${this.settings.timeout}ms`), this.settings.timeout);
    session.on('error', (err: Error & { code?: string }) => settle(false, err.code ?? err.message));
    session.on('close', () => settle(false, 'connection closed before a response'));
    const stream = session.request({ ':method': 'GET', ':path': path, 'user-agent': 'switchyard-sidecar-health' });
    stream.on('response', (headers) => {
      const status = Number(headers[':status']);
      settle(status >= 200 && status < 300, String(status));
    });
    stream.on('error', (err: Error & { code?: string }) => settle(false, err.code ?? err.message));
    stream.end();
    i.http2Probe = {
      destroy: () => {
        done = true;
        clearTimeout(timer);
        session.destroy();
      },
    };
  }

  private async probe(i: InstanceHealth): Promise<void> {
    let ok = false;
    try {
      const res = await request(i.url, { dispatcher: this.agent, headersTimeout: this.settings.timeout, bodyTimeout: this.settings.timeout, headers: { 'user-agent': 'switchyard-sidecar-health' } });
      await res.body.dump();
      ok = res.statusCode >= 200 && res.statusCode < 300;
      i.lastOutput = `GET ${this.settings.path}: ${res.statusCode}`;
    } catch (err) {
      i.lastOutput = `GET ${this.settings.path}: ${(err as Error & { code?: string }).code ?? (err as Error).message}`;
    }
    this.record(i, ok);
  }

  /** One probe's result: thresholds, the flip, the next probe. */
  private record(i: InstanceHealth, ok: boolean): void {
    if (ok) {
      i.failures = 0;
      i.successes++;
      if (!i.healthy && i.successes >= this.settings.healthyThreshold) this.set(i, true);
    } else {
      i.successes = 0;
      i.failures++;
      if (i.healthy && i.failures >= this.settings.unhealthyThreshold) this.set(i, false);
    }
    this.schedule(i, this.settings.interval);
  }

  private set(i: InstanceHealth, healthy: boolean): void {
    if (i.healthy === healthy || this.stopped) return;
    i.healthy = healthy;
    this.logger.info({ instance: i.instance, healthy, output: i.lastOutput }, healthy ? 'app instance is healthy' : 'app instance is unhealthy');
    this.onChange(this.view);
  }
}

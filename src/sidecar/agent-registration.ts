import type { SidecarConfig } from '../config/sidecar-schema.js';
import type { Logger } from '../observability/logger.js';
import { ConsulAgentError, type AgentServiceRegistration, type CheckStatus, type ConsulAgentClient } from './consul-agent-client.js';

/** Go duration text Consul accepts ("10s", "1500ms"). */
function goDuration(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

const WILDCARD_ADDRESSES = new Set(['0.0.0.0', '::', '[::]']);

/** The service ID used when the config names none: "<service>-<hostname>-<port>". */
export function defaultServiceId(sidecar: SidecarConfig, hostname: string): string {
  return `${sidecar.service}-${hostname}-${sidecar.port}`;
}

/**
 * The registration the sidecar sends. Address: `consul.advertiseAddress`, else the inbound
 * address when it is a specific one, else "" (Consul then uses the agent's node address).
 * The check is a TTL check the sidecar keeps updated from its own view of the app, or an
 * HTTP check of the inbound port (so the agent sees what callers see).
 */
export function buildRegistration(sidecar: SidecarConfig, hostname: string): AgentServiceRegistration {
  const c = sidecar.consul;
  const id = c.id ?? defaultServiceId(sidecar, hostname);
  const address = c.advertiseAddress ?? (WILDCARD_ADDRESSES.has(sidecar.inbound.address) ? '' : sidecar.inbound.address);
  const deregister = c.check.deregisterCriticalAfter > 0 ? { DeregisterCriticalServiceAfter: goDuration(c.check.deregisterCriticalAfter) } : {};
  const checkId = `service:${id}`;
  const name = `Switchyard sidecar: ${sidecar.service} app health`;
  const check: AgentServiceRegistration['Check'] =
    c.check.type === 'ttl'
      ? { CheckID: checkId, Name: name, TTL: goDuration(c.check.ttl), Notes: 'Updated by the Switchyard sidecar from its own health checks of the app.', ...deregister }
      : {
          CheckID: checkId,
          Name: name,
          HTTP: `http://${address === '' ? '127.0.0.1' : address.includes(':') ? `[${address}]` : address}:${sidecar.port}${sidecar.app.healthCheck.path}`,
          Interval: goDuration(c.check.interval),
          Timeout: goDuration(c.check.timeout),
          Notes: 'The agent requests the app health path through the Switchyard sidecar.',
          ...deregister,
        };
  return {
    ID: id,
    Name: sidecar.service,
    Tags: [...c.tags],
    Address: address,
    Port: sidecar.port,
    Meta: { ...c.meta },
    Weights: { Passing: c.weights.passing, Warning: c.weights.warning },
    Check: check,
  };
}

/**
 * Keeps this instance registered with the local Consul agent: registers at start (retrying
 * while the agent is unreachable), pushes the sidecar's view of the app into the TTL check on
 * every change and every ttl/3, registers again when the agent has forgotten the instance
 * (404 on a TTL update, or on GET /v1/agent/service/<id> for HTTP checks), and on shutdown
 * turns maintenance on and, once drained, deregisters. Every agent call goes through one
 * queue, so calls reach the agent in the order they were made.
 */
export class AgentRegistration {
  private status: CheckStatus = 'critical';
  private output = 'starting';
  private registered = false;
  private timer: NodeJS.Timeout | null = null;
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;
  private lastError: string | null = null;
  private readonly syncEveryMs: number;

  constructor(
    readonly registration: AgentServiceRegistration,
    private readonly client: ConsulAgentClient,
    private readonly checkType: 'ttl' | 'http',
    ttlMs: number,
    syncIntervalMs: number,
    private readonly logger: Logger,
  ) {
    this.syncEveryMs = checkType === 'ttl' ? Math.max(Math.floor(ttlMs / 3), 50) : syncIntervalMs;
  }

  get serviceId(): string {
    return this.registration.ID;
  }

  get checkId(): string {
    return this.registration.Check.CheckID;
  }

  get isRegistered(): boolean {
    return this.registered;
  }

  /** Registers now (or keeps trying in the background) and starts the keep-alive loop. */
  start(): Promise<void> {
    const first = this.enqueue(() => this.sync());
    this.scheduleSync();
    return first;
  }

  /** The sidecar's view of the app changed: push it (TTL checks) at once. */
  setStatus(status: CheckStatus, output: string): Promise<void> {
    if (this.stopped || (status === this.status && output === this.output)) return this.chain;
    this.status = status;
    this.output = output;
    if (this.checkType !== 'ttl') return this.chain;
    return this.enqueue(() => this.sync());
  }

  /** Shutdown, step 1: maintenance on, so callers stop picking this instance. */
  enterMaintenance(reason: string): Promise<void> {
    this.stopLoop();
    return this.enqueue(async () => {
      if (!this.registered) return;
      try {
        await this.client.maintenance(this.serviceId, true, reason);
        this.logger.info({ serviceId: this.serviceId, reason }, 'consul: maintenance mode on');
      } catch (err) {
        this.logger.error({ serviceId: this.serviceId, error: (err as Error).message }, 'consul: cannot turn maintenance on; deregistering after the drain anyway');
      }
    });
  }

  /** Shutdown, last Consul step: remove the instance from the agent. */
  deregister(): Promise<void> {
    this.stopLoop();
    return this.enqueue(async () => {
      if (!this.registered) return;
      try {
        await this.client.deregister(this.serviceId);
        this.registered = false;
        this.logger.info({ serviceId: this.serviceId }, 'consul: deregistered');
      } catch (err) {
        this.logger.error({ serviceId: this.serviceId, error: (err as Error).message }, 'consul: deregistration failed; the agent keeps the instance until its check fails');
      }
    });
  }

  async close(): Promise<void> {
    this.stopLoop();
    await this.chain;
    await this.client.close();
  }

  private stopLoop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
  }

  private scheduleSync(): void {
    if (this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.enqueue(() => this.sync()).then(() => this.scheduleSync());
    }, this.syncEveryMs);
  }

  private enqueue(task: () => Promise<void>): Promise<void> {
    this.chain = this.chain.then(task, task);
    return this.chain;
  }

  /** Makes the agent match: registered, and (TTL) the check showing the current status. */
  private async sync(): Promise<void> {
    // After shutdown began only maintenance and deregistration talk to the agent: a TTL
    // update then would find the instance gone and register it again.
    if (this.stopped) return;
    try {
      if (!this.registered) {
        await this.register('registered');
      } else if (this.checkType === 'http') {
        if (!(await this.client.hasService(this.serviceId))) await this.register('the agent had forgotten this instance; registered again');
      }
      if (this.checkType === 'ttl') {
        if (!(await this.client.updateCheck(this.checkId, this.status, this.output))) {
          await this.register('the agent had forgotten this instance (TTL update got 404); registered again');
          await this.client.updateCheck(this.checkId, this.status, this.output);
        }
      }
      if (this.lastError !== null) this.logger.info({ serviceId: this.serviceId }, 'consul: agent reachable again');
      this.lastError = null;
    } catch (err) {
      const message = err instanceof ConsulAgentError ? err.message : `consul agent: ${(err as Error).message}`;
      if (message !== this.lastError) this.logger.warn({ serviceId: this.serviceId, error: message, retryInMs: this.syncEveryMs }, 'consul: agent call failed; retrying');
      this.lastError = message;
    }
  }

  private async register(why: string): Promise<void> {
    await this.client.register(this.registration);
    this.registered = true;
    this.logger.info({ serviceId: this.serviceId, service: this.registration.Name, address: this.registration.Address, port: this.registration.Port, check: this.checkType }, `consul: ${why}`);
  }
}

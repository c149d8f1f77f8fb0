import type { AddressInfo } from 'node:net';
import type { Config } from '../config/schema.js';
import type { SidecarConfig } from '../config/sidecar-schema.js';
import type { Logger } from '../observability/logger.js';
import type { RequestHandlers } from '../proxy/proxy-listener.js';
import { ConsulClient } from '../registry/consul/consul-client.js';
import type { Registry } from '../registry/registry.js';
import { AgentRegistration } from './agent-registration.js';
import { ConnectAuthorizer } from './connect-authorizer.js';
import { ConnectCertificates, type ConnectCertificatesSettings, DEFAULT_CERTIFICATE_WATCH } from './connect-certificates.js';
import { ConnectInboundListener } from './connect-inbound-listener.js';
import { ConnectMetrics } from './connect-metrics.js';
import { buildConnectProxyRegistration } from './connect-registration.js';
import { ConnectUpstreamListeners } from './connect-upstream-listeners.js';
import { ConnectUpstreamRegistry } from './connect-upstream-registry.js';
import { ConnectUpstreamTls } from './connect-upstream-tls.js';
import { ConsulAgentClient, type AgentServiceRegistration, type CheckStatus } from './consul-agent-client.js';

/** How long the start waits for the first leaf and roots from the agent. */
const FIRST_CERTIFICATES_TIMEOUT_MS = 30_000;

export interface ConnectProxyOptions {
  /** Agent origin ("http://127.0.0.1:8500") and ACL token. */
  origin: string;
  token: string | undefined;
  /** The instance's own registration (its ID is the proxy's destination). */
  instance: AgentServiceRegistration;
  /** The egress registry, when egress is on: Connect upstreams are merged into it. */
  egressRegistry: Registry | null;
  logger: Logger;
  /** Watch timing (tests shorten it). */
  watch?: ConnectCertificatesSettings;
}

/**
 * The sidecar as a Consul Connect proxy for its service. Owns the pieces of the mesh side:
 * the certificate watch (leaf + roots), the intention checks, the mTLS listener in front of
 * the inbound handler, the Connect TLS towards upstreams (through the egress listener and the
 * per-upstream listeners) and the connect-proxy registration with its TTL check.
 * Sidecar wires it in at start, on health changes and at shutdown; without `connect.enabled`
 * none of it exists.
 */
export class ConnectProxy {
  readonly metrics = new ConnectMetrics();
  readonly certificates: ConnectCertificates;
  /** TLS resolver for egress clusters (Connect upstreams only). */
  readonly upstreamTls: ConnectUpstreamTls;
  /** The egress registry with the upstreams' Connect endpoints in it. */
  readonly registry: ConnectUpstreamRegistry;
  private readonly authorizer: ConnectAuthorizer;
  private readonly consul: ConsulClient;
  private readonly agent: ConsulAgentClient;
  private listener: ConnectInboundListener | null = null;
  private upstreamListeners: ConnectUpstreamListeners | null = null;
  private registration: AgentRegistration | null = null;
  private status: { status: CheckStatus; output: string } = { status: 'critical', output: 'starting' };

  constructor(
    private readonly sidecar: SidecarConfig,
    private readonly config: Config,
    private readonly options: ConnectProxyOptions,
  ) {
    const connect = sidecar.connect;
    const logger = options.logger;
    this.consul = new ConsulClient({
      origin: options.origin,
      token: options.token ?? null,
      datacenter: null,
      tls: null,
      // Blocking reads hold a connection each: leaf, roots, one per upstream.
      connections: 2 + connect.upstreams.length,
      timeoutMs: 5_000,
      consistency: 'default',
      maxStaleMs: 0,
    });
    this.agent = new ConsulAgentClient(options.origin, options.token);
    this.certificates = new ConnectCertificates(this.consul, sidecar.service, logger, options.watch ?? DEFAULT_CERTIFICATE_WATCH);
    this.authorizer = new ConnectAuthorizer(this.agent, sidecar.service, connect.authorizeCacheTtl, logger);
    this.upstreamTls = new ConnectUpstreamTls(new Set(connect.upstreams.map((u) => u.service)));
    this.registry = new ConnectUpstreamRegistry(options.egressRegistry, this.consul, connect.upstreams.map((u) => u.service), this.certificates, this.upstreamTls, logger);
  }

  /**
   * Fetches the first certificates (waiting for the agent up to 30 s), then opens the mTLS
   * listener in front of `inbound` and the upstream listeners. The registry is started by the
   * sidecar (it is the egress registry). Registration comes later (`register`), once the sidecar's own is in.
   */
  async start(inbound: RequestHandlers): Promise<AddressInfo> {
    this.certificates.start();
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`connect: no leaf certificate and CA roots from the Consul agent at ${this.options.origin} within ${FIRST_CERTIFICATES_TIMEOUT_MS / 1000}s; check that Connect is enabled on the agent (connect { enabled = true }) and that the token may read them (service:write on ${this.sidecar.service})`)), FIRST_CERTIFICATES_TIMEOUT_MS);
    });
    try {
      await Promise.race([this.certificates.ready, timeout]);
    } finally {
      clearTimeout(timer);
    }
    this.listener = new ConnectInboundListener(this.sidecar.connect, this.config, inbound, this.certificates, this.authorizer, this.metrics, this.options.logger.child({ component: 'connect' }));
    const address = await this.listener.listen();
    if (this.sidecar.connect.upstreams.length > 0) {
      this.upstreamListeners = new ConnectUpstreamListeners(this.sidecar.connect.upstreams, this.config, this.registry, this.upstreamTls.resolve, this.options.logger);
      await this.upstreamListeners.start();
    }
    return address;
  }

  /** Registers the connect-proxy with the agent (after the instance's registration). */
  async register(inboundPort: number, syncIntervalMs: number): Promise<void> {
    if (this.listener === null) throw new Error('connect: start() must come before register()');
    const registration = buildConnectProxyRegistration(this.sidecar, this.options.instance, { connect: this.listener.address.port, inbound: inboundPort });
    this.registration = new AgentRegistration(registration, new ConsulAgentClient(this.options.origin, this.options.token), 'ttl', this.sidecar.consul.check.ttl, syncIntervalMs, this.options.logger.child({ component: 'connect-registration' }));
    void this.registration.setStatus(this.status.status, this.status.output);
    await this.registration.start();
  }

  get address(): AddressInfo | null {
    return this.listener?.address ?? null;
  }

  /** Where the app reaches each upstream (connect.upstreams). */
  get upstreamAddresses(): Map<string, AddressInfo> {
    return this.upstreamListeners?.addresses() ?? new Map();
  }

  get proxyServiceId(): string | null {
    return this.registration?.serviceId ?? null;
  }

  /** The app's health, as the instance's own check shows it. */
  setStatus(status: CheckStatus, output: string): void {
    this.status = { status, output };
    void this.registration?.setStatus(status, output);
  }

  enterMaintenance(reason: string): Promise<void> {
    return this.registration?.enterMaintenance(reason) ?? Promise.resolve();
  }

  /** Stops accepting mTLS connections; in-flight requests finish within graceMs. */
  async drain(graceMs: number): Promise<void> {
    await this.listener?.close(graceMs);
  }

  deregister(): Promise<void> {
    return this.registration?.deregister() ?? Promise.resolve();
  }

  /** Prometheus text of the mesh metrics, with the leaf expiry read now. */
  metricsText(): Promise<string> {
    this.metrics.update(this.certificates.current?.validBefore ?? null, this.certificates.changes);
    return this.metrics.text();
  }

  async close(graceMs: number): Promise<void> {
    await this.upstreamListeners?.close(graceMs);
    await this.certificates.stop();
    await this.registration?.close();
    await this.agent.close();
    await this.consul.close();
  }
}

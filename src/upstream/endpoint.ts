import type { ConnectionOptions } from 'node:tls';
import type { Dispatcher } from 'undici';
import type { ServiceConfig, UpstreamProtocol, UpstreamTlsConfig } from '../config/schema.js';
import type { ServiceInstance } from '../registry/service-instance.js';
import { OutlierRecord } from './outlier-record.js';
import { Http1Pool } from './http1-pool.js';
import { Http2CodecPool } from './http2-codec-pool.js';
import { Http2Pool } from './http2-pool.js';
import { upstreamProtocol } from './upstream-protocol.js';
import { upstreamTlsOptions } from './upstream-tls.js';

/**
 * What the proxy needs of an endpoint's connection pool: an Http1Pool for HTTP/1.1, an
 * Http2Pool (node:http2) or Http2CodecPool (our own codec, service setting http2Client) for h2 and h2c — one dispatch handler contract (undici's Dispatcher types, which
 * the proxy's handlers implement), close, connection events, free count.
 */
export interface UpstreamPool {
  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean;
  close(): Promise<void>;
  on(event: 'connect' | 'disconnect', listener: () => void): unknown;
  readonly stats: { readonly free: number };
}

/** `address:port`, with IPv6 addresses bracketed. */
export function endpointKey(address: string, port: number): string {
  return address.includes(':') ? `[${address}]:${port}` : `${address}:${port}`;
}

/**
 * The sources that can take an endpoint out of rotation. Each sets its own bit; the endpoint
 * is healthy when no bit is set. One host-health view, many independent writers.
 */
export const HealthFlag = {
  /** The registry reports the instance critical; never picked, not even in panic mode. */
  registry: 1,
  /** The active health check failed its unhealthy threshold. */
  activeCheck: 2,
  /** Passive outlier detection ejected it. */
  outlier: 4,
  /** An operator drained it; never picked, not even in panic mode. */
  drain: 8,
} as const;
export type HealthFlag = (typeof HealthFlag)[keyof typeof HealthFlag];

/** The names of the health sources whose bits are set, e.g. ["activeCheck", "outlier"]. */
export function healthFlagNames(flags: number): string[] {
  return (Object.keys(HealthFlag) as (keyof typeof HealthFlag)[]).filter((name) => (flags & HealthFlag[name]) !== 0);
}

/** One active health check probe's outcome. */
export interface HealthCheckResult {
  readonly ok: boolean;
  /** "status 200", "connected", "SERVING", or what was wrong. */
  readonly detail: string;
  /** When the probe ended, ms since epoch. */
  readonly at: number;
}

/** Told when an endpoint's health changes (the cluster recomputes its panic state). */
export type HealthListener = (endpoint: Endpoint) => void;

/** Counters shared by all endpoints of a cluster, kept up to date by pool events. */
export interface ConnectionCounter {
  openConnections: number;
}

/**
 * One reachable instance of a service and its connection pool. The pool lives as long as the
 * instance stays in the registry, so keep-alive connections survive registry updates.
 *
 * The pool is created on the first request sent to the endpoint, not with the endpoint: a
 * router that discovers 10,000 services builds 20,000 endpoints at start-up, most of which may
 * never see a request from this router, and a pool (its client objects, listeners and, once
 * used, timers) per endpoint was a large part of start-up time and memory. Limits are the
 * same either way: the pool is built from the settings the endpoint was created with, and
 * before it exists the endpoint has no connection (open or free).
 */
export class Endpoint {
  readonly key: string;
  private poolValue: UpstreamPool | null = null;
  private closed = false;
  /** The registry's view, replaced (not mutated) on each registry update. */
  private instanceValue!: ServiceInstance;
  /**
   * Tries sent to this endpoint (requests and retries, upgrades included) and tries ended, since
   * the endpoint was created. The forwarder writes one of them where a single in-flight counter
   * used to be incremented and decremented, so the status page gets a request count for free.
   */
  tries = 0;
  triesEnded = 0;
  /** Healthy: no health flag set. Read by balancers on every pick. */
  healthy = true;
  /** May be picked in panic mode: neither drained nor reported critical by the registry. */
  routable = true;
  /** Passive outlier detection state, written by the cluster's OutlierDetector. */
  readonly outlier = new OutlierRecord();
  /** Slow start: the weight ramps up until this time (ms since epoch; 0 = full weight). */
  warmUntil = 0;
  private flags = 0;
  /** When each health flag last changed (ms since epoch, 0 = never), indexed by bit position. */
  private readonly flagTimes = [0, 0, 0, 0];
  /** The last active health check probe: passed or not, why, and when (ms since epoch); null before the first. */
  lastHealthCheck: HealthCheckResult | null = null;
  private healthListener: HealthListener | null = null;
  /** Operator weight replacing the registry's (admin route override), or null. */
  weightOverride: number | null = null;
  /** TLS options towards the instance, or null for plain HTTP. */
  readonly tls: ConnectionOptions | null;
  /** The protocol towards the instance when the pool was built (upstreamProtocol). */
  readonly protocol: UpstreamProtocol;

  /** `declaredTls`: TLS the registry declares for the instance (see upstreamTlsOptions). */
  constructor(
    instance: ServiceInstance,
    private readonly settings: ServiceConfig,
    private readonly connections: ConnectionCounter,
    declaredTls?: UpstreamTlsConfig,
  ) {
    this.key = endpointKey(instance.address, instance.port);
    this.instance = instance;
    this.tls = upstreamTlsOptions(instance, settings, declaredTls);
    this.protocol = upstreamProtocol(instance, settings);
  }

  /** The connection pool, created by the first call (the first request sent to this endpoint). */
  get pool(): UpstreamPool {
    return (this.poolValue ??= this.createPool());
  }

  /** Whether the pool exists (a request was sent to this endpoint). */
  get hasPool(): boolean {
    return this.poolValue !== null;
  }

  /** Idle connections ready for a request (0 before the first request: no pool, no connection). */
  get freeConnections(): number {
    return this.poolValue === null ? 0 : this.poolValue.stats.free;
  }

  private createPool(): UpstreamPool {
    const settings = this.settings;
    const instance = this.instanceValue;
    let pool: UpstreamPool;
    if (this.protocol !== 'http1') {
      const options = {
        connections: settings.connections,
        connectTimeout: settings.connectTimeout,
        keepAliveTimeout: settings.keepAliveTimeout,
        maxConcurrentStreams: settings.maxConcurrentStreams,
        tls: this.tls,
        servername: this.tls?.servername,
      };
      const origin = `${this.tls === null ? 'http' : 'https'}://${this.key}`;
      pool = settings.http2Client === 'switchyard' ? new Http2CodecPool(origin, options) : new Http2Pool(origin, options);
    } else {
      pool = new Http1Pool(`${this.tls === null ? 'http' : 'https'}://${this.key}`, instance.address, instance.port, {
        connections: settings.connections,
        connectTimeout: settings.connectTimeout,
        keepAliveTimeout: settings.keepAliveTimeout,
        keepAliveMaxTimeout: Math.max(settings.keepAliveTimeout, 600_000),
        tls: this.tls,
      });
    }
    const connections = this.connections;
    pool.on('connect', () => connections.openConnections++);
    pool.on('disconnect', () => connections.openConnections--);
    // A request that still holds a closed endpoint (picked just before a registry update) gets a
    // closed pool, which refuses it like the pool the endpoint would have had.
    if (this.closed) void pool.close();
    return pool;
  }

  get instance(): ServiceInstance {
    return this.instanceValue;
  }

  /** Replaces the registry's view; a critical instance is taken out of rotation. */
  set instance(instance: ServiceInstance) {
    this.instanceValue = instance;
    this.setHealthFlag(HealthFlag.registry, instance.health === 'critical');
  }

  /** Requests now being forwarded to this endpoint. */
  get inFlight(): number {
    return this.tries - this.triesEnded;
  }

  get weight(): number {
    return this.weightOverride ?? this.instanceValue.weight;
  }

  /** Set by an operator (admin API): never picked, not even in panic mode; in-flight requests finish. */
  get drained(): boolean {
    return (this.flags & HealthFlag.drain) !== 0;
  }

  set drained(value: boolean) {
    this.setHealthFlag(HealthFlag.drain, value);
  }

  /** The set health flags (HealthFlag bits), for status pages and tests. */
  get healthFlags(): number {
    return this.flags;
  }

  /** When `flag` was last set or cleared (ms since epoch), or null when it never changed. */
  flagChangedAt(flag: HealthFlag): number | null {
    const at = this.flagTimes[31 - Math.clz32(flag)]!;
    return at === 0 ? null : at;
  }

  /** Whether a balancer may pick this endpoint: healthy, or (in panic mode) merely routable. */
  selectable(panic: boolean): boolean {
    return panic ? this.routable : this.healthy;
  }

  /** Sets or clears one health source's verdict; tells the listener when `healthy` changes. */
  setHealthFlag(flag: HealthFlag, failing: boolean): void {
    const flags = failing ? this.flags | flag : this.flags & ~flag;
    if (flags === this.flags) return;
    this.flagTimes[31 - Math.clz32(flag)] = Date.now();
    this.flags = flags;
    const healthy = flags === 0;
    const routable = (flags & (HealthFlag.drain | HealthFlag.registry)) === 0;
    if (healthy === this.healthy && routable === this.routable) return;
    this.healthy = healthy;
    this.routable = routable;
    this.healthListener?.(this);
  }

  onHealthChange(listener: HealthListener | null): void {
    this.healthListener = listener;
  }

  /** The weight a balancer should use now: ramps from 10% to 100% during slow start. */
  effectiveWeight(now: number, slowStart: number): number {
    const until = this.warmUntil;
    if (until === 0) return this.weight;
    if (now >= until) {
      this.warmUntil = 0;
      return this.weight;
    }
    const progress = 1 - (until - now) / slowStart;
    return this.weight * Math.max(0.1, progress);
  }

  /** Closes the pool once its in-flight requests have finished. */
  async close(): Promise<void> {
    this.closed = true;
    this.healthListener = null;
    this.outlier.cancel();
    if (this.poolValue !== null) await this.poolValue.close();
  }
}

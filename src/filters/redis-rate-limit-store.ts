import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Redis, type RedisOptions } from 'ioredis';
import type { RateLimitRedisConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { RateLimitStoreMetrics } from '../observability/metrics.js';
import { GCRA_RESERVE_SCRIPT } from './gcra-script.js';

/** Redis's answer to a reservation: tokens granted, or when none was, how long until one is. */
export interface Reservation {
  granted: number;
  /** Milliseconds until a token is there (granted 0), else 0. */
  waitMs: number;
}

/** While the store is down, how often it is asked (PING) whether it answers again. */
const PROBE_INTERVAL_MS = 200;
/** Reconnect delays after the connection drops: 50 ms, doubling, at most 1 s. */
const RECONNECT_MAX_MS = 1_000;

interface ReservingRedis extends Redis {
  reserveTokens(key: string, intervalUs: number, capacityUs: number, wanted: number): Promise<[number, number]>;
}

/**
 * The Redis server behind shared rate limits (config rateLimitRedis): one connection per
 * process, one Lua script (gcra-script.ts) run with EVALSHA.
 *
 * Client: ioredis. Chosen over node-redis (`redis`) for what this store needs without code of
 * our own: a per-command timeout (`commandTimeout`), failing at once instead of queueing while
 * disconnected (`enableOfflineQueue: false`), scripts defined once and sent as EVALSHA with the
 * EVAL fallback on NOSCRIPT (`defineCommand`), and automatic reconnection with a backoff we set.
 *
 * Commands sent: INFO (the client's ready check), SELECT (database ≠ 0), AUTH, PING, and
 * EVALSHA / EVAL running GET, SET and TIME: an ACL user needs exactly those on the key prefix.
 *
 * Failure model: a reservation never takes longer than `commandTimeout`; a timeout, a refused
 * or dropped connection or an error answers null, and the caller applies the route's
 * onStoreFailure. The first failure starts an outage ("episode"): logged once (warn), the
 * metric switchyard_rate_limit_store_up drops to 0, and `up` is false so callers decide at once
 * without asking (no request waits for a store known to be down). During the outage a PING
 * every 200 ms (and the client's reconnection) finds out when Redis answers again: the
 * recovery is logged once (info) with the outage's length and the failed calls.
 */
export class RedisRateLimitStore {
  private readonly client: ReservingRedis;
  private isUp = true;
  private downSince = 0;
  private failuresInOutage = 0;
  private probeTimer: NodeJS.Timeout | null = null;
  private closed = false;
  readonly address: string;
  readonly keyPrefix: string;
  readonly commandTimeoutMs: number;
  readonly reservationMs: number;

  constructor(
    readonly settings: RateLimitRedisConfig,
    private readonly logger: Logger,
    private readonly metrics: RateLimitStoreMetrics,
  ) {
    this.address = settings.address;
    this.keyPrefix = settings.keyPrefix;
    this.commandTimeoutMs = settings.commandTimeout;
    this.reservationMs = settings.reservation;
    const colon = settings.address.lastIndexOf(':');
    const host = settings.address.slice(0, colon).replace(/^\[(.*)\]$/, '$1');
    const options: RedisOptions = {
      host,
      port: Number(settings.address.slice(colon + 1)),
      db: settings.database,
      commandTimeout: settings.commandTimeout,
      connectTimeout: Math.max(1_000, settings.commandTimeout),
      enableOfflineQueue: false,
      maxRetriesPerRequest: 0,
      autoResendUnfulfilledCommands: false,
      retryStrategy: (attempt) => Math.min(50 * 2 ** Math.min(attempt, 10), RECONNECT_MAX_MS),
    };
    if (settings.username !== undefined) options.username = settings.username;
    if (settings.password !== undefined) options.password = settings.password;
    if (settings.tls !== undefined) options.tls = tlsOptions(settings.tls, host);
    this.client = new Redis(options) as ReservingRedis;
    this.client.defineCommand('reserveTokens', { numberOfKeys: 1, lua: GCRA_RESERVE_SCRIPT });
    // Connection errors also reject the calls in flight, which start the outage; the event
    // itself must be handled (ioredis prints unhandled ones) but is not logged line by line.
    this.client.on('error', (err: Error) => this.failed(err));
    this.client.on('ready', () => this.recovered());
    metrics.setUp(true);
  }

  /** Whether the store answered its last call (false during an outage: decide without asking). */
  get up(): boolean {
    return this.isUp;
  }

  /**
   * Resolves once connected (true), or false at the first connection error or after
   * `timeoutMs` (the outage is then logged once; the client keeps reconnecting).
   */
  async connected(timeoutMs: number): Promise<boolean> {
    if (this.client.status === 'ready') return true;
    const ok = await new Promise<boolean>((resolve) => {
      const settle = (value: boolean) => {
        clearTimeout(timer);
        this.client.off('ready', onReady);
        this.client.off('error', onError);
        resolve(value);
      };
      const timer = setTimeout(() => settle(false), timeoutMs);
      const onReady = () => settle(true);
      const onError = () => settle(false);
      this.client.once('ready', onReady);
      this.client.once('error', onError);
    });
    if (!ok) this.failed(new Error(`no connection within ${timeoutMs}ms`));
    return ok;
  }

  /**
   * Reserves up to `wanted` tokens of the bucket at `key` (GCRA: one token per `intervalUs`,
   * at most `capacityUs` ahead). Null when the store failed (timeout, not connected, error).
   */
  async reserve(key: string, intervalUs: number, capacityUs: number, wanted: number): Promise<Reservation | null> {
    try {
      const [granted, waitUs] = await this.client.reserveTokens(key, intervalUs, capacityUs, wanted);
      if (granted > 0) this.metrics.granted.inc();
      else this.metrics.empty.inc();
      this.recovered();
      return { granted, waitMs: waitUs / 1000 };
    } catch (err) {
      const message = (err as Error).message;
      if (message === 'Command timed out') this.metrics.timeout.inc();
      else if (this.client.status !== 'ready') this.metrics.unavailable.inc();
      else this.metrics.error.inc();
      this.failed(err as Error);
      return null;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.probeTimer !== null) clearInterval(this.probeTimer);
    this.probeTimer = null;
    this.client.disconnect(false);
  }

  private failed(err: Error): void {
    if (this.closed) return;
    this.failuresInOutage++;
    if (!this.isUp) return;
    this.isUp = false;
    this.downSince = performance.now();
    this.metrics.setUp(false);
    this.logger.warn(
      { address: this.address, err: err.message },
      'rate limit store unavailable: requests that need it get their route\'s rateLimit.onStoreFailure answer until it is back (logged once per outage)',
    );
    this.probeTimer = setInterval(() => this.probe(), PROBE_INTERVAL_MS);
    this.probeTimer.unref();
  }

  private recovered(): void {
    if (this.isUp || this.closed) return;
    this.isUp = true;
    if (this.probeTimer !== null) clearInterval(this.probeTimer);
    this.probeTimer = null;
    this.metrics.setUp(true);
    this.logger.info(
      { address: this.address, outageMs: Math.round(performance.now() - this.downSince), failedCalls: this.failuresInOutage },
      'rate limit store recovered: shared rate limits apply again',
    );
    this.failuresInOutage = 0;
  }

  private probe(): void {
    if (this.client.status !== 'ready') return;
    this.client.ping().then(
      () => this.recovered(),
      () => undefined, // still down: the outage goes on and was logged at its start
    );
  }
}

function tlsOptions(tls: NonNullable<RateLimitRedisConfig['tls']>, host: string): ConnectionOptions {
  const options: ConnectionOptions = { rejectUnauthorized: tls.verify };
  // SNI carries names only; an IP address is checked against the certificate's IP entries.
  const name = tls.serverName ?? (isIP(host) === 0 ? host : undefined);
  if (name !== undefined) options.servername = name;
  if (tls.ca !== undefined) options.ca = readFileSync(tls.ca);
  if (tls.cert !== undefined) options.cert = readFileSync(tls.cert);
  if (tls.key !== undefined) options.key = readFileSync(tls.key);
  return options;
}

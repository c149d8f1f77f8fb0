import type { RateLimitConfig } from '../config/schema.js';
import type { CounterChild } from '../observability/prepared-metrics.js';
import { rateLimitedRefusal, rateLimitKey, rateLimitPolicy, type RateLimitView, type RouteRateLimiter } from './rate-limit-filter.js';
import type { RedisRateLimitStore, Reservation } from './redis-rate-limit-store.js';
import type { FilterDecision, FilterExchange, FilterRefusal } from './route-filter.js';
import { MAX_KEY_LENGTH } from './token-bucket-table.js';

/** Counters of one route's shared limiter. */
export interface SharedRateLimitCounters {
  readonly allowed: CounterChild;
  readonly limited: CounterChild;
  readonly storeFailedOpen: CounterChild;
  readonly storeFailedClosed: CounterChild;
}

/** Reserved tokens a process has not spent lapse after this long (they are then lost to the fleet). */
export const LEASE_LIFETIME_MS = 1_000;

/** How many of the oldest keys one new key may look at for a lease to reuse (as TokenBucketTable). */
const RECLAIM_PROBES = 4;

type Waiter = (refusal: FilterRefusal | null) => void;

/** What this process holds of one key's bucket in Redis. */
interface Lease {
  readonly redisKey: string;
  /** Tokens reserved in Redis and not spent yet. */
  tokens: number;
  /** When the unspent tokens lapse (performance.now() ms). */
  lapseAt: number;
  /** When the last tokens were granted. */
  grantedAt: number;
  /** Redis said there is no token before this time: refuse locally until then. */
  refusedUntil: number;
  /** Reservations answered so far (the first asks for one token only). */
  refills: number;
  /** A reservation is in flight. */
  pending: boolean;
  /** Requests waiting for the reservation in flight (null: none). */
  waiters: Waiter[] | null;
}

/**
 * A route rate limit shared by every process and router that uses the same Redis
 * (rateLimit.store: redis): the buckets live in Redis (GCRA, gcra-script.ts) and each process
 * reserves tokens from them in batches and spends them locally, the way Envoy's quota and
 * Kong's sync rate keep the shared counter off the request path.
 *
 * Per request (after its key, as RateLimitFilter's):
 * - a token held locally → admitted at once, no Redis call. When the lease runs below half a
 *   batch on a busy key (the last batch was granted less than half a lease lifetime ago), the
 *   next batch is reserved in the background, so a steadily busy key never waits;
 * - Redis said "empty until T" and T plus one batch's worth of time has not come → refused at
 *   once (429, Retry-After);
 * - the store is in an outage → at once, the route's onStoreFailure: admitted (open) or 503
 *   rate_limit_store_unavailable (closed);
 * - otherwise the request waits for a reservation (one in flight per key; the waiters share it),
 *   bounded by rateLimitRedis.commandTimeout, then onStoreFailure. A key's first request asks
 *   for one token, later ones for a batch: `requests × reservation / per` tokens (≥ 1, ≤ burst).
 *
 * Accuracy: every admitted request spent a token granted by Redis, so over any window the fleet
 * admits at most burst + rate × window + (processes × batch) (tokens reserved before the window
 * and spent in it). Unspent tokens lapse after LEASE_LIFETIME_MS, so a process whose traffic for
 * a key stops wastes at most one batch of that key per lapse: the fleet under-admits by that.
 * Memory is bounded like the memory store's: at most maxKeys leases, then idle leases are
 * reclaimed or the key shares one overflow lease; Redis keys expire when their bucket is full.
 */
export class SharedRateLimitFilter implements RouteRateLimiter {
  private readonly leases = new Map<string, Lease>();
  private readonly overflow: Lease;
  private readonly header: string | undefined;
  private readonly byRoute: boolean;
  private readonly policy: string;
  private readonly keyBase: string;
  private readonly intervalUs: number;
  private readonly intervalMs: number;
  private readonly capacityUs: number;
  readonly burst: number;
  /** Tokens one reservation asks for once a key is busy. */
  readonly batch: number;
  private readonly lowWater: number;
  private readonly failOpen: boolean;
  private readonly storeRefusal: FilterRefusal;
  overflowRequests = 0;

  constructor(
    readonly settings: RateLimitConfig,
    route: string,
    private readonly store: RedisRateLimitStore,
    private readonly counters: SharedRateLimitCounters,
  ) {
    this.burst = settings.burst ?? Math.max(1, Math.ceil(settings.requests));
    this.header = settings.by === 'header' ? settings.header : undefined;
    this.byRoute = settings.by === 'route';
    this.policy = rateLimitPolicy(settings);
    this.keyBase = `${store.keyPrefix}${route}:`;
    this.intervalMs = settings.per / settings.requests;
    this.intervalUs = this.intervalMs * 1000;
    this.capacityUs = this.burst * this.intervalUs;
    this.batch = Math.max(1, Math.min(this.burst, Math.floor((settings.requests * store.reservationMs) / settings.per)));
    this.lowWater = this.batch / 2;
    this.failOpen = settings.onStoreFailure === 'open';
    this.storeRefusal = {
      code: 'rate_limit_store_unavailable',
      headers: ['retry-after', '1'],
      detail: `the rate limit store ${store.address} does not answer (onStoreFailure: closed)`,
    };
    this.overflow = newLease(`${this.keyBase}\0overflow`);
    counters.allowed.touch();
    counters.limited.touch();
    counters.storeFailedOpen.touch();
    counters.storeFailedClosed.touch();
  }

  onRequest(x: FilterExchange): FilterDecision {
    let key = rateLimitKey(x, this.header, this.byRoute);
    if (key.length > MAX_KEY_LENGTH) key = key.slice(0, MAX_KEY_LENGTH);
    const now = performance.now();
    const lease = this.leases.get(key) ?? this.place(key, now);
    if (lease.tokens >= 1 && now < lease.lapseAt) {
      lease.tokens--;
      this.counters.allowed.inc();
      if (lease.tokens < this.lowWater && !lease.pending && lease.refills > 0 && now - lease.grantedAt < LEASE_LIFETIME_MS / 2 && now >= lease.refusedUntil && this.store.up) this.refill(lease, this.batch);
      return null;
    }
    if (now < lease.refusedUntil) return this.limited(lease.refusedUntil - now);
    if (!this.store.up) return this.storeFailure();
    return new Promise<FilterRefusal | null>((resolve) => {
      const waiters = (lease.waiters ??= []);
      waiters.push(resolve);
      if (!lease.pending) this.refill(lease, this.wanted(lease, waiters.length));
    });
  }

  view(): RateLimitView {
    return {
      store: 'redis',
      by: this.header !== undefined ? `header ${this.header}` : this.settings.by,
      requests: this.settings.requests,
      perSeconds: this.settings.per / 1000,
      burst: this.burst,
      maxKeys: this.settings.maxKeys,
      keys: this.leases.size,
      overflowRequests: this.overflowRequests,
      allowed: this.counters.allowed.value,
      limited: this.counters.limited.value,
    };
  }

  /** Tokens to ask for `waiting` requests: one for a key's first request, else a batch (or the waiters, if more). */
  private wanted(lease: Lease, waiting: number): number {
    return Math.min(this.burst, Math.max(waiting, lease.refills === 0 ? 1 : this.batch));
  }

  private refill(lease: Lease, wanted: number): void {
    lease.pending = true;
    void this.store.reserve(lease.redisKey, this.intervalUs, this.capacityUs, wanted).then((r) => this.reserved(lease, wanted, r));
  }

  /** A reservation came back (null: the store failed): keep the tokens, serve the waiters. */
  private reserved(lease: Lease, wanted: number, r: Reservation | null): void {
    lease.pending = false;
    const waiters = lease.waiters;
    lease.waiters = null;
    if (r === null) {
      if (waiters !== null) for (const w of waiters) w(this.storeFailure());
      return;
    }
    const now = performance.now();
    lease.refills++;
    if (r.granted > 0) {
      if (now >= lease.lapseAt) lease.tokens = 0;
      lease.tokens += r.granted;
      lease.grantedAt = now;
      lease.lapseAt = now + LEASE_LIFETIME_MS;
      // Less than asked: the bucket is empty now. Once these tokens are spent, refuse locally
      // until a batch has come back (no prefetch meanwhile), for the same reason as below.
      if (r.granted < wanted) lease.refusedUntil = now + this.batch * this.intervalMs;
    } else {
      // Empty: refuse locally until a batch has come back rather than one token, so processes
      // competing for a saturated bucket ask Redis about once per batch, not once per token. No
      // token is lost: they wait in Redis (burst ≥ batch) for whoever asks first.
      lease.refusedUntil = now + r.waitMs + (this.batch - 1) * this.intervalMs;
    }
    if (waiters === null) return;
    let i = 0;
    for (; i < waiters.length && lease.tokens >= 1; i++) {
      lease.tokens--;
      this.counters.allowed.inc();
      waiters[i]!(null);
    }
    if (i === waiters.length) return;
    if (r.granted === wanted && this.store.up) {
      // Redis had all that was asked: requests that came meanwhile ask again.
      const rest = waiters.slice(i);
      lease.waiters = rest;
      this.refill(lease, this.wanted(lease, rest.length));
      return;
    }
    // Redis ran out: refused until the time set above.
    const waitMs = lease.refusedUntil - now;
    for (; i < waiters.length; i++) waiters[i]!(this.limited(waitMs));
  }

  private limited(waitMs: number): FilterRefusal {
    this.counters.limited.inc();
    return rateLimitedRefusal(this.settings, this.policy, this.burst, waitMs);
  }

  private storeFailure(): FilterRefusal | null {
    if (this.failOpen) {
      this.counters.storeFailedOpen.inc();
      return null;
    }
    this.counters.storeFailedClosed.inc();
    return this.storeRefusal;
  }

  /** A lease for a key not in the table: a new one, a reclaimed one, or the shared overflow lease. */
  private place(key: string, now: number): Lease {
    const leases = this.leases;
    if (leases.size >= this.settings.maxKeys) {
      let freed = false;
      for (let probe = 0; probe < RECLAIM_PROBES && !freed; probe++) {
        const oldest = leases.keys().next();
        if (oldest.done === true) break;
        const old = leases.get(oldest.value)!;
        leases.delete(oldest.value);
        if (!old.pending && old.waiters === null && (old.tokens < 1 || now >= old.lapseAt) && now >= old.refusedUntil) freed = true;
        else leases.set(oldest.value, old);
      }
      if (!freed) {
        this.overflowRequests++;
        return this.overflow;
      }
    }
    const lease = newLease(this.keyBase + key);
    leases.set(key, lease);
    return lease;
  }
}

function newLease(redisKey: string): Lease {
  return { redisKey, tokens: 0, lapseAt: 0, grantedAt: 0, refusedUntil: 0, refills: 0, pending: false, waiters: null };
}

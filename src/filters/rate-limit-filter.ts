import type { RateLimitConfig } from '../config/schema.js';
import type { CounterChild } from '../observability/prepared-metrics.js';
import type { FilterExchange, FilterRefusal, RequestFilter } from './route-filter.js';
import { TokenBucketTable, type TakeResult } from './token-bucket-table.js';

/** Counters of one route's limiter. */
export interface RateLimitCounters {
  readonly allowed: CounterChild;
  readonly limited: CounterChild;
}

/** What the admin API shows of a limiter. */
export interface RateLimitView {
  /** Where the buckets are: this process (memory) or Redis, shared (redis). */
  store: 'memory' | 'redis';
  by: string;
  requests: number;
  perSeconds: number;
  burst: number;
  maxKeys: number;
  /** Keys with a bucket of their own now. */
  keys: number;
  /** Requests that took from the shared overflow bucket (their key did not fit) since start. */
  overflowRequests: number;
  allowed: number;
  limited: number;
}

/** A route's rate limiter, whichever its store: a request filter the admin API can look at. */
export interface RouteRateLimiter extends RequestFilter {
  readonly settings: RateLimitConfig;
  view(): RateLimitView;
}

/** The key a request takes from: a header's value, the client address, or "" (the whole route or no header). */
export function rateLimitKey(x: FilterExchange, header: string | undefined, byRoute: boolean): string {
  if (byRoute) return '';
  if (header !== undefined) {
    const value = x.req.headers[header];
    return value === undefined ? '' : Array.isArray(value) ? value[0]! : value;
  }
  return x.clientAddress;
}

/** The RateLimit-Policy field of a limit (draft-ietf-httpapi-ratelimit-headers). */
export function rateLimitPolicy(settings: RateLimitConfig): string {
  return `"default";q=${settings.requests};w=${Math.max(1, Math.ceil(settings.per / 1000))}`;
}

/** The 429 answer: Retry-After and the RateLimit fields say when the next token comes. */
export function rateLimitedRefusal(settings: RateLimitConfig, policy: string, burst: number, waitMs: number): FilterRefusal {
  const seconds = String(Math.max(1, Math.ceil(waitMs / 1000)));
  return {
    code: 'rate_limited',
    headers: ['retry-after', seconds, 'ratelimit-policy', policy, 'ratelimit', `"default";r=0;t=${seconds}`],
    detail: `over ${settings.requests} requests per ${settings.per}ms (burst ${burst}); retry in ${seconds}s`,
  };
}

/**
 * Local token-bucket rate limit of a route (one limiter per route and process). A request takes
 * one token from its key's bucket: the client address (as resolved for the request, so behind a
 * trusted proxy each original client has its own), a header's value (requests without the
 * header share the "" key), or one bucket for the whole route. Buckets refill at
 * `requests / per` and hold at most `burst` tokens. Without a token the request is answered
 * 429 with Retry-After (seconds until the next token) and the IETF RateLimit-Policy /
 * RateLimit fields (draft-ietf-httpapi-ratelimit-headers: quota `q` per window `w` seconds,
 * remaining `r`, `t` seconds until a token is back). Memory is bounded by TokenBucketTable.
 *
 * The limiter is kept across route table rebuilds while the route's limit settings stay the
 * same (see FilterState), so a reload does not hand every client a fresh burst.
 */
export class RateLimitFilter implements RouteRateLimiter {
  private readonly table: TokenBucketTable;
  private readonly header: string | undefined;
  private readonly byRoute: boolean;
  private readonly policy: string;
  /** Reused for every take (the filter runs on one thread, one request at a time). */
  private readonly result: TakeResult = { allowed: false, remaining: 0, waitMs: 0 };

  constructor(
    readonly settings: RateLimitConfig,
    private readonly counters: RateLimitCounters,
    now: number = performance.now(),
  ) {
    const burst = settings.burst ?? Math.max(1, Math.ceil(settings.requests));
    this.table = new TokenBucketTable((settings.requests * 1000) / settings.per, burst, settings.maxKeys, now);
    this.header = settings.by === 'header' ? settings.header : undefined;
    this.byRoute = settings.by === 'route';
    this.policy = rateLimitPolicy(settings);
    counters.allowed.touch();
    counters.limited.touch();
  }

  onRequest(x: FilterExchange): FilterRefusal | null {
    const key = rateLimitKey(x, this.header, this.byRoute);
    const r = this.table.take(key, performance.now(), this.result);
    if (r.allowed) {
      this.counters.allowed.inc();
      return null;
    }
    this.counters.limited.inc();
    return rateLimitedRefusal(this.settings, this.policy, this.table.burst, r.waitMs);
  }

  view(): RateLimitView {
    return {
      store: 'memory',
      by: this.header !== undefined ? `header ${this.header}` : this.settings.by,
      requests: this.settings.requests,
      perSeconds: this.settings.per / 1000,
      burst: this.table.burst,
      maxKeys: this.table.maxKeys,
      keys: this.table.size,
      overflowRequests: this.table.overflowTakes,
      allowed: this.counters.allowed.value,
      limited: this.counters.limited.value,
    };
  }

  /** Exposed for tests of the memory bound. */
  get keys(): number {
    return this.table.size;
  }

}

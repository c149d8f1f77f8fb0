import type { RateLimitConfig, RateLimitRedisConfig, RouteConfig, TracingConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { SwitchyardMetrics } from '../observability/metrics.js';
import { HeaderRulesFilter } from './header-rules-filter.js';
import { RateLimitFilter, type RouteRateLimiter } from './rate-limit-filter.js';
import { RedisRateLimitStore } from './redis-rate-limit-store.js';
import { FilterChain, type RequestFilter, type ResponseFilter } from './route-filter.js';
import { SharedRateLimitFilter } from './shared-rate-limit-filter.js';
import { TraceContextFilter } from './trace-context-filter.js';

/**
 * Filter state that outlives one route table: rate limiters by route name, reused by the next
 * build while the route's limit settings are unchanged (a reload must not refill every bucket),
 * and the shared rate limit store (rateLimitRedis) they use, kept while its settings are.
 * A build marks what it used; limiters of routes that are gone are dropped at its end.
 */
export class FilterState {
  private limiters = new Map<string, { key: string; filter: RouteRateLimiter }>();
  private building: Map<string, { key: string; filter: RouteRateLimiter }> | null = null;
  private store: RedisRateLimitStore | null = null;
  private storeSettings = '';
  /** Bumped with each new store, so limiters of the old one are not reused. */
  private storeGeneration = 0;

  /** The shared rate limit store in use, or null. */
  get rateLimitStore(): RedisRateLimitStore | null {
    return this.store;
  }

  /**
   * Opens, replaces or drops the shared rate limit store for a configuration's rateLimitRedis;
   * call before the route table build that should use it. Returns the store it replaced, for the
   * caller to close once the new table is in (null when nothing changed).
   */
  useRateLimitRedis(settings: RateLimitRedisConfig | undefined, logger: Logger, metrics: SwitchyardMetrics): RedisRateLimitStore | null {
    const text = settings === undefined ? '' : JSON.stringify(settings);
    if (text === this.storeSettings) return null;
    const old = this.store;
    this.storeSettings = text;
    this.storeGeneration++;
    this.store = settings === undefined ? null : new RedisRateLimitStore(settings, logger.child({ component: 'rate-limit-store' }), metrics.rateLimitStore(settings.address));
    return old;
  }

  beginBuild(): void {
    this.building = new Map();
  }

  endBuild(): void {
    if (this.building !== null) this.limiters = this.building;
    this.building = null;
  }

  private readonly traceFilters = new Map<string, TraceContextFilter>();

  /** The trace-context filter, one for all routes with the same settings (it holds only its id pool). */
  traceContext(sampled: boolean, participate: boolean): TraceContextFilter {
    const key = `${sampled} ${participate}`;
    let filter = this.traceFilters.get(key);
    if (filter === undefined) this.traceFilters.set(key, (filter = new TraceContextFilter(sampled, participate)));
    return filter;
  }

  rateLimiter(route: string, settings: RateLimitConfig, metrics: SwitchyardMetrics): RouteRateLimiter {
    // The schema refuses store: redis without rateLimitRedis; a route built without a store
    // (a test's bare FilterState) limits in memory.
    const store = settings.store === 'redis' ? this.store : null;
    const key = `${store === null ? 'memory' : this.storeGeneration} ${JSON.stringify(settings)}`;
    const kept = this.limiters.get(route);
    const entry =
      kept !== undefined && kept.key === key
        ? kept
        : { key, filter: store === null ? new RateLimitFilter(settings, metrics.rateLimit(route)) : new SharedRateLimitFilter(settings, route, store, metrics.rateLimit(route)) };
    this.building?.set(route, entry);
    return entry.filter;
  }
}

/**
 * The filter chain of a route, or null when the route has no filter (it then pays nothing).
 * Order: trace context (so every forwarded request has its trace id), rate limit (a refused
 * request costs nothing more; a shared limit may make the chain wait for Redis, bounded by its
 * command timeout), header rules.
 */
export function buildFilterChain(config: RouteConfig, tracing: TracingConfig | undefined, state: FilterState, metrics: SwitchyardMetrics): FilterChain | null {
  const request: RequestFilter[] = [];
  const response: ResponseFilter[] = [];
  let rateLimit: RouteRateLimiter | null = null;
  if (tracing?.enabled === true) request.push(state.traceContext(tracing.sampled, tracing.otlp !== undefined));
  if (config.rateLimit !== undefined) {
    rateLimit = state.rateLimiter(config.name, config.rateLimit, metrics);
    request.push(rateLimit);
  }
  if (config.headerRules !== undefined) {
    const rules = new HeaderRulesFilter(config.headerRules, config.name);
    if (rules.editsRequest) request.push(rules);
    if (rules.editsResponse) response.push(rules);
  }
  if (request.length === 0 && response.length === 0) return null;
  return new FilterChain(request.length === 0 ? null : request, response.length === 0 ? null : response, rateLimit);
}

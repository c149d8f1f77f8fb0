import type { RateLimitConfig, RouteConfig, TracingConfig } from '../config/schema.js';
import type { SwitchyardMetrics } from '../observability/metrics.js';
import { HeaderRulesFilter } from './header-rules-filter.js';
import { RateLimitFilter } from './rate-limit-filter.js';
import { FilterChain, type RequestFilter, type ResponseFilter } from './route-filter.js';
import { TraceContextFilter } from './trace-context-filter.js';

/**
 * Filter state that outlives one route table: rate limiters by route name, reused by the next
 * build while the route's limit settings are unchanged (a reload must not refill every bucket).
 * A build marks what it used; limiters of routes that are gone are dropped at its end.
 */
export class FilterState {
  private limiters = new Map<string, { key: string; filter: RateLimitFilter }>();
  private building: Map<string, { key: string; filter: RateLimitFilter }> | null = null;

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

  rateLimiter(route: string, settings: RateLimitConfig, metrics: SwitchyardMetrics): RateLimitFilter {
    const key = JSON.stringify(settings);
    const kept = this.limiters.get(route);
    const entry = kept !== undefined && kept.key === key ? kept : { key, filter: new RateLimitFilter(settings, metrics.rateLimit(route)) };
    this.building?.set(route, entry);
    return entry.filter;
  }
}

/**
 * The filter chain of a route, or null when the route has no filter (it then pays nothing).
 * Order: trace context (so every forwarded request has its trace id), rate limit (a refused
 * request costs nothing more), header rules.
 */
export function buildFilterChain(config: RouteConfig, tracing: TracingConfig | undefined, state: FilterState, metrics: SwitchyardMetrics): FilterChain | null {
  const request: RequestFilter[] = [];
  const response: ResponseFilter[] = [];
  let rateLimit: RateLimitFilter | null = null;
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

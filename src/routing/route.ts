import type { IncomingHttpHeaders } from 'node:http';
import type { FilterChain } from '../filters/route-filter.js';
import type { UpstreamTimeouts } from '../config/schema.js';
import type { RouteMetrics } from '../observability/route-metrics.js';
import type { Cluster } from '../upstream/cluster.js';
import type { RetryPolicy } from '../upstream/retry-policy.js';
import type { WeightedSplit } from './weighted-split.js';

/** Where a route was declared. */
export type RouteSource = 'config' | 'tags' | 'override';

/** A compiled, immutable route: what it matches and where it sends the request. */
export interface Route {
  readonly name: string;
  readonly source: RouteSource;
  /** Exact host, "*.suffix" wildcard, or undefined for any host. Lower-case. */
  readonly host: string | undefined;
  /** Path prefix without trailing "/" (except the root "/"). Matches on segment boundaries. */
  readonly prefix: string;
  /** Upper-case methods, or null for any method. */
  readonly methods: ReadonlySet<string> | null;
  /** Header conditions: lower-case name and exact value. */
  readonly headers: readonly (readonly [string, string])[];
  readonly cluster: Cluster;
  /** Replacement for the matched prefix ("/" strips it), or null to forward the path unchanged. */
  readonly rewritePrefix: string | null;
  readonly hostRewrite: string | null;
  readonly timeouts: UpstreamTimeouts;
  readonly retries: RetryPolicy;
  /** Largest request body in bytes (0 = no limit), or null for limits.maxBodySize. */
  readonly maxBodySize: number | null;
  /** Position in the declaration order; breaks ties between equally specific routes. */
  readonly order: number;
  /** Request metric children of this route, prepared when the table is built. */
  readonly metrics: RouteMetrics;
  /**
   * For a route with `backends`: the split that picks, per request, the backend route (this
   * route compiled for one service: its cluster, its metric children). Null otherwise, and
   * always null on the backend routes themselves.
   */
  readonly split: WeightedSplit | null;
  /** The route's filters (rate limit, header rules, trace context) in order, or null when it has none. */
  readonly filters: FilterChain | null;
}

/** Number of conditions beyond host and path; more conditions = more specific. */
export function conditionCount(route: Route): number {
  return (route.methods ? 1 : 0) + route.headers.length;
}

/** Whether the method and header conditions hold for a request. */
export function conditionsMatch(route: Route, method: string, headers: IncomingHttpHeaders): boolean {
  if (route.methods !== null && !route.methods.has(method)) return false;
  const conds = route.headers;
  for (let i = 0; i < conds.length; i++) {
    const c = conds[i]!;
    if (headers[c[0]] !== c[1]) return false;
  }
  return true;
}

/**
 * The path to forward: the matched prefix replaced by `rewritePrefix` (when set), then the
 * original query string. `path` is the request path without query; `query` starts with "?" or is "".
 */
export function rewritePath(route: Route, path: string, query: string): string {
  const replacement = route.rewritePrefix;
  if (replacement === null) return query ? path + query : path;
  const rest = route.prefix === '/' ? path : path.slice(route.prefix.length);
  let joined: string;
  if (rest === '') joined = replacement;
  else if (replacement.endsWith('/')) joined = replacement + rest.slice(1);
  else joined = replacement + rest;
  return joined + query;
}

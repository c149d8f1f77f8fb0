import type { RetryPolicyConfig, RouteConfig, TracingConfig, UpstreamTimeouts } from '../config/schema.js';
import { buildFilterChain, FilterState } from '../filters/filter-chain-builder.js';
import { DETACHED_METRICS, type SwitchyardMetrics } from '../observability/metrics.js';
import type { ClusterManager } from '../upstream/cluster-manager.js';
import { compileRetryPolicy } from '../upstream/retry-policy.js';
import { PrefixIndex } from './prefix-index.js';
import type { Route, RouteSource } from './route.js';
import { RouteTable } from './route-table.js';
import { WeightedSplit } from './weighted-split.js';

/** A route declaration from any source, before compilation. */
export interface RouteDeclaration {
  config: RouteConfig;
  source: RouteSource;
}

/** Route settings that routes inherit unless they set their own (config top level). */
export interface RouteDefaults {
  timeouts: UpstreamTimeouts;
  retries: RetryPolicyConfig;
  /** Trace context on every route (config `tracing`); absent = off. */
  tracing?: TracingConfig;
}

/**
 * The `order` of each declaration (the precedence tie-break): declaration order, except that
 * the routes from registry tags all share one order, between the non-tag routes declared before
 * them and those after (2k for the k-th non-tag route, 2k - 1 for a tag route with k non-tag
 * routes before it). Tag routes then never need a new order when other tag routes come or go,
 * so a registry change recompiles only the routes it touches; among themselves (at most one
 * per host and path) they are ranked by name.
 */
export function declarationOrders(declarations: readonly RouteDeclaration[]): number[] {
  let nonTag = 0;
  return declarations.map((d) => (d.source === 'tags' ? tagRouteOrder(nonTag) : 2 * nonTag++));
}

/** The order of a tag route declared after `nonTagBefore` non-tag routes (see declarationOrders). */
export function tagRouteOrder(nonTagBefore: number): number {
  return 2 * nonTagBefore - 1;
}

/** Compiles route declarations into a RouteTable. Runs off the hot path. */
export function buildRouteTable(
  declarations: readonly RouteDeclaration[],
  defaults: RouteDefaults,
  clusters: ClusterManager,
  metrics: SwitchyardMetrics = DETACHED_METRICS,
  filterState: FilterState = new FilterState(),
): RouteTable {
  filterState.beginBuild();
  const orders = declarationOrders(declarations);
  const routes: Route[] = declarations.map(({ config, source }, i) => compileRoute(config, source, orders[i]!, defaults, clusters, metrics, filterState));
  filterState.endBuild();
  const exact = new Map<string, PrefixIndex>();
  const wildcard = new Map<string, PrefixIndex>();
  const any = new PrefixIndex();
  for (const route of routes) {
    if (route.host === undefined) {
      any.add(route);
      continue;
    }
    const isWildcard = route.host.startsWith('*.');
    const map = isWildcard ? wildcard : exact;
    const key = isWildcard ? route.host.slice(1) : route.host;
    let group = map.get(key);
    if (!group) {
      group = new PrefixIndex();
      map.set(key, group);
    }
    group.add(route);
  }
  for (const g of exact.values()) g.seal();
  for (const g of wildcard.values()) g.seal();
  return new RouteTable(routes, exact, wildcard, any.seal());
}

/** Compiles one declaration (`order`: see declarationOrders). */
export function compileRoute(
  config: RouteConfig,
  source: RouteSource,
  order: number,
  defaults: RouteDefaults,
  clusters: ClusterManager,
  metrics: SwitchyardMetrics,
  filterState: FilterState,
): Route {
  const headers = Object.entries(config.match.headers ?? {}).map(([name, value]) => [name.toLowerCase(), value] as const);
  const base = {
    name: config.name,
    source,
    host: config.match.host,
    prefix: config.match.path,
    methods: config.match.methods ? new Set(config.match.methods) : null,
    headers,
    rewritePrefix: config.stripPrefix ? '/' : (config.rewritePrefix ?? null),
    hostRewrite: config.hostRewrite ?? null,
    timeouts: { ...defaults.timeouts, ...stripUndefined(config.timeouts) },
    retries: compileRetryPolicy({ ...defaults.retries, ...stripUndefined(config.retries) }),
    maxBodySize: config.maxBodySize ?? null,
    order,
    filters: buildFilterChain(config, defaults.tracing, filterState, metrics),
  };
  const forService = (service: string): Route => ({ ...base, cluster: clusters.get(service), metrics: metrics.route(config.name, service), split: null });
  if (config.backends === undefined) return forService(config.service!);
  // The schema guarantees one of service/backends, distinct services and a weight above 0.
  const split = new WeightedSplit(
    config.backends.map((b) => ({ route: forService(b.service), weight: b.weight })),
    config.sticky,
  );
  // The route the table matches: it stands for the first backend with traffic until the split picks.
  const first = split.backends.find((b) => b.weight > 0)!.route;
  return { ...first, split };
}

function stripUndefined<T extends object>(value: T | undefined): Partial<T> {
  if (!value) return {};
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}

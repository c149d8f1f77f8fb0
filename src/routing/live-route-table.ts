import type { RouteConfig } from '../config/schema.js';
import type { FilterState } from '../filters/filter-chain-builder.js';
import type { SwitchyardMetrics } from '../observability/metrics.js';
import { EMPTY_SNAPSHOT, type RegistrySnapshot } from '../registry/service-instance.js';
import { changedServiceNames } from '../registry/snapshot-equality.js';
import type { ClusterManager } from '../upstream/cluster-manager.js';
import type { Route } from './route.js';
import type { RouteOverrides } from './route-overrides.js';
import { buildRouteTable, compileRoute, tagRouteOrder, type RouteDeclaration, type RouteDefaults } from './route-table-builder.js';
import { RouteTable } from './route-table.js';
import type { TagRoutes } from './tag-routes.js';

/** What a full build reads besides the registry: the configuration and the operator's overrides. */
export interface RouteTableSources {
  configRoutes: readonly RouteConfig[];
  overrides: RouteOverrides;
  defaults: RouteDefaults;
  /** The tag prefix that declares routes, or null when the registry does not route from tags. */
  tagPrefix: string | null;
}

/** The table after a registry change and the services that changed in it. */
export interface RegistryChange {
  table: RouteTable;
  services: readonly string[];
}

/**
 * The router's route table, kept up to date: `rebuild` builds it whole (start, config reload,
 * override change); `applyRegistry` changes only what a registry change touches.
 *
 * A registry change touches the services whose entry object changed (changedServiceNames);
 * of the routes, only tag routes depend on the registry, and only those whose host and path a
 * changed service claims or claimed (TagRoutes.update) are decided and compiled again. The new
 * table is made by copy-on-write from the current one (RouteTable.withChanges): untouched
 * host groups and route lists are shared, touched ones copied, and the result is swapped in
 * with one assignment by the caller. Config and override routes are not recompiled, and every
 * route keeps pointing at the same Cluster object (ClusterManager keeps one per service name),
 * so endpoint health, outlier, breaker and retry-budget state are untouched.
 *
 * The route list keeps the order of a full build (config routes, tag routes by name, override
 * routes), so both ways give the same table; a property test compares them.
 */
export class LiveRouteTable {
  private table = RouteTable.empty();
  private sources: RouteTableSources | null = null;
  private snapshot: RegistrySnapshot = EMPTY_SNAPSHOT;
  /** The table's routes in three runs: config, tags (by name), overrides. */
  private head: readonly Route[] = [];
  private tagRoutes: readonly Route[] = [];
  private tail: readonly Route[] = [];
  private readonly tagRouteByName = new Map<string, Route>();
  /** Route names the overrides remove or replace: a tag route of such a name stays out. */
  private overridden: ReadonlySet<string> = new Set();
  private tagOrder = -1;

  constructor(
    private readonly tags: TagRoutes,
    private readonly clusters: ClusterManager,
    private readonly metrics: SwitchyardMetrics,
    private readonly filterState: FilterState,
  ) {}

  get current(): RouteTable {
    return this.table;
  }

  /** Whether a full build has run (before it, registry changes only record the snapshot). */
  get built(): boolean {
    return this.sources !== null;
  }

  /** Builds the whole table from `sources` and `snapshot`. */
  rebuild(sources: RouteTableSources, snapshot: RegistrySnapshot): RouteTable {
    const declarations: RouteDeclaration[] = sources.configRoutes.map((config) => ({ config, source: 'config' }));
    // Tag routes come after the config's routes; on a host+path conflict the config route wins.
    declarations.push(...this.tags.declarations(snapshot, sources.tagPrefix, sources.configRoutes));
    const final = sources.overrides.apply(declarations);
    const table = buildRouteTable(final, sources.defaults, this.clusters, this.metrics, this.filterState);
    this.head = table.routes.filter((r) => r.source === 'config');
    this.tagRoutes = table.routes.filter((r) => r.source === 'tags');
    this.tail = table.routes.filter((r) => r.source === 'override');
    this.tagRouteByName.clear();
    for (const r of this.tagRoutes) this.tagRouteByName.set(r.name, r);
    const overridden = new Set<string>();
    for (const { override } of sources.overrides.all) {
      if (override.op === 'remove') overridden.add(override.name);
      else if (override.op === 'add') overridden.add(override.route.name);
    }
    this.overridden = overridden;
    this.tagOrder = tagRouteOrder(this.head.length);
    this.sources = sources;
    this.snapshot = snapshot;
    this.table = table;
    return table;
  }

  /**
   * The table for a new registry snapshot, changed only where the changed services' routes
   * are; the same table object when no route changed (endpoint changes live in the clusters).
   */
  applyRegistry(snapshot: RegistrySnapshot): RegistryChange {
    const services = changedServiceNames(this.snapshot, snapshot);
    this.snapshot = snapshot;
    const sources = this.sources;
    if (sources === null || services.length === 0) return { table: this.table, services };
    const changes = this.tags.update(snapshot, services);
    const removed: Route[] = [];
    for (const d of changes.removed) {
      const route = this.tagRouteByName.get(d.config.name);
      if (route === undefined) continue; // left out by an override
      this.tagRouteByName.delete(d.config.name);
      removed.push(route);
    }
    const added: Route[] = [];
    for (const d of changes.added) {
      if (this.overridden.has(d.config.name)) continue;
      // Outside a FilterState build: tag routes have no rate limit, whose limiters a build tracks.
      const route = compileRoute(d.config, 'tags', this.tagOrder, sources.defaults, this.clusters, this.metrics, this.filterState);
      this.tagRouteByName.set(route.name, route);
      added.push(route);
    }
    if (removed.length === 0 && added.length === 0) return { table: this.table, services };
    this.tagRoutes = mergeByName(this.tagRoutes, new Set(removed), added);
    this.table = this.table.withChanges([...this.head, ...this.tagRoutes, ...this.tail], removed, added);
    return { table: this.table, services };
  }
}

/**
 * `list` (sorted by name) without `removed`, with `added` merged in by name. Positions are found
 * by binary search and the list is copied once (a few routes changed among thousands cost a
 * copy of references, not a comparison per route).
 */
function mergeByName(list: readonly Route[], removed: ReadonlySet<Route>, added: readonly Route[]): Route[] {
  const out = [...list];
  for (const r of removed) {
    const at = positionOf(out, r.name);
    // Names are unique in the list; fall back to a scan if the route object is not where its name sorts.
    const i = out[at] === r ? at : out.indexOf(r);
    if (i !== -1) out.splice(i, 1);
  }
  for (const r of added) out.splice(positionOf(out, r.name), 0, r);
  return out;
}

/** First position in `list` (sorted by name) whose name is not below `name`. */
function positionOf(list: readonly Route[], name: string): number {
  let lo = 0;
  let hi = list.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (list[mid]!.name < name) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

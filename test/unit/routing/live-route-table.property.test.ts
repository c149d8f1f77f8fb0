import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { retryPolicySchema, routeSchema, upstreamTimeoutsSchema, type RouteConfig } from '../../../src/config/schema.js';
import { FilterState } from '../../../src/filters/filter-chain-builder.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { SwitchyardMetrics } from '../../../src/observability/metrics.js';
import type { RegistrySnapshot, ServiceEntry } from '../../../src/registry/service-instance.js';
import { LiveRouteTable, type RouteTableSources } from '../../../src/routing/live-route-table.js';
import type { Route } from '../../../src/routing/route.js';
import { RouteOverrides } from '../../../src/routing/route-overrides.js';
import type { RouteTable } from '../../../src/routing/route-table.js';
import { TagRoutes } from '../../../src/routing/tag-routes.js';
import { ClusterManager } from '../../../src/upstream/cluster-manager.js';

const SERVICES = ['s0', 's1', 's2', 's3', 's4', 's5', 's6', 's7'];
/**
 * Tags that collide on purpose: the same host and path from several services (first wins, or a
 * weighted split), options that disagree, a config route's path, an override's name and path,
 * wildcard and exact hosts, tags that do not parse and tags that are not routes.
 */
const TAGS = [
  'urlprefix-/a',
  'urlprefix-/a/b',
  'urlprefix-/a weight=0.3',
  'urlprefix-/a strip=/a weight=0.2',
  'urlprefix-/b',
  'urlprefix-/',
  'urlprefix-/taken',
  'urlprefix-x.test/a',
  'urlprefix-x.test/ strip=/',
  'urlprefix-*.x.test/c',
  'urlprefix-*.x.test/c weight=0.5',
  'urlprefix-y.test/a/b',
  'urlprefix-/ov',
  'urlprefix-/bad proto=tcp',
  'other',
  'version=2',
];
const REQUEST_HOSTS = ['', 'x.test', 'a.x.test', 'y.test', 'z.test'];
const REQUEST_PATHS = ['/', '/a', '/a/b', '/a/b/c', '/b', '/c', '/taken', '/ov', '/zzz'];
const METHODS = ['GET', 'POST'];

const configRoutes: RouteConfig[] = [
  routeSchema.parse({ name: 'cfg-taken', match: { path: '/taken' }, service: 's0' }),
  routeSchema.parse({ name: 'cfg-a-post', match: { path: '/a', methods: ['POST'] }, service: 's1' }),
  routeSchema.parse({ name: 'cfg-y', match: { host: 'y.test', path: '/' }, service: 's2' }),
];

function overrides(): RouteOverrides {
  const o = new RouteOverrides();
  // A tag route of this name stays out; another route takes its host and path.
  o.add({ op: 'remove', name: 'tag:s3:/b' });
  o.add({ op: 'add', route: routeSchema.parse({ name: 'ov-route', match: { path: '/ov' }, service: 's4' }) });
  o.add({ op: 'add', route: routeSchema.parse({ name: 'cfg-y', match: { host: 'y.test', path: '/a' }, service: 's5' }) });
  return o;
}

const change = fc.record({
  service: fc.constantFrom(...SERVICES),
  kind: fc.constantFrom('tags', 'tags', 'instances', 'remove'),
  tags: fc.uniqueArray(fc.constantFrom(...TAGS), { maxLength: 3 }),
});
type Change = { service: string; kind: string; tags: string[] };

function applyChange(snapshot: RegistrySnapshot, c: Change, n: number): RegistrySnapshot {
  const services = new Map(snapshot.services);
  const old = services.get(c.service);
  if (c.kind === 'remove') services.delete(c.service);
  else {
    const tags = c.kind === 'instances' && old ? old.tags : c.tags;
    const entry: ServiceEntry = {
      name: c.service,
      tags,
      instances: [{ id: `${c.service}-${n}`, service: c.service, address: '127.0.0.1', port: 10_000 + (n % 1000), weight: 1, tags, meta: {}, health: 'passing' }],
    };
    services.set(c.service, entry);
  }
  return { services };
}

/** Everything a lookup or an admin view can see of a route. */
function routeView(r: Route, clusters: ClusterManager) {
  return {
    name: r.name,
    source: r.source,
    host: r.host,
    prefix: r.prefix,
    order: r.order,
    // The service's one Cluster object (its endpoints, health, breaker and outlier state), not a copy.
    cluster: r.cluster.name,
    sameCluster: r.cluster === clusters.get(r.cluster.name),
    rewritePrefix: r.rewritePrefix,
    hostRewrite: r.hostRewrite,
    methods: r.methods ? [...r.methods] : null,
    split: r.split?.backends.map((b) => [b.route.cluster.name, b.weight]) ?? null,
  };
}

/** The table's structure: routes in order, and every host group's prefixes with their routes in precedence order. */
function structure(t: RouteTable, clusters: ClusterManager) {
  const group = (g: { entries(): IterableIterator<readonly [string, readonly Route[]]> }) =>
    [...g.entries()].map(([p, list]) => [p, list.map((r) => r.name)] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const hosts = (m: ReadonlyMap<string, { entries(): IterableIterator<readonly [string, readonly Route[]]> }>) =>
    [...m].map(([h, g]) => [h, group(g)] as const).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const g = t.groups();
  return { routes: t.routes.map((r) => routeView(r, clusters)), exact: hosts(g.exact), wildcard: hosts(g.wildcard), any: group(g.any) };
}

function lookups(t: RouteTable): (string | undefined)[] {
  const out: (string | undefined)[] = [];
  for (const h of REQUEST_HOSTS) for (const p of REQUEST_PATHS) for (const m of METHODS) out.push(t.match(h, p, m, {})?.name);
  return out;
}

describe('LiveRouteTable (properties)', () => {
  it('after each of 10,000 random registry changes, the incrementally updated table equals a full build', () => {
    const clusters = new ClusterManager(silentLogger());
    const metrics = new SwitchyardMetrics();
    const sources: RouteTableSources = {
      configRoutes,
      overrides: overrides(),
      defaults: { timeouts: upstreamTimeoutsSchema.parse({}), retries: retryPolicySchema.parse({}) },
      tagPrefix: 'urlprefix-',
    };
    fc.assert(
      fc.property(fc.array(change, { minLength: 10_000, maxLength: 10_000 }), (changes) => {
        let snapshot: RegistrySnapshot = { services: new Map() };
        const live = new LiveRouteTable(new TagRoutes(silentLogger()), clusters, metrics, new FilterState());
        live.rebuild(sources, snapshot);
        const full = new LiveRouteTable(new TagRoutes(silentLogger()), clusters, metrics, new FilterState());
        let withTagRoutes = 0;
        changes.forEach((c, n) => {
          snapshot = applyChange(snapshot, c, n);
          const incremental = live.applyRegistry(snapshot).table;
          const whole = full.rebuild(sources, snapshot);
          expect(structure(incremental, clusters), `after change ${n}`).toEqual(structure(whole, clusters));
          expect(lookups(incremental)).toEqual(lookups(whole));
          if (whole.routes.some((r) => r.source === 'tags')) withTagRoutes++;
        });
        // The sequence exercised tag routes, not only the config routes.
        expect(withTagRoutes).toBeGreaterThan(changes.length / 2);
      }),
      // Shrinking a 10,000-step sequence takes far longer than reading the first failing step.
      { numRuns: 1, endOnFailure: true },
    );
  }, 180_000);
});

import { describe, expect, it } from 'vitest';
import { retryPolicySchema, routeSchema, upstreamTimeoutsSchema } from '../../../src/config/schema.js';
import { FilterState } from '../../../src/filters/filter-chain-builder.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { SwitchyardMetrics } from '../../../src/observability/metrics.js';
import type { RegistrySnapshot, ServiceEntry } from '../../../src/registry/service-instance.js';
import { LiveRouteTable, type RouteTableSources } from '../../../src/routing/live-route-table.js';
import { RouteOverrides } from '../../../src/routing/route-overrides.js';
import { TagRoutes } from '../../../src/routing/tag-routes.js';
import { ClusterManager } from '../../../src/upstream/cluster-manager.js';

function entry(name: string, tags: string[], ports: number[], health: 'passing' | 'critical' = 'passing'): ServiceEntry {
  return { name, tags, instances: ports.map((port) => ({ id: `${name}-${port}`, service: name, address: '127.0.0.1', port, weight: 1, tags, meta: {}, health })) };
}

describe('LiveRouteTable', () => {
  const sources: RouteTableSources = {
    configRoutes: [routeSchema.parse({ name: 'cfg', match: { path: '/cfg' }, service: 'a' })],
    overrides: new RouteOverrides(),
    defaults: { timeouts: upstreamTimeoutsSchema.parse({}), retries: retryPolicySchema.parse({}) },
    tagPrefix: 'urlprefix-',
  };

  it('a registry change recompiles only the changed services\' routes; clusters, endpoints and other routes keep their identity and state', () => {
    const clusters = new ClusterManager(silentLogger());
    const live = new LiveRouteTable(new TagRoutes(silentLogger()), clusters, new SwitchyardMetrics(), new FilterState());
    const a = entry('a', ['urlprefix-/a'], [7001, 7002]);
    const b = entry('b', ['urlprefix-/b'], [7003]);
    const first: RegistrySnapshot = { services: new Map([['a', a], ['b', b]]) };
    clusters.applySnapshot(first);
    const t1 = live.rebuild(sources, first);
    const route = (name: string) => t1.routes.find((r) => r.name === name)!;
    const clusterA = clusters.get('a');
    const endpointsA = clusterA.endpoints;
    const [endpointB] = clusters.get('b').endpoints;
    // State held on an endpoint (an operator drain) must survive the change.
    endpointB!.drained = true;

    // b's instance goes critical (same tags), a is unchanged: no route changes at all.
    const second: RegistrySnapshot = { services: new Map([['a', a], ['b', entry('b', ['urlprefix-/b'], [7003], 'critical')]]) };
    clusters.applySnapshot(second);
    const change = live.applyRegistry(second);
    expect(change.services).toEqual(['b']);
    expect(change.table).toBe(t1);
    expect(clusters.get('b').endpoints[0]).toBe(endpointB);
    expect(endpointB!.drained).toBe(true);
    expect(endpointB!.instance.health).toBe('critical');

    // b gets another route: only b's routes are new objects; a's routes, cluster and endpoints stay.
    const third: RegistrySnapshot = { services: new Map([['a', a], ['b', entry('b', ['urlprefix-/b', 'urlprefix-/b2'], [7003])]]) };
    clusters.applySnapshot(third);
    const t3 = live.applyRegistry(third).table;
    expect(t3).not.toBe(t1);
    expect(t3.routes.map((r) => r.name)).toEqual(['cfg', 'tag:a:/a', 'tag:b:/b', 'tag:b:/b2']);
    expect(t3.routes.find((r) => r.name === 'cfg')).toBe(route('cfg'));
    expect(t3.routes.find((r) => r.name === 'tag:a:/a')).toBe(route('tag:a:/a'));
    expect(t3.match('', '/a/x', 'GET', {})!.cluster).toBe(clusterA);
    expect(clusters.get('a').endpoints).toBe(endpointsA);
    expect(t3.match('', '/b2', 'GET', {})!.cluster).toBe(clusters.get('b'));
    // The old table is untouched: a request that read it before the swap sees it whole.
    expect(t1.match('', '/b2', 'GET', {})).toBeUndefined();
    expect(t1.routes.map((r) => r.name)).toEqual(['cfg', 'tag:a:/a', 'tag:b:/b']);

    // b leaves the registry: its routes go, a's stay the same objects.
    const fourth: RegistrySnapshot = { services: new Map([['a', a]]) };
    clusters.applySnapshot(fourth);
    const t4 = live.applyRegistry(fourth).table;
    expect(t4.routes.map((r) => r.name)).toEqual(['cfg', 'tag:a:/a']);
    expect(t4.match('', '/b', 'GET', {})).toBeUndefined();
    expect(t4.routes.find((r) => r.name === 'tag:a:/a')).toBe(route('tag:a:/a'));
  });
});

import fc from 'fast-check';
import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import { routeSchema, retryPolicySchema, upstreamTimeoutsSchema } from '../../../src/config/schema.js';
import type { Route } from '../../../src/routing/route.js';
import { buildRouteTable } from '../../../src/routing/route-table-builder.js';
import { ClusterManager } from '../../../src/upstream/cluster-manager.js';

const SEGMENTS = ['a', 'b', 'api', 'v1', 'ab'];
const segment = fc.constantFrom(...SEGMENTS);
const prefix = fc.array(segment, { maxLength: 3 }).map((s) => `/${s.join('/')}`);
const path = fc.tuple(fc.array(segment, { maxLength: 4 }), fc.boolean()).map(([s, slash]) => `/${s.join('/')}${slash && s.length > 0 ? '/' : ''}`);
const host = fc.constantFrom('x.test', 'y.test', 'a.x.test');
const routeSpec = fc.record({
  prefix,
  host: fc.option(fc.constantFrom('x.test', '*.x.test', 'y.test'), { nil: undefined }),
  methods: fc.option(fc.constantFrom(['GET'], ['POST'], ['GET', 'POST']), { nil: undefined }),
});

/** The documented precedence, by brute force over all routes. */
function reference(routes: readonly Route[], reqHost: string, reqPath: string, method: string): Route | undefined {
  const prefixMatches = (p: string) => p === '/' || reqPath === p || reqPath.startsWith(`${p}/`);
  const inGroup = (r: Route, group: string | undefined) => r.host === group && prefixMatches(r.prefix) && (r.methods === null || r.methods.has(method));
  const best = (candidates: Route[]) =>
    candidates.sort((a, b) => b.prefix.length - a.prefix.length || (b.methods ? 1 : 0) - (a.methods ? 1 : 0) || a.order - b.order)[0];
  const groups: (string | undefined)[] = [reqHost];
  for (let dot = reqHost.indexOf('.'); dot >= 0; dot = reqHost.indexOf('.', dot + 1)) groups.push(`*${reqHost.slice(dot)}`);
  groups.push(undefined);
  for (const g of groups) {
    const r = best(routes.filter((x) => inGroup(x, g)));
    if (r !== undefined) return r;
  }
  return undefined;
}

describe('RouteTable.match (properties)', () => {
  const clusters = new ClusterManager(pino({ level: 'silent' }));
  const timeouts = { timeouts: upstreamTimeoutsSchema.parse({}), retries: retryPolicySchema.parse({}) };

  it('matches what the documented precedence says, for any route set and request', () => {
    fc.assert(
      fc.property(fc.array(routeSpec, { maxLength: 8 }), host, path, fc.constantFrom('GET', 'POST', 'PUT'), (specs, reqHost, reqPath, method) => {
        const declarations = specs.map((s, i) => ({
          config: routeSchema.parse({ name: `r${i}`, service: 'svc', match: { path: s.prefix, host: s.host, methods: s.methods } }),
          source: 'config' as const,
        }));
        const table = buildRouteTable(declarations, timeouts, clusters);
        const got = table.match(reqHost, reqPath, method, {});
        const want = reference(table.routes, reqHost, reqPath, method);
        expect(got?.name).toBe(want?.name);
      }),
      { numRuns: 3_000 },
    );
  });

  it('never matches a prefix across a segment boundary', () => {
    fc.assert(
      fc.property(prefix, path, (p, reqPath) => {
        const table = buildRouteTable([{ config: routeSchema.parse({ name: 'only', service: 'svc', match: { path: p } }), source: 'config' }], timeouts, clusters);
        const matched = table.match('', reqPath, 'GET', {}) !== undefined;
        expect(matched).toBe(p === '/' || reqPath === p || reqPath.startsWith(`${p}/`));
      }),
      { numRuns: 2_000 },
    );
  });
});

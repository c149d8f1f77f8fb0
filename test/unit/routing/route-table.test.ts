import type { IncomingHttpHeaders } from 'node:http';
import { describe, expect, it } from 'vitest';
import { retryPolicySchema, routeSchema, upstreamTimeoutsSchema } from '../../../src/config/schema.js';
import { silentLogger } from '../../../src/observability/logger.js';
import { rewritePath } from '../../../src/routing/route.js';
import { buildRouteTable } from '../../../src/routing/route-table-builder.js';
import { ClusterManager } from '../../../src/upstream/cluster-manager.js';

const defaults = { timeouts: upstreamTimeoutsSchema.parse({}), retries: retryPolicySchema.parse({}) };

function table(routes: Record<string, unknown>[]) {
  const clusters = new ClusterManager(silentLogger());
  return buildRouteTable(
    routes.map((r) => ({ config: routeSchema.parse(r), source: 'config' as const })),
    defaults,
    clusters,
  );
}

const noHeaders: IncomingHttpHeaders = {};

describe('RouteTable', () => {
  it('matches on segment boundaries only', () => {
    const t = table([
      { name: 'api', match: { path: '/api' }, service: 's' },
      { name: 'root', match: { path: '/' }, service: 's' },
    ]);
    const name = (p: string) => t.match('', p, 'GET', noHeaders)?.name;
    expect(name('/api')).toBe('api');
    expect(name('/api/')).toBe('api');
    expect(name('/api/x/y')).toBe('api');
    expect(name('/apix')).toBe('root');
    expect(name('/ap')).toBe('root');
    expect(name('/')).toBe('root');
  });

  it('returns undefined when nothing matches', () => {
    const t = table([{ name: 'api', match: { path: '/api' }, service: 's' }]);
    expect(t.match('', '/other', 'GET', noHeaders)).toBeUndefined();
    expect(t.match('x.example.com', '/', 'GET', noHeaders)).toBeUndefined();
  });

  it('orders host groups: exact, then most specific wildcard, then any host; with fall-through', () => {
    const t = table([
      { name: 'any-api', match: { path: '/api' }, service: 's' },
      { name: 'wild', match: { host: '*.example.com', path: '/' }, service: 's' },
      { name: 'wild-eu', match: { host: '*.eu.example.com', path: '/shop' }, service: 's' },
      { name: 'exact', match: { host: 'www.example.com', path: '/www' }, service: 's' },
    ]);
    const name = (h: string, p: string) => t.match(h, p, 'GET', noHeaders)?.name;
    expect(name('www.example.com', '/www/x')).toBe('exact');
    expect(name('www.example.com', '/other')).toBe('wild'); // exact group has no match → wildcard
    expect(name('a.eu.example.com', '/shop')).toBe('wild-eu');
    expect(name('a.eu.example.com', '/blog')).toBe('wild'); // falls through to the less specific wildcard
    expect(name('example.com', '/api')).toBe('any-api'); // "*.example.com" does not match the apex
    expect(name('other.org', '/api')).toBe('any-api');
    expect(name('other.org', '/')).toBeUndefined();
  });

  it('breaks prefix ties by number of conditions, then declaration order', () => {
    const t = table([
      { name: 'plain-1', match: { path: '/x' }, service: 's' },
      { name: 'plain-2', match: { path: '/x' }, service: 's' },
      { name: 'method', match: { path: '/x', methods: ['POST'] }, service: 's' },
      { name: 'method+header', match: { path: '/x', methods: ['POST'], headers: { 'X-Env': 'canary' } }, service: 's' },
    ]);
    expect(t.match('', '/x', 'GET', noHeaders)?.name).toBe('plain-1');
    expect(t.match('', '/x', 'POST', noHeaders)?.name).toBe('method');
    expect(t.match('', '/x', 'POST', { 'x-env': 'canary' })?.name).toBe('method+header');
    expect(t.match('', '/x', 'POST', { 'x-env': 'prod' })?.name).toBe('method');
  });

  it('lets a longer prefix win over a more specific shorter one', () => {
    const t = table([
      { name: 'short-with-header', match: { path: '/a', headers: { 'x-k': 'v' } }, service: 's' },
      { name: 'long', match: { path: '/a/b' }, service: 's' },
    ]);
    expect(t.match('', '/a/b/c', 'GET', { 'x-k': 'v' })?.name).toBe('long');
    expect(t.match('', '/a/c', 'GET', { 'x-k': 'v' })?.name).toBe('short-with-header');
  });

  it('finds the right route among 10,000 routes across 1,000 hosts', () => {
    const routes: Record<string, unknown>[] = [];
    for (let h = 0; h < 1000; h++) {
      for (let p = 0; p < 10; p++) routes.push({ name: `r-${h}-${p}`, match: { host: `h${h}.example.com`, path: `/p${p}/sub${p}` }, service: `s${h}` });
    }
    routes.push({ name: 'fallback', match: { path: '/' }, service: 'fallback' });
    const t = table(routes);
    expect(t.routes).toHaveLength(10_001);
    for (let h = 0; h < 1000; h += 97) {
      for (let p = 0; p < 10; p += 3) {
        const r = t.match(`h${h}.example.com`, `/p${p}/sub${p}/item/42`, 'GET', noHeaders);
        expect(r?.name).toBe(`r-${h}-${p}`);
        expect(r?.cluster.name).toBe(`s${h}`);
      }
    }
    expect(t.match('h5.example.com', '/p1/other', 'GET', noHeaders)?.name).toBe('fallback');
  });
});

describe('rewritePath', () => {
  const route = (path: string, extra: Record<string, unknown>) => table([{ name: 'r', match: { path }, service: 's', ...extra }]).routes[0]!;

  it('strips the matched prefix', () => {
    const r = route('/api', { stripPrefix: true });
    expect(rewritePath(r, '/api/users', '?a=1')).toBe('/users?a=1');
    expect(rewritePath(r, '/api', '')).toBe('/');
    expect(rewritePath(r, '/api/', '')).toBe('/');
  });

  it('replaces the matched prefix', () => {
    const r = route('/old', { rewritePrefix: '/new/v2' });
    expect(rewritePath(r, '/old/x', '')).toBe('/new/v2/x');
    expect(rewritePath(r, '/old', '?q')).toBe('/new/v2?q');
    const slash = route('/old', { rewritePrefix: '/new/' });
    expect(rewritePath(slash, '/old/x', '')).toBe('/new/x');
    const root = route('/', { rewritePrefix: '/base' });
    expect(rewritePath(root, '/x/y', '')).toBe('/base/x/y');
  });

  it('leaves the path alone without a rewrite', () => {
    const r = route('/api', {});
    expect(rewritePath(r, '/api/x', '?y')).toBe('/api/x?y');
  });

  it('route timeouts and retries override the top-level ones field by field, keeping the rest', () => {
    const topLevel = {
      timeouts: upstreamTimeoutsSchema.parse({ headers: '5s', bodyIdle: '7s' }),
      retries: retryPolicySchema.parse({ maxRetries: 1, bufferBody: '2KiB' }),
    };
    const route = routeSchema.parse({ name: 'r', service: 's', timeouts: { perTry: '2s' }, retries: { maxRetries: 0 } });
    expect(route.timeouts).toEqual({ perTry: 2000 });
    expect(route.retries).toEqual({ maxRetries: 0 });
    const t = buildRouteTable([{ config: route, source: 'config' }], topLevel, new ClusterManager(silentLogger()));
    const compiled = t.match('', '/', 'GET', noHeaders)!;
    expect(compiled.timeouts).toEqual({ headers: 5000, bodyIdle: 7000, total: 0, perTry: 2000 });
    expect(compiled.retries).toMatchObject({ maxRetries: 0, bufferBody: 2048 });
  });
});

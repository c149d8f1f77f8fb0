/**
 * Micro-benchmark of Switchyard's per-request functions, in isolation (ns per call). End-to-end
 * throughput on a loopback benchmark is dominated by socket writes, so changes to these
 * functions show here long before they show in `npm run bench`.
 * Usage: tsx bench/micro/hot-path.ts [iterations=2000000]
 */
import type { IncomingMessage } from 'node:http';
import { silentLogger } from '../../src/observability/logger.js';
import { connectionTokens } from '../../src/proxy/hop-by-hop.js';
import { forwardedTrust, resolveClientAddress } from '../../src/proxy/client-address.js';
import { buildUpstreamHeaders, forwardingHeaderSettings } from '../../src/proxy/request-headers.js';
import { requestIdFor } from '../../src/proxy/request-id.js';
import { hostOf } from '../../src/proxy/request-target.js';
import { buildClientHeaders } from '../../src/proxy/response-headers.js';
import { rewritePath } from '../../src/routing/route.js';
import { buildRouteTable } from '../../src/routing/route-table-builder.js';
import { retryPolicySchema, routeSchema, serviceSchema, upstreamTimeoutsSchema } from '../../src/config/schema.js';
import { ClusterManager } from '../../src/upstream/cluster-manager.js';
import { Cluster } from '../../src/upstream/cluster.js';
import type { ServiceInstance } from '../../src/registry/service-instance.js';

const iterations = Number(process.argv[2] ?? 2_000_000);
let sink: unknown;

function measure(name: string, fn: () => unknown): void {
  for (let i = 0; i < iterations / 10; i++) sink = fn();
  const start = process.hrtime.bigint();
  for (let i = 0; i < iterations; i++) sink = fn();
  const ns = Number(process.hrtime.bigint() - start) / iterations;
  process.stdout.write(`${name.padEnd(44)} ${ns.toFixed(1).padStart(8)} ns/call\n`);
}

const settings = forwardingHeaderSettings({ trustForwardedHeaders: false, trustedProxies: [], trustedHops: 0, requestIdHeader: 'x-request-id', via: 'switchyard' });
const behindProxies = forwardedTrust({ trustForwardedHeaders: false, trustedProxies: ['10.0.0.0/8', '2001:db8::/32'], trustedHops: 0 })!;
const browserRaw = [
  'Host', 'api.example.com', 'User-Agent', 'Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0',
  'Accept', 'application/json', 'Accept-Language', 'en-GB,en;q=0.5', 'Accept-Encoding', 'gzip, deflate, br',
  'Connection', 'keep-alive', 'Cookie', 'session=abcdef0123456789', 'Cache-Control', 'no-cache',
];
const request = {
  rawHeaders: browserRaw,
  headers: { host: 'api.example.com', connection: 'keep-alive' },
  socket: { remoteAddress: '127.0.0.1' },
  httpVersionMinor: 1,
  method: 'GET',
  url: '/api/v1/users/42?x=1',
} as unknown as IncomingMessage;
const upstreamRaw = [
  'Content-Type', 'application/octet-stream', 'Content-Length', '1024', 'Date', 'Tue, 25 Nov 2026 12:00:00 GMT',
  'Connection', 'keep-alive', 'Keep-Alive', 'timeout=120',
].map((s) => Buffer.from(s, 'latin1'));

const clusters = new ClusterManager(silentLogger());
const timeouts = { timeouts: upstreamTimeoutsSchema.parse({}), retries: retryPolicySchema.parse({}) };
const routes = Array.from({ length: 10_000 }, (_, i) => ({
  config: routeSchema.parse({ name: `r${i}`, match: { path: `/api/v${i % 3}/svc${i}`, ...(i % 2 ? { host: `svc${i}.bench.internal` } : {}) }, service: `svc${i % 10}` }),
  source: 'config' as const,
}));
const table = buildRouteTable(routes, timeouts, clusters);
const table10 = buildRouteTable(routes.filter((_, i) => i % 1111 === 0), timeouts, clusters);

measure('connectionTokens(["keep-alive"])', () => connectionTokens(['keep-alive']));
measure('requestIdFor(undefined)', () => requestIdFor(undefined));
measure('hostOf("svc1111.bench.internal:8080")', () => hostOf('svc1111.bench.internal:8080'));
measure('table.match (10k routes, by host)', () => table.match('svc1111.bench.internal', '/api/v1/svc1111/x', 'GET', request.headers));
measure('table.match (10k routes, any host)', () => table.match('127.0.0.1', '/api/v2/svc2222/x', 'GET', request.headers));
measure('table.match (10 routes, by host)', () => table10.match('svc1111.bench.internal', '/api/v1/svc1111/x', 'GET', request.headers));
measure('table.match (10 routes, any host)', () => table10.match('127.0.0.1', '/api/v2/svc2222/x', 'GET', request.headers));
const route = table.match('127.0.0.1', '/api/v2/svc2222/x', 'GET', request.headers)!;
measure('rewritePath', () => rewritePath(route, '/api/v2/svc2222/x', '?x=1'));
measure('buildUpstreamHeaders (8 browser headers)', () => buildUpstreamHeaders(request, settings, 'id-1', null, 'http', null, '127.0.0.1', false));
measure('resolveClientAddress (no trusted proxies)', () => resolveClientAddress('203.0.113.9', undefined, settings.trust));
measure('resolveClientAddress (walk 3 XFF entries)', () => resolveClientAddress('10.0.0.1', '198.51.100.7, 10.1.1.1, 10.2.2.2', behindProxies));
measure('buildClientHeaders (5 upstream headers)', () => buildClientHeaders(upstreamRaw, 'x-request-id', 'id-1'));

function clusterOf(count: number, weighted: boolean): Cluster {
  const cluster = new Cluster('bench', serviceSchema.parse({}), silentLogger());
  const instances: ServiceInstance[] = Array.from({ length: count }, (_, i) => ({
    id: `i${i}`, service: 'bench', address: '127.0.0.1', port: 20_000 + i, weight: weighted ? 1 + (i % 3) : 1, tags: [], meta: {}, health: 'passing',
  }));
  cluster.setInstances(instances);
  return cluster;
}
for (const [count, weighted] of [[1, false], [100, false], [100, true]] as const) {
  const cluster = clusterOf(count, weighted);
  measure(`cluster.pick (${count} instance(s)${weighted ? ', weights 1-3' : ''})`, () => cluster.pick(request, '127.0.0.1'));
  void cluster.close();
}
void sink;

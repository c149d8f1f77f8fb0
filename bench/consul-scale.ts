/**
 * `npm run bench:consul`: Consul discovery at scale, against the emulator in this process.
 * 1,000 services x 5 instances (each with a TTL check and a urlprefix- tag). Measures:
 * - start-up sync time and memory of the router's view (heap after GC, before/after start);
 * - time from a health change in Consul to a new route table, and Consul requests per change;
 * - time from a tag change to the route table;
 * - the cost of a catalog change no tag or check explains (instance without checks: full sweep);
 * - requests per second to Consul while idle.
 * A benchmark, not a test: figures vary with the machine.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Switchyard } from '../src/main.js';
import { silentLogger } from '../src/observability/logger.js';
import { ConsulEmulator } from '../test/support/consul-emulator.js';

const SERVICES = Number(process.env.BENCH_SERVICES ?? 1000);
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 5);
const CHANGES = Number(process.env.BENCH_CHANGES ?? 30);
const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 20_000);

const gc = (globalThis as { gc?: () => void }).gc;
const heapMiB = () => {
  gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
};
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!;
const fmt = (n: number) => n.toFixed(1);

async function main(): Promise<void> {
  const consul = await ConsulEmulator.start({ runChecks: false });
  for (let s = 0; s < SERVICES; s++) {
    for (let i = 0; i < INSTANCES; i++) {
      consul.register({ Name: `svc-${s}`, ID: `svc-${s}-${i}`, Address: '127.0.0.1', Port: 20_000 + i, Tags: [`urlprefix-/svc-${s}`], Check: { TTL: '24h', Status: 'passing' } });
    }
  }
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-bench-'));
  const configFile = join(dir, 'config.yaml');
  await writeFile(configFile, stringify({ listeners: [{ address: '127.0.0.1', port: 0 }], admin: { enabled: false }, registry: { type: 'consul', address: consul.address } }));

  const heapBefore = heapMiB();
  const rssBefore = process.memoryUsage().rss / 2 ** 20;
  let t = performance.now();
  const app = await Switchyard.start(configFile, { logger: silentLogger() });
  const startMs = performance.now() - t;
  const heapAfter = heapMiB();
  const rssAfter = process.memoryUsage().rss / 2 ** 20;
  const handler = (app as unknown as { handler: { table: { routes: readonly unknown[] } } }).handler;
  const routes = handler.table.routes.length;

  /** Waits (setImmediate polling) until the route table is replaced; returns ms since `t0`. */
  const tableSwap = async (t0: number, before: unknown) => {
    while (handler.table === before) {
      await new Promise((r) => setTimeout(r, 1));
      if (performance.now() - t0 > 10_000) throw new Error('route table not rebuilt within 10 s');
    }
    return performance.now() - t0;
  };

  // Let the watches settle into their blocking queries.
  await new Promise((r) => setTimeout(r, 500));

  const health: number[] = [];
  const healthRequests: number[] = [];
  for (let n = 0; n < CHANGES; n++) {
    // Pairs of changes on one instance: critical, then passing again.
    const k = Math.floor(n / 2);
    const before = handler.table;
    const reqs = consul.requests.length;
    t = performance.now();
    consul.setCheckStatus(`service:svc-${(k * 37) % SERVICES}-${k % INSTANCES}`, n % 2 === 0 ? 'critical' : 'passing');
    health.push(await tableSwap(t, before));
    await new Promise((r) => setTimeout(r, 150));
    healthRequests.push(consul.requests.length - reqs);
  }
  await new Promise((r) => setTimeout(r, 500));

  const tags: number[] = [];
  for (let n = 0; n < Math.min(CHANGES, 10); n++) {
    const before = handler.table;
    t = performance.now();
    consul.register({ Name: `svc-${n}`, ID: `svc-${n}-0`, Address: '127.0.0.1', Port: 20_000, Tags: [`urlprefix-/svc-${n}`, `urlprefix-/extra-${n}-${Date.now()}`], Check: { TTL: '24h', Status: 'passing' } });
    tags.push(await tableSwap(t, before));
    await new Promise((r) => setTimeout(r, 150));
  }
  await new Promise((r) => setTimeout(r, 500));

  // An instance without checks and without new tags: only the catalog index moves.
  let before = handler.table;
  let reqs = consul.requests.length;
  t = performance.now();
  consul.register({ Name: 'svc-1', ID: 'svc-1-nocheck', Address: '127.0.0.1', Port: 29_999, Tags: ['urlprefix-/svc-1'] });
  const sweepMs = await tableSwap(t, before);
  await new Promise((r) => setTimeout(r, 1_000));
  const sweepRequests = consul.requests.length - reqs;

  reqs = consul.requests.length;
  const idleStart = performance.now();
  await new Promise((r) => setTimeout(r, IDLE_MS));
  const idleRate = ((consul.requests.length - reqs) * 1000) / (performance.now() - idleStart);

  before = handler.table;
  const result = {
    services: SERVICES,
    instances: SERVICES * INSTANCES,
    routes,
    startSyncMs: Math.round(startMs),
    heapMiB: { beforeStart: fmt(heapBefore), afterSync: fmt(heapAfter), router: fmt(heapAfter - heapBefore) },
    rssMiB: { beforeStart: fmt(rssBefore), afterSync: fmt(rssAfter) },
    healthChangeToRouteTableMs: { p50: fmt(pct(health, 50)), p95: fmt(pct(health, 95)), max: fmt(Math.max(...health)) },
    consulRequestsPerHealthChange: { p50: pct(healthRequests, 50), max: Math.max(...healthRequests) },
    tagChangeToRouteTableMs: { p50: fmt(pct(tags, 50)), max: fmt(Math.max(...tags)) },
    unexplainedCatalogChange: { toRouteTableMs: fmt(sweepMs), consulRequests: sweepRequests },
    idleConsulRequestsPerSecond: Number(idleRate.toFixed(3)),
    idleWindowS: IDLE_MS / 1000,
    gcExposed: gc !== undefined,
  };
  console.log(JSON.stringify(result, null, 2));
  await app.close(1_000);
  await consul.close();
  await rm(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});

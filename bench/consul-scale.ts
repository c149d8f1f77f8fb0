/**
 * `npm run bench:consul`: a fleet of proxies on one Consul, and what it costs Consul.
 *
 * - Consul: the test emulator in a child process (bench/lib/consul-emulator-process.ts), with
 *   S services x I instances, each instance with a passing TTL check and a urlprefix- tag.
 * - Proxies: N in-process ConsulRegistry instances (the real registry class, each with its own
 *   connections, as N routers would have), all in this process; per-proxy CPU and memory are
 *   this process's totals divided by N (the emulator's CPU is not included).
 * - Churn: C check changes a second for BENCH_CHURN_MS, each on a distinct instance (passing →
 *   critical), sent to the emulator over IPC. Change-to-table is the time from sending the
 *   change until a proxy has published a snapshot showing it; "every proxy" is, per change, the
 *   latest of the N proxies.
 * - Reference: the fabio strategy (bench/lib/fabio-model.ts), one proxy, same Consul and churn.
 * - Also, with 1 real router (src/main.ts) on the same Consul: start-up time, its CPU (router
 *   and emulator) and RSS; then BENCH_ROUTER_CHANGES check changes one at a time, each timed
 *   from the flip until the router's cluster shows the instance critical, and the router's own
 *   registry-change handler timed apart, and each change traced stage by stage (the emulator's
 *   flip log, the router's Consul reads and its handler calls, on epoch clocks) from the change
 *   applied in the emulator to the table.
 *
 * Start-up of the real router is split into: the registry's first load (until the "Consul
 * registry synced" log line) and the rest of Switchyard.start (clusters, route table,
 * listeners); the router's busy time (event-loop utilisation), its garbage-collection time
 * and the emulator's CPU. The rest of the wall time is the router waiting for answers.
 *
 * Results: bench/results/consul-<time>.md and .json. A benchmark, not a test.
 * Knobs: BENCH_PROXIES=1,20 (0: no fleet) BENCH_SERVICES=1000,5000 BENCH_CHURN=0,5,50
 * BENCH_INSTANCES=2 BENCH_CHURN_MS=3000 BENCH_IDLE_MS=3000 BENCH_FABIO=1 BENCH_ROUTER=1
 * BENCH_ROUTER_CHANGES=40 (0: start-up only), BENCH_ROUTER_LOG=info (the router's log level;
 * lines go to an in-memory sink that counts them), BENCH_STARTUP_PROFILE=<dir> (a V8 CPU
 * profile of the router's start-up alone, for bench/profile-summary.ts), BENCH_REGISTRY (JSON
 * registry settings), BENCH_BUSY (JSON busy-datacenter options), BENCH_CONSUL_WARM=1 (the
 * emulator reads every service once before anything is measured; 0: cold). The real router alone at one
 * size, start-up only:
 * BENCH_PROXIES=0 BENCH_FABIO=0 BENCH_CHURN=0 BENCH_ROUTER_CHANGES=0 BENCH_SERVICES=10000.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { PerformanceObserver, performance as perf } from 'node:perf_hooks';
import { Writable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { stringify } from 'yaml';
import { parseConfigText } from '../src/config/load-config.js';
import type { ConsulRegistryConfig } from '../src/config/schema.js';
import { Switchyard } from '../src/main.js';
import { createProcessLog, silentLogger } from '../src/observability/logger.js';
import { ConsulClient } from '../src/registry/consul/consul-client.js';
import { ConsulRegistry } from '../src/registry/consul/consul-registry.js';
import { FabioModel } from './lib/fabio-model.js';
import { describeMachine } from './lib/machine.js';
import { EmulatorProcess } from './lib/consul-emulator-client.js';

const list = (name: string, fallback: number[]) => (process.env[name] ? process.env[name]!.split(',').map(Number) : fallback);
/** 0 skips the fleet runs (e.g. BENCH_PROXIES=0 BENCH_FABIO=0: the real router only). */
const PROXIES = list('BENCH_PROXIES', [1, 20]).filter((n) => n > 0);
const SERVICES = list('BENCH_SERVICES', [1000, 5000]);
const CHURN = list('BENCH_CHURN', [0, 5, 50]);
const INSTANCES = Number(process.env.BENCH_INSTANCES ?? 2);
const CHURN_MS = Number(process.env.BENCH_CHURN_MS ?? 3_000);
const IDLE_MS = Number(process.env.BENCH_IDLE_MS ?? 3_000);
const DRAIN_MS = 20_000;
const FABIO = process.env.BENCH_FABIO !== '0';
const ROUTER = process.env.BENCH_ROUTER !== '0';
/** Check changes sent one at a time to the real router (p50/p95 of change → route table). */
const ROUTER_CHANGES = Number(process.env.BENCH_ROUTER_CHANGES ?? 40);
/** The real router's log level (as in production, `info` by default); lines are counted, not written. */
const ROUTER_LOG = process.env.BENCH_ROUTER_LOG ?? 'info';
/** Folder for a CPU profile of the real router's start-up alone (unset: none). */
const STARTUP_PROFILE = process.env.BENCH_STARTUP_PROFILE ?? null;
/**
 * Whether the emulator reads every service once before anything is measured (1, the default),
 * so it answers as a long-running Consul would rather than compiling its own code during the
 * first measured start-up (0: cold, as before 2026-12-07 evening).
 */
const CONSUL_WARM = process.env.BENCH_CONSUL_WARM !== '0';
const NODE = 'node-1';
/** Registry settings merged over the defaults, as JSON (e.g. '{"minInterval":"250ms"}'). */
const REGISTRY = JSON.parse(process.env.BENCH_REGISTRY ?? '{}') as Record<string, unknown>;
/** Busy-datacenter mode of the emulator during every run, as JSON (e.g. '{"services":50,"writesPerSecond":20}'). */
const BUSY = process.env.BENCH_BUSY ? (JSON.parse(process.env.BENCH_BUSY) as Record<string, unknown>) : null;

const here = dirname(fileURLToPath(import.meta.url));
const gc = (globalThis as { gc?: () => void }).gc;
const heapMiB = () => {
  gc?.();
  return process.memoryUsage().heapUsed / 2 ** 20;
};
const pct = (xs: number[], p: number) => (xs.length === 0 ? NaN : [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))]!);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One proxy of a fleet as the measurement sees it. */
interface FleetProxy {
  counters(): { requests: number; bytes: number };
  /** True when the proxy's current table shows instance `i` of service `s` out of rotation. */
  sees(s: number, i: number): boolean;
  onPublish(listener: () => void): void;
  close(): Promise<void>;
}

interface Row {
  model: 'switchyard' | 'fabio model';
  proxies: number;
  services: number;
  instances: number;
  churn: number;
  changes: number;
  windowS: number;
  perProxy: { reqPerS: number; kbPerS: number; cpuPct: number; heapMiB: number };
  fleet: { reqPerS: number; kbPerS: number };
  consulSide: { reqPerS: number; kbPerS: number };
  changeToEveryProxyMs: { p50: number; p95: number; max: number };
  changeToEachProxyMs: { p50: number; p95: number; max: number };
  missed: number;
  /** Requests and KiB per change, per proxy (all the window's traffic divided by the changes). */
  perChange: { requests: number; kib: number };
}

let changeCounter = 0;

async function measure(model: Row['model'], emu: EmulatorProcess, fleet: FleetProxy[], services: number, churn: number, heapPerProxy: number): Promise<Row> {
  await sleep(500);
  const pending: { s: number; i: number; t0: number; seen: (number | null)[] }[] = [];
  fleet.forEach((p, idx) =>
    p.onPublish(() => {
      const now = performance.now();
      for (const c of pending) if (c.seen[idx] === null && p.sees(c.s, c.i)) c.seen[idx] = now - c.t0;
    }),
  );
  const before = fleet.map((p) => p.counters());
  const consulBefore = await emu.call<{ requests: number; bytes: number }>({ cmd: 'stats' });
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  if (churn === 0) await sleep(IDLE_MS);
  else {
    const total = Math.max(1, Math.round((churn * CHURN_MS) / 1000));
    for (let n = 0; n < total; n++) {
      const k = changeCounter++;
      const s = (k * 7919) % services;
      const i = Math.floor(k / services) % INSTANCES;
      pending.push({ s, i, t0: performance.now(), seen: fleet.map(() => null) });
      emu.send({ cmd: 'flip', service: s, instance: i, status: 'critical' });
      await sleep(1000 / churn);
    }
    const deadline = performance.now() + DRAIN_MS;
    while (pending.some((c) => c.seen.includes(null)) && performance.now() < deadline) await sleep(20);
  }
  const elapsedS = (performance.now() - t0) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const consulAfter = await emu.call<{ requests: number; bytes: number }>({ cmd: 'stats' });
  const after = fleet.map((p) => p.counters());
  // Outside the window: the changed instances pass again, so every run starts from a datacenter
  // whose checks all pass (the non-passing list the health watch reads stays small).
  for (const c of pending) emu.send({ cmd: 'flip', service: c.s, instance: c.i, status: 'passing' });
  const restored = performance.now() + 30_000;
  while (pending.some((c) => fleet.some((p) => p.sees(c.s, c.i))) && performance.now() < restored) await sleep(50);
  const requests = after.reduce((n, a, k) => n + a.requests - before[k]!.requests, 0);
  const bytes = after.reduce((n, a, k) => n + a.bytes - before[k]!.bytes, 0);
  const each = pending.flatMap((c) => c.seen.filter((x): x is number => x !== null));
  const every = pending.filter((c) => !c.seen.includes(null)).map((c) => Math.max(...(c.seen as number[])));
  const n = fleet.length;
  const r1 = (x: number) => Math.round(x * 10) / 10;
  return {
    model,
    proxies: n,
    services,
    instances: services * INSTANCES,
    churn,
    changes: pending.length,
    windowS: r1(elapsedS),
    perProxy: { reqPerS: r1(requests / n / elapsedS), kbPerS: r1(bytes / 1024 / n / elapsedS), cpuPct: r1(((cpu.user + cpu.system) / 1e6 / elapsedS / n) * 100), heapMiB: r1(heapPerProxy) },
    fleet: { reqPerS: r1(requests / elapsedS), kbPerS: r1(bytes / 1024 / elapsedS) },
    consulSide: { reqPerS: r1((consulAfter.requests - consulBefore.requests) / elapsedS), kbPerS: r1((consulAfter.bytes - consulBefore.bytes) / 1024 / elapsedS) },
    changeToEveryProxyMs: { p50: r1(pct(every, 50)), p95: r1(pct(every, 95)), max: r1(every.length ? Math.max(...every) : NaN) },
    changeToEachProxyMs: { p50: r1(pct(each, 50)), p95: r1(pct(each, 95)), max: r1(each.length ? Math.max(...each) : NaN) },
    missed: pending.filter((c) => c.seen.includes(null)).length,
    perChange: { requests: pending.length ? r1(requests / n / pending.length) : 0, kib: pending.length ? r1(bytes / 1024 / n / pending.length) : 0 },
  };
}

async function switchyardFleet(address: string, n: number): Promise<FleetProxy[]> {
  const config = parseConfigText('bench.yaml', JSON.stringify({ registry: { type: 'consul', address, startTimeout: '120s', timeout: '60s', ...REGISTRY } })).registry as ConsulRegistryConfig;
  const registries = Array.from({ length: n }, () => new ConsulRegistry({ config, configFile: 'bench.yaml', logger: silentLogger() }));
  // Start in groups so the emulator is not asked for N x S reads at once.
  for (let k = 0; k < registries.length; k += 5) await Promise.all(registries.slice(k, k + 5).map((r) => r.start()));
  return registries.map((r) => {
    const listeners: (() => void)[] = [];
    r.subscribe(() => listeners.forEach((l) => l()));
    return {
      counters: () => ({ requests: r.readStatus().requests, bytes: r.readStatus().bytes }),
      sees: (s, i) => r.current().services.get(`svc-${s}`)?.instances.find((x) => x.id === `${NODE}/svc-${s}-${i}`)?.health === 'critical',
      onPublish: (l) => {
        listeners.length = 0;
        listeners.push(l);
      },
      close: () => r.close(),
    };
  });
}

async function fabioFleet(address: string, n: number): Promise<FleetProxy[]> {
  const models = Array.from({ length: n }, () => new FabioModel(`http://${address}`));
  await Promise.all(models.map((m) => m.start()));
  return models.map((m) => {
    let listener: (() => void) | null = null;
    m.onTable(() => listener?.());
    return {
      counters: () => ({ requests: m.requests, bytes: m.bytes }),
      sees: (s, i) => m.table.get(`svc-${s}`)?.has(`${NODE}/svc-${s}-${i}`) === false,
      onPublish: (l) => (listener = l),
      close: () => m.stop(),
    };
  });
}

/** One real router on the same Consul: time from a check change to a new route table. */
async function routerChangeToTable(emu: EmulatorProcess, address: string, services: number): Promise<RouterRow> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-consul-bench-'));
  const configFile = join(dir, 'config.yaml');
  await writeFile(configFile, stringify({ listeners: [{ address: '127.0.0.1', port: 0 }], admin: { enabled: false }, registry: { type: 'consul', address, startTimeout: '120s' } }));
  gc?.();
  const rssBefore = process.memoryUsage().rss;
  const emuCpu0 = (await emu.call<{ cpuMs: number }>({ cmd: 'stats' })).cpuMs;
  const log = new LogSink('Consul registry synced');
  let gcMs = 0;
  const gcObserver = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration;
  });
  gcObserver.observe({ entryTypes: ['gc'] });
  const profiler = STARTUP_PROFILE ? new Session() : null;
  if (profiler) {
    profiler.connect();
    await profiler.post('Profiler.enable');
    await profiler.post('Profiler.start');
  }
  const loadBefore = loadavg()[0]!;
  const elu0 = perf.eventLoopUtilization();
  const startCpu0 = process.cpuUsage();
  const t = performance.now();
  const app = await Switchyard.start(configFile, { log: createProcessLog({ level: ROUTER_LOG, destination: log }) });
  const startS = (performance.now() - t) / 1000;
  const startCpu = process.cpuUsage(startCpu0);
  const elu = perf.eventLoopUtilization(elu0);
  const emuCpuMs = (await emu.call<{ cpuMs: number }>({ cmd: 'stats' })).cpuMs - emuCpu0;
  gcObserver.disconnect();
  if (profiler) {
    const { profile } = await profiler.post('Profiler.stop');
    await mkdir(STARTUP_PROFILE!, { recursive: true });
    const file = join(STARTUP_PROFILE!, `startup-${services}-${new Date().toISOString().replace(/[:.]/g, '-')}.cpuprofile`);
    await writeFile(file, JSON.stringify(profile));
    profiler.disconnect();
    console.error(`start-up profile: ${file}`);
  }
  const loadAfter = loadavg()[0]!;
  const registryS = log.markedAt === null ? NaN : (log.markedAt - t) / 1000;
  const registryCpuS = log.markedCpu === null ? NaN : (log.markedCpu - startCpu0.user - startCpu0.system) / 1e6;
  const handler = (app as unknown as { handler: { table: { routes: readonly unknown[] } } }).handler;
  const routes = handler.table.routes.length;
  gc?.();
  const rss = process.memoryUsage().rss;
  // The router's own work per registry change (clusters, route table, endpoint overrides):
  // Switchyard.onRegistryChange timed around each call, apart from Consul's and the queue's latency.
  const applyTimes: number[] = [];
  const handlerCalls: { start: number; end: number }[] = [];
  const target = app as unknown as { onRegistryChange: () => void };
  const onRegistryChange = target.onRegistryChange.bind(app);
  target.onRegistryChange = () => {
    const t0 = performance.now();
    onRegistryChange();
    const t1 = performance.now();
    applyTimes.push(t1 - t0);
    handlerCalls.push({ start: epoch(t0), end: epoch(t1) });
  };
  // Every Consul read the router makes during the changes: path, sent and answered (parsed, validated).
  const reads: { path: string; start: number; end: number }[] = [];
  const read = ConsulClient.prototype.read;
  ConsulClient.prototype.read = async function (this: ConsulClient, ...args: Parameters<typeof read>) {
    const start = epoch(performance.now());
    const res = await read.apply(this, args);
    reads.push({ path: args[0], start, end: epoch(performance.now()) });
    return res;
  } as typeof read;
  if (ROUTER_CHANGES > 0) await sleep(500);
  applyTimes.length = 0;
  handlerCalls.length = 0;
  reads.length = 0;
  await emu.call({ cmd: 'flipLog' });
  const sent: { s: number; i: number; at: number; seen: number }[] = [];
  const times: number[] = [];
  const cpu0 = process.cpuUsage();
  // The router has applied a change when the instance's endpoint in its cluster shows it critical
  // (or is gone): a health change does not change any route, so the table need not be replaced.
  const applied = (s: number, i: number) => {
    const endpoint = app.upstreams.get(`svc-${s}`).endpoints.find((e) => e.instance.id === `${NODE}/svc-${s}-${i}`);
    return endpoint === undefined || endpoint.instance.health === 'critical';
  };
  for (let n = 0; n < ROUTER_CHANGES; n++) {
    const k = changeCounter++;
    const s = (k * 7919) % services;
    const i = Math.floor(k / services) % INSTANCES;
    const t0 = performance.now();
    emu.send({ cmd: 'flip', service: s, instance: i, status: 'critical' });
    while (!applied(s, i) && performance.now() - t0 < 10_000) await sleep(1);
    const t1 = performance.now();
    times.push(t1 - t0);
    sent.push({ s, i, at: epoch(t0), seen: epoch(t1) });
    await sleep(200);
  }
  const cpu = process.cpuUsage(cpu0);
  ConsulClient.prototype.read = read;
  const stages = stageBreakdown(sent, await emu.call<FlipRecord[]>({ cmd: 'flipLog' }), reads, handlerCalls);
  await app.close(1_000);
  await rm(dir, { recursive: true, force: true });
  const r1 = (x: number) => Math.round(x * 10) / 10;
  return {
    startS: r1(startS),
    registryLoadS: r1(registryS),
    registryLoadCpuS: r1(registryCpuS),
    startBusyS: r1(elu.active / 1000),
    startGcS: r1(gcMs / 1000),
    logLines: log.lines,
    loadAverage: `${loadBefore.toFixed(2)}–${loadAfter.toFixed(2)}`,
    startCpuS: r1((startCpu.user + startCpu.system) / 1e6),
    emulatorStartCpuS: r1(emuCpuMs / 1000),
    routes,
    rssMiB: Math.round(rss / 2 ** 20),
    rssGrowthMiB: Math.round((rss - rssBefore) / 2 ** 20),
    p50: r1(pct(times, 50)),
    p95: r1(pct(times, 95)),
    max: r1(Math.max(...times)),
    changes: times.length,
    applyMs: { p50: r1(pct(applyTimes, 50)), p95: r1(pct(applyTimes, 95)), max: r1(applyTimes.length ? Math.max(...applyTimes) : NaN), calls: applyTimes.length },
    cpuMsPerChange: times.length ? r1((cpu.user + cpu.system) / 1000 / times.length) : NaN,
    stages,
  };
}

/**
 * The router's log output during the bench: lines are counted (what writing them would cost
 * the router is its own: forming them), and the time of the first line containing `mark` kept.
 */
class LogSink extends Writable {
  lines = 0;
  markedAt: number | null = null;
  /** This process's CPU (user + system, µs) when the mark was written. */
  markedCpu: number | null = null;
  constructor(private readonly mark: string) {
    super();
  }
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.lines += 1;
    if (this.markedAt === null && chunk.includes(this.mark)) {
      this.markedAt = performance.now();
      const cpu = process.cpuUsage();
      this.markedCpu = cpu.user + cpu.system;
    }
    done();
  }
}

/** Epoch ms of a performance.now() reading (comparable across processes of one machine). */
const epoch = (now: number) => performance.timeOrigin + now;

interface FlipRecord {
  service: number;
  instance: number;
  receivedAt: number;
  answeredAt: number;
}

/** Stages of a change, in order; each is the time from the previous stage's end (ms). */
const STAGES = ['ipc', 'emulator', 'watchAnswer', 'queue', 'serviceRead', 'publish', 'handler', 'seen'] as const;
type StageTimes = Record<(typeof STAGES)[number] | 'fromEmulator', { p50: number; p95: number; max: number }> & { complete: number };

/**
 * Where a change's time goes: bench sends the flip (ipc) → the emulator applied it and answered
 * the blocking health watch (emulator) → the router has the watch's answer parsed and validated
 * (watchAnswer) → the service read is sent (queue: diff, read queue) → answered and parsed
 * (serviceRead) → the registry publishes and the router's handler starts (publish) → the handler
 * ends (handler) → the bench's 1 ms poll sees the endpoint critical (seen).
 */
function stageBreakdown(sent: { s: number; i: number; at: number; seen: number }[], flips: FlipRecord[], reads: { path: string; start: number; end: number }[], handlers: { start: number; end: number }[]): StageTimes {
  const columns = new Map<string, number[]>([...STAGES, 'fromEmulator'].map((k) => [k, []]));
  let complete = 0;
  for (const c of sent) {
    const flip = flips.find((f) => f.service === c.s && f.instance === c.i && f.receivedAt >= c.at - 5);
    const watch = reads.find((r) => r.path === '/v1/health/state/any' && flip !== undefined && r.end >= flip.receivedAt);
    const service = reads.find((r) => r.path === `/v1/health/service/svc-${c.s}` && watch !== undefined && r.start >= watch.end - 0.01);
    const handler = handlers.find((h) => service !== undefined && h.start >= service.end);
    if (!flip || !watch || !service || !handler) continue;
    complete++;
    const points = [c.at, flip.receivedAt, flip.answeredAt, watch.end, service.start, service.end, handler.start, handler.end, c.seen];
    STAGES.forEach((k, n) => columns.get(k)!.push(points[n + 1]! - points[n]!));
    // The change as Consul made it (applied in the emulator) until the router's table shows it.
    columns.get('fromEmulator')!.push(c.seen - flip.receivedAt);
  }
  const r2 = (x: number) => Math.round(x * 100) / 100;
  const out = { complete } as StageTimes;
  for (const k of [...STAGES, 'fromEmulator'] as const) {
    const xs = columns.get(k)!;
    out[k] = { p50: r2(pct(xs, 50)), p95: r2(pct(xs, 95)), max: r2(xs.length ? Math.max(...xs) : NaN) };
  }
  return out;
}

interface RouterRow {
  startS: number;
  /** Seconds from the start until the registry's first load was done ("Consul registry synced"). */
  registryLoadS: number;
  /** Router CPU seconds until then. */
  registryLoadCpuS: number;
  /** Seconds of the start-up during which this process's event loop was busy (event-loop utilisation). */
  startBusyS: number;
  /** Seconds of garbage collection during start-up (gc performance entries). */
  startGcS: number;
  /** Log lines the router wrote during start-up. */
  logLines: number;
  /** The machine's 1-minute load average before and after start-up (other work shows here). */
  loadAverage: string;
  /** CPU seconds of this process (the router) and of the emulator during start-up. */
  startCpuS: number;
  emulatorStartCpuS: number;
  /** Routes in the table after start-up (one tag route per service). */
  routes: number;
  /** This process's RSS after start-up (after a full GC), and its growth over start-up. */
  rssMiB: number;
  rssGrowthMiB: number;
  p50: number;
  p95: number;
  max: number;
  changes: number;
  /** Time inside the router's registry-change handler (clusters + route table + endpoint overrides), per call. */
  applyMs: { p50: number; p95: number; max: number; calls: number };
  /** This process's CPU over the changes (router work, bench loop polling included) per change. */
  cpuMsPerChange: number;
  /** Where the change→table time goes, stage by stage. */
  stages: StageTimes;
}

async function main(): Promise<void> {
  const rows: Row[] = [];
  const routers: ({ services: number } & RouterRow)[] = [];
  for (const services of SERVICES) {
    const emu = EmulatorProcess.start((error) => process.stderr.write(`bench:consul: the emulator refused a change: ${error}\n`));
    const { address } = await emu.call<{ address: string }>({ cmd: 'setup', services, instances: INSTANCES, warm: CONSUL_WARM });
    if (BUSY) await emu.call({ cmd: 'busy', options: BUSY });
    const runFleet = async (model: Row['model'], n: number, start: () => Promise<FleetProxy[]>) => {
      // Heap after start minus heap before (both after full GCs, the previous fleet long closed), per proxy.
      await sleep(1_000);
      heapMiB();
      const heapBefore = heapMiB();
      const fleet = await start();
      const heapPerProxy = Math.round(((heapMiB() - heapBefore) / n) * 10) / 10;
      const done: Row[] = [];
      for (const churn of CHURN) {
        const row = await measure(model, emu, fleet, services, churn, NaN);
        done.push(row);
        console.error(JSON.stringify(row));
      }
      await Promise.all(fleet.map((p) => p.close()));
      for (const row of done) row.perProxy.heapMiB = heapPerProxy;
      rows.push(...done);
    };
    for (const n of PROXIES) await runFleet('switchyard', n, () => switchyardFleet(address, n));
    if (FABIO) await runFleet('fabio model', 1, () => fabioFleet(address, 1));
    if (ROUTER) {
      const r = { services, ...(await routerChangeToTable(emu, address, services)) };
      routers.push(r);
      console.error(JSON.stringify({ router: r }));
    }
    await emu.close();
  }
  await report(rows, routers);
}

async function report(rows: Row[], routers: ({ services: number } & RouterRow)[]): Promise<void> {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  const dir = join(here, 'results');
  await mkdir(dir, { recursive: true });
  const machine = describeMachine();
  const fabio = (r: Row) => rows.find((f) => f.model === 'fabio model' && f.services === r.services && f.churn === r.churn);
  const ratio = (a: number, b: number | undefined) => (b === undefined || b === 0 ? '–' : a === 0 ? '0' : `1/${Math.round(b / a)}`);
  const lines = [
    `# Consul fleet benchmark (${new Date().toISOString()})`,
    '',
    `Command: \`npm run bench:consul\` (BENCH_PROXIES=${PROXIES.join(',')} BENCH_SERVICES=${SERVICES.join(',')} BENCH_CHURN=${CHURN.join(',')} BENCH_INSTANCES=${INSTANCES} BENCH_CHURN_MS=${CHURN_MS} BENCH_IDLE_MS=${IDLE_MS} BENCH_ROUTER_CHANGES=${ROUTER_CHANGES} BENCH_ROUTER_LOG=${ROUTER_LOG} BENCH_CONSUL_WARM=${CONSUL_WARM ? 1 : 0})`,
    `Machine: ${JSON.stringify(machine)}`,
    '',
    `Proxies are in-process ConsulRegistry instances (settings: defaults${Object.keys(REGISTRY).length ? ` with ${JSON.stringify(REGISTRY)}` : ''}; i.e. consistency stale, readRate 100/s, connections 8, minInterval ${String(REGISTRY.minInterval ?? '100ms')}); Consul is the emulator in a child process.`,
    ...(BUSY ? [`Busy datacenter mode on during the runs: ${JSON.stringify(BUSY)} (unrelated services re-registered with a new Meta, checks flapping).`] : []),
    'Heap per proxy: heap after the fleet started minus heap before (both after full GCs), divided by the number of proxies.',
    'Per-proxy requests and bytes are counted by each proxy (response bodies); "Consul side" is what the emulator served in total.',
    'The fabio model runs one proxy; its per-proxy figures do not depend on the fleet size (each proxy does the same reads), the fleet load is N times that.',
    'Churn: C check changes/s for the churn window (each on a distinct instance); the window runs until every proxy has seen every change (or 20 s).',
    '',
    ...(rows.length
      ? [
          '| model | proxies | services × instances | churn/s | changes | window s | req/s per proxy | KiB/s per proxy | vs fabio (req, bytes) | fleet req/s | fleet KiB/s | Consul-side req/s | change→every proxy p50 / p95 / max ms | change→each proxy p95 ms | missed | CPU % per proxy | heap MiB per proxy | per change per proxy: req, KiB |',
          '|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|',
          ...rows.map((r) => {
            const f = r.model === 'switchyard' ? fabio(r) : undefined;
            const vs = f ? `${ratio(r.perProxy.reqPerS, f.perProxy.reqPerS)}, ${ratio(r.perProxy.kbPerS, f.perProxy.kbPerS)}` : '–';
            const lat = r.churn === 0 ? '–' : `${r.changeToEveryProxyMs.p50} / ${r.changeToEveryProxyMs.p95} / ${r.changeToEveryProxyMs.max}`;
            return `| ${r.model} | ${r.proxies} | ${r.services} × ${INSTANCES} = ${r.instances} | ${r.churn} | ${r.changes} | ${r.windowS} | ${r.perProxy.reqPerS} | ${r.perProxy.kbPerS} | ${vs} | ${r.fleet.reqPerS} | ${r.fleet.kbPerS} | ${r.consulSide.reqPerS} | ${lat} | ${r.churn === 0 ? '–' : r.changeToEachProxyMs.p95} | ${r.missed} | ${r.perProxy.cpuPct} | ${r.perProxy.heapMiB} | ${r.churn === 0 ? '–' : `${r.perChange.requests}, ${r.perChange.kib}`} |`;
          }),
          '',
        ]
      : []),
    ...(routers.length
      ? [
          `One real router (src/main.ts) on the same Consul (log level ${ROUTER_LOG}), ${ROUTER_CHANGES} check changes one at a time (200 ms apart); RSS is this process's after start-up (full GC), growth over start-up in brackets; CPU per change is this process's over the changes (includes the 1 ms polling loop). Start-up: registry load = until "Consul registry synced"; busy = the router's event loop busy (the rest of the wall time it waited for answers); GC inside busy:`,
          '',
          '| services | routes | start-up sync s (registry load s) | start-up CPU s: router (registry load), emulator | router busy s, GC s | log lines | load avg | RSS MiB (growth) | change→route table p50 / p95 / max ms | registry-change handler p50 / p95 / max ms (calls) | CPU ms per change |',
          '|---|---|---|---|---|---|---|---|---|---|---|',
          ...routers.map((r) => `| ${r.services} | ${r.routes} | ${r.startS} (${r.registryLoadS}) | ${r.startCpuS} (${r.registryLoadCpuS}), ${r.emulatorStartCpuS} | ${r.startBusyS}, ${r.startGcS} | ${r.logLines} | ${r.loadAverage} | ${r.rssMiB} (+${r.rssGrowthMiB}) | ${r.changes ? `${r.p50} / ${r.p95} / ${r.max}` : '–'} | ${r.changes ? `${r.applyMs.p50} / ${r.applyMs.p95} / ${r.applyMs.max} (${r.applyMs.calls})` : '–'} | ${r.changes ? r.cpuMsPerChange : '–'} |`),
          '',
          ...(ROUTER_CHANGES > 0 ? stageTable(routers) : []),
        ]
      : []),
  ];
  await writeFile(join(dir, `consul-${stamp}.md`), lines.join('\n'));
  await writeFile(join(dir, `consul-${stamp}.json`), JSON.stringify({ machine, rows, routers }, null, 2));
  console.log(lines.join('\n'));
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

/** The per-stage table of the router's changes (only when the bench made changes). */
function stageTable(routers: { services: number; stages: StageTimes }[]): string[] {
  return [
    'Where the time goes, per change (ms, p50 / p95 / max of each stage, each from the end of the one before): ipc = bench → emulator message; emulator = applying the check change and answering the woken blocking health watch; watch answer = transport to the router, JSON parse and validation; queue = diff of the answer and the read queue until the service read is sent; service read = `/v1/health/service/<name>` sent → answered and parsed; publish = applying the answer and publishing the snapshot until the router\'s handler starts; handler = the router\'s registry-change handler; seen = until the bench\'s 1 ms poll saw it.',
    '',
    `| services | changes traced | ${STAGES.join(' | ')} | change in the emulator → table |`,
    `|---|---|${STAGES.map(() => '---').join('|')}|---|`,
    ...routers.map((r) => `| ${r.services} | ${r.stages.complete} | ${[...STAGES, 'fromEmulator' as const].map((k) => `${r.stages[k].p50} / ${r.stages[k].p95} / ${r.stages[k].max}`).join(' | ')} |`),
    '',
  ];
}

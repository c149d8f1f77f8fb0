/**
 * `npm run bench:churn`: does registry churn reach the requests? One real router (the built
 * dist/cli/switchyard.js, its own process) on the Consul emulator (a child process) with S
 * services × 2 instances, each with a passing TTL check and a `urlprefix-/svc-<n>` tag. The
 * service under load, svc-0, has 4 instances on the bench upstream's ports.
 *
 * 1. The router's maximum for GET 1 KiB to /svc-0/bench/1k (closed loop, autocannon), or --rate.
 * 2. Rounds of two windows at the same open-loop rate (--fraction of the maximum, default half):
 *    no churn, and churn at --churn changes a second; the order alternates round by round, so a
 *    busy moment of the machine falls on both alike. Latency counts from when each request was
 *    due (bench/lib/open-loop.ts): p50 … p99.9, max.
 * 3. Two windows without traffic, no churn and churn: the router's CPU difference between them is
 *    what the churn costs it (registry reads and parsing, table and cluster updates, their GC),
 *    with nothing else running in it. Also the same difference under load, noisier.
 *
 * The churn, in a cycle of 10 changes (each one Consul write, as an agent applies them):
 *   0, 5: an instance of another service fails its check (critical);
 *   1, 6: the oldest failed one passes again;
 *   2: a new instance of another service registers (its check starts critical, Consul's default);
 *   3: that instance's check passes (a scale-up done);
 *   4: svc-0 (the loaded service) gains an instance on a spare upstream port (critical, then
 *      passing on the next cycle), or loses it (critical, then deregistered): four cycles a round trip;
 *   7: the oldest scaled-up instance of another service is deregistered while passing (a scale-down);
 *   8: an svc-0 instance fails or passes again (it always keeps at least 3 passing);
 *   9: another service's instance is re-registered with one more or one less route tag (a route
 *      appears or goes, in the route table).
 * So 2 changes in 10 are on the service under load, and every kind of change the registry watches
 * (health, registrations seen by the health watch, registrations only a registration scan sees,
 * tags) happens every cycle.
 *
 * CPU: user + system of the router process from /proc over each window. The router's CPU spent on
 * registry and table work is taken as (churn window − no-churn window), without traffic (clean) and
 * at the request rate (noisy: the requests' own CPU varies by a few % between windows).
 *
 * Options:
 *   --services <n>        services (default 5000)
 *   --churn <n>           changes per second (default 50)
 *   --rate <n>            offered req/s (default: --fraction of the measured maximum)
 *   --fraction <x>        default 0.5
 *   --max-seconds <s>     closed-loop seconds to find the maximum (default 5)
 *   --duration <s>        measured seconds per window (default 15)
 *   --warmup <s>          unmeasured open-loop seconds before each window, churn already on (default 3)
 *   --rounds <n>          rounds of (no churn, churn) (default 3; 0: only the windows without traffic)
 *   --idle-seconds <s>    seconds of each window without traffic (default 10; 0: skipped)
 *   --settle <s>          seconds of churn, not measured, between start-up and the first window (default 10;
 *                         0: none, as before): V8 collects the old generation only when something
 *                         allocates, so without it the start-up's garbage (tens of MB) is collected by
 *                         mark-compacts in the first churn window and counted as churn work
 *   --connections <n>     generator keep-alive connections (default 32)
 *   --registry <json>     registry settings merged over the defaults, e.g. '{"registrationScanInterval":"30s"}'
 *   --probe               preload bench/lib/stall-probe.mjs into the router: event-loop delay and GC per window
 *   --router-flag <f>     node flag for the router process (repeatable), e.g. --cpu-prof (with --keep-logs:
 *                         the profile lands in the scratch folder)
 *   --keep-logs           keep the scratch folder (router and upstream logs)
 *   --compare <label>=<cli.js>  also run another build's router (its dist/cli/switchyard.js, built) on
 *                         the same emulator and churn, without traffic (repeatable): each window reports
 *                         its CPU beside this build's, so two builds are compared within one run, under
 *                         the same machine load (on a shared machine, figures of separate runs move by
 *                         several points)
 *   --generator go|node   the open-loop generator: "go" (default; bench/generators/open-loop, built at
 *                         run time, its own process, pauses well under a millisecond, so a p99
 *                         difference of 1 ms is resolved) or "node" (bench/lib/open-loop.ts inside this
 *                         process, which also sends the churn); without Go, node, said so
 * Results: bench/results/churn-<time>.md and .json. A benchmark, not a test.
 */
import { cliChecks } from './lib/cli-options.js';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { stringify } from 'yaml';
import { startUpstream } from './lib/bench-upstream.js';
import { freePort, spawnLogged, waitUntilServing, type BenchProcess } from './lib/child-process.js';
import { describeProbe, probeOf, type ProbeWindow } from './lib/latency-scenario.js';
import { saturate } from './lib/load.js';
import { launcherNodeFlags } from './lib/targets.js';
import { describeMachine } from './lib/machine.js';
import { median } from './lib/median.js';
import { runOpenLoop, type OpenLoopOptions, type OpenLoopResult, type Percentiles } from './lib/open-loop.js';
import { GoOpenLoop } from './lib/open-loop-go.js';
import { processCpuSeconds } from './lib/process-cpu.js';
import { EmulatorProcess } from './lib/consul-emulator-client.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    services: { type: 'string', default: '5000' },
    churn: { type: 'string', default: '50' },
    rate: { type: 'string' },
    fraction: { type: 'string', default: '0.5' },
    'max-seconds': { type: 'string', default: '5' },
    duration: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    'idle-seconds': { type: 'string', default: '10' },
    settle: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    registry: { type: 'string', default: '{}' },
    probe: { type: 'boolean', default: false },
    'router-flag': { type: 'string', multiple: true },
    'keep-logs': { type: 'boolean', default: false },
    generator: { type: 'string', default: 'go' },
    compare: { type: 'string', multiple: true },
  },
});

const { fail, number } = cliChecks('bench:churn');

const SERVICES = number('services', values.services, { integer: true });
const CHURN = number('churn', values.churn);
const FRACTION = number('fraction', values.fraction);
const MAX_SECONDS = number('max-seconds', values['max-seconds']);
const DURATION = number('duration', values.duration);
const WARMUP = number('warmup', values.warmup, { zero: true });
const ROUNDS = number('rounds', values.rounds, { integer: true, zero: true });
const IDLE_SECONDS = number('idle-seconds', values['idle-seconds'], { zero: true });
const SETTLE_SECONDS = number('settle', values.settle, { zero: true });
const CONNECTIONS = number('connections', values.connections, { integer: true });
const FIXED_RATE = values.rate === undefined ? null : number('rate', values.rate);
let REGISTRY: Record<string, unknown>;
try {
  REGISTRY = JSON.parse(values.registry) as Record<string, unknown>;
} catch (err) {
  fail(`--registry must be a JSON object of registry settings: ${(err as Error).message}`);
}
if (values.generator !== 'go' && values.generator !== 'node') fail(`--generator takes go or node, got "${values.generator}"`);
const COMPARE = (values.compare ?? []).map((c) => {
  const eq = c.indexOf('=');
  if (eq <= 0) fail(`--compare takes <label>=<path of a built dist/cli/switchyard.js>, got "${c}"`);
  const entry = resolve(c.slice(eq + 1));
  if (!existsSync(entry)) fail(`--compare ${c.slice(0, eq)}: ${entry} does not exist (build that tree first: npx tsc -p tsconfig.build.json)`);
  return { label: c.slice(0, eq), entry };
});
if (SERVICES < 20) fail('--services must be at least 20 (the churn needs other services than the loaded one)');

const LOADED = 'svc-0';
const PATH = `/${LOADED}/bench/1k`;
/** svc-0's fixed instances (on upstream ports 0-3) and its spare ports for instances that come and go. */
const LOADED_INSTANCES = 4;
const SPARE_PORTS = 4;
const TTL = '87600h';

const log = (line: string) => process.stderr.write(`${line}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const r2 = (x: number) => Math.round(x * 100) / 100;

const instance = (service: string, id: string, port: number, tags: string[], status?: 'passing') => ({
  Name: service,
  ID: id,
  Address: '127.0.0.1',
  Port: port,
  Tags: tags,
  Check: status === undefined ? { TTL } : { TTL, Status: status },
});

/** The churn: one Consul write per step, in the cycle described at the top of this file. */
class Churn {
  private step = 0;
  private cursor = 0;
  private readonly failed: string[] = [];
  private readonly scaledUp: string[] = [];
  private lastScaleUp: string | null = null;
  private scaleUps = 0;
  private loadedPhase = 0;
  private loadedSpare = 0;
  private loadedFlipped = false;
  private readonly retagged = new Set<number>();
  readonly counts = { changes: 0, onLoaded: 0 };

  constructor(
    private readonly emu: EmulatorProcess,
    private readonly spareUpstreamPorts: readonly number[],
  ) {}

  /** Another service than the loaded one, spread over all of them. */
  private other(): number {
    this.cursor = (this.cursor + 7919) % (SERVICES - 1);
    return this.cursor + 1;
  }

  next(): void {
    const step = this.step++ % 10;
    this.counts.changes++;
    switch (step) {
      case 0:
      case 5: {
        const id = `svc-${this.other()}-0`;
        this.failed.push(id);
        this.emu.send({ cmd: 'check', serviceId: id, status: 'critical' });
        return;
      }
      case 1:
      case 6: {
        const id = this.failed.shift();
        if (id !== undefined) this.emu.send({ cmd: 'check', serviceId: id, status: 'passing' });
        return;
      }
      case 2: {
        const s = this.other();
        const id = `svc-${s}-up${this.scaleUps++}`;
        this.lastScaleUp = id;
        this.emu.send({ cmd: 'register', registration: instance(`svc-${s}`, id, 20_100, [`urlprefix-/svc-${s}`]) });
        return;
      }
      case 3:
        if (this.lastScaleUp !== null) {
          this.emu.send({ cmd: 'check', serviceId: this.lastScaleUp, status: 'passing' });
          this.scaledUp.push(this.lastScaleUp);
          this.lastScaleUp = null;
        }
        return;
      case 4: {
        this.counts.onLoaded++;
        const id = `${LOADED}-spare${this.loadedSpare}`;
        const port = this.spareUpstreamPorts[this.loadedSpare % this.spareUpstreamPorts.length]!;
        const phase = this.loadedPhase++ % 4;
        if (phase === 0) this.emu.send({ cmd: 'register', registration: instance(LOADED, id, port, [`urlprefix-/${LOADED}`]) });
        else if (phase === 1) this.emu.send({ cmd: 'check', serviceId: id, status: 'passing' });
        else if (phase === 2) this.emu.send({ cmd: 'check', serviceId: id, status: 'critical' });
        else {
          this.emu.send({ cmd: 'deregister', serviceId: id });
          this.loadedSpare++;
        }
        return;
      }
      case 7: {
        // Keep a few scaled-up instances around, so scale-downs hit instances registered a while ago.
        if (this.scaledUp.length > 3) this.emu.send({ cmd: 'deregister', serviceId: this.scaledUp.shift()! });
        return;
      }
      case 8:
        this.counts.onLoaded++;
        this.loadedFlipped = !this.loadedFlipped;
        this.emu.send({ cmd: 'check', serviceId: `${LOADED}-1`, status: this.loadedFlipped ? 'critical' : 'passing' });
        return;
      case 9: {
        const s = this.other();
        const more = !this.retagged.has(s);
        if (more) this.retagged.add(s);
        else this.retagged.delete(s);
        const tags = more ? [`urlprefix-/svc-${s}`, `urlprefix-/svc-${s}-v2`] : [`urlprefix-/svc-${s}`];
        this.emu.send({ cmd: 'register', registration: instance(`svc-${s}`, `svc-${s}-1`, 20_001, tags, 'passing') });
        return;
      }
    }
  }
}

/** Runs the churn while `during` runs: change n is due at start + n / CHURN s, and every change due is sent, so a late timer does not lower the rate. */
async function withChurn<T>(churn: Churn | null, during: () => Promise<T>): Promise<T> {
  if (churn === null) return during();
  const start = performance.now();
  let sent = 0;
  const timer = setInterval(() => {
    const due = Math.floor(((performance.now() - start) * CHURN) / 1000);
    for (; sent < due; sent++) churn.next();
  }, Math.max(1, Math.floor(1000 / CHURN)));
  try {
    return await during();
  } finally {
    clearInterval(timer);
  }
}

interface RegistryCounters {
  serviceReads: number;
  /** Check changes applied without a read; absent from builds before it was counted. */
  checksApplied?: number;
  registrationScans: number;
  requests: number;
  bytes: number;
}

async function registryCounters(adminUrl: string): Promise<RegistryCounters> {
  const res = await fetch(`${adminUrl}/api/v1/registry`);
  if (!res.ok) throw new Error(`${adminUrl}/api/v1/registry answered ${res.status}`);
  const body = (await res.json()) as { consul?: RegistryCounters };
  if (body.consul === undefined) throw new Error(`${adminUrl}/api/v1/registry has no consul section: is the router on the Consul registry?`);
  return body.consul;
}

/** A router's Consul traffic over one window, from its registry status. */
interface WindowRegistry {
  serviceReads: number;
  /** Check changes applied without a read; null for a build that does not count them. */
  checksApplied: number | null;
  registrationScans: number;
  requests: number;
  kib: number;
}

function windowRegistry(reg0: RegistryCounters, reg1: RegistryCounters): WindowRegistry {
  return {
    serviceReads: reg1.serviceReads - reg0.serviceReads,
    checksApplied: reg1.checksApplied === undefined || reg0.checksApplied === undefined ? null : reg1.checksApplied - reg0.checksApplied,
    registrationScans: reg1.registrationScans - reg0.registrationScans,
    requests: reg1.requests - reg0.requests,
    kib: Math.round((reg1.bytes - reg0.bytes) / 1024),
  };
}

/** "reads" and, when the build counts them, "(+N applied)". */
function readsCell(r: WindowRegistry): string {
  return r.checksApplied === null ? `${r.serviceReads}` : `${r.serviceReads} (+${r.checksApplied} applied)`;
}

/** A router whose CPU and Consul traffic each window measures. */
interface MeasuredRouter {
  label: string;
  pid: number;
  adminUrl: string;
}

/** What one window saw of a --compare router. */
interface ComparedWindow {
  label: string;
  routerCpuPercent: number;
  registry: WindowRegistry;
}

interface Window {
  churn: boolean;
  round: number;
  seconds: number;
  routerCpuPercent: number;
  changes: number;
  /** The router's Consul traffic over the window, from its registry status. */
  registry: WindowRegistry;
  load: number;
  open?: Omit<OpenLoopResult, 'samples'>;
  probe?: ProbeWindow;
  compared?: ComparedWindow[];
}

/** The open-loop generator of this run: runOpenLoop (this process) or the Go generator's run. */
interface Generator {
  run(options: OpenLoopOptions): Promise<OpenLoopResult>;
  name: string;
}

async function measureWindow(opts: { generate: Generator; churn: Churn | null; round: number; seconds: number; routerPid: number; adminUrl: string; others: readonly MeasuredRouter[]; rate: number | null; url: string; probe: { window(): Promise<ProbeWindow> } | null }): Promise<Window> {
  return withChurn(opts.churn, async () => {
    if (opts.rate !== null && WARMUP > 0) await opts.generate.run({ url: opts.url, request: { path: PATH }, rate: opts.rate, durationSeconds: WARMUP, connections: CONNECTIONS });
    else await sleep(1_000);
    await opts.probe?.window();
    const changes0 = opts.churn?.counts.changes ?? 0;
    const reg0 = await registryCounters(opts.adminUrl);
    const others0 = await Promise.all(opts.others.map(async (o) => ({ reg: await registryCounters(o.adminUrl), cpu: await processCpuSeconds(o.pid) })));
    const cpu0 = await processCpuSeconds(opts.routerPid);
    const t0 = performance.now();
    let open: OpenLoopResult | undefined;
    if (opts.rate !== null) open = await opts.generate.run({ url: opts.url, request: { path: PATH }, rate: opts.rate, durationSeconds: opts.seconds, connections: CONNECTIONS });
    else await sleep(opts.seconds * 1000);
    const cpu1 = await processCpuSeconds(opts.routerPid);
    const othersCpu1 = await Promise.all(opts.others.map((o) => processCpuSeconds(o.pid)));
    const seconds = (performance.now() - t0) / 1000;
    const reg1 = await registryCounters(opts.adminUrl);
    const probe = await opts.probe?.window();
    const w: Window = {
      churn: opts.churn !== null,
      round: opts.round,
      seconds: r2(seconds),
      routerCpuPercent: r2(((cpu1 - cpu0) / seconds) * 100),
      changes: (opts.churn?.counts.changes ?? 0) - changes0,
      registry: windowRegistry(reg0, reg1),
      load: r2(loadavg()[0]!),
    };
    if (open !== undefined) {
      const { samples: _dropped, ...kept } = open;
      w.open = kept;
    }
    if (probe !== undefined) w.probe = probe;
    if (opts.others.length > 0) {
      w.compared = await Promise.all(
        opts.others.map(async (o, k) => {
          const reg1 = await registryCounters(o.adminUrl);
          const reg = others0[k]!.reg;
          return {
            label: o.label,
            routerCpuPercent: r2(((othersCpu1[k]! - others0[k]!.cpu) / seconds) * 100),
            registry: windowRegistry(reg, reg1),
          };
        }),
      );
    }
    return w;
  });
}

/**
 * The probe's timer gaps of 5 ms or more, split as bench/lib/latency-scenario.ts does: busy (the
 * router used at least half the gap in CPU: its own JavaScript or GC held the loop) or not running
 * (the machine's other work had the cores). Busy gaps are what registry work on the event loop
 * would show as.
 */
function describeGaps(p: ProbeWindow): string {
  const busy = p.gaps.filter((g) => g.cpuMs >= g.ms / 2);
  const longest = busy.reduce((m, g) => Math.max(m, g.ms), 0);
  return `loop gaps ≥ 5 ms: ${busy.length} busy (longest ${longest.toFixed(1)} ms), ${p.gaps.length - busy.length} not running`;
}

function describeWindow(w: Window): string {
  const l = w.open?.latency;
  return (
    `[churn] round ${w.round} ${w.churn ? 'churn   ' : 'no churn'} ${w.open ? `p50 ${l!.p50.toFixed(2)} p99 ${l!.p99.toFixed(2)} p99.9 ${l!.p999.toFixed(2)} max ${l!.max.toFixed(2)} ms, ${w.open.ok} ok, ${w.open.errors + w.open.non2xx} failed, send lag p99 ${w.open.sendLag.p99.toFixed(2)}; ` : 'no traffic; '}` +
    `router CPU ${w.routerCpuPercent} %; ${w.changes} changes, ${readsCell(w.registry)} service reads, ${w.registry.registrationScans} scans, ${w.registry.kib} KiB from Consul; load ${w.load}` +
    (w.probe ? `\n[churn]   probe: ${describeProbe(w.probe)}; ${describeGaps(w.probe)}` : '') +
    (w.compared ?? []).map((c) => `\n[churn]   ${c.label}: router CPU ${c.routerCpuPercent} %; ${readsCell(c.registry)} service reads, ${c.registry.registrationScans} scans, ${c.registry.kib} KiB from Consul`).join('')
  );
}

async function main(): Promise<void> {
  const machine = describeMachine();
  const startedAt = new Date();
  const command = `npm run bench:churn -- ${process.argv.slice(2).join(' ')}`.trim();
  log('bench:churn: building Switchyard (tsc -p tsconfig.build.json)');
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  const workDir = await mkdtemp(join(tmpdir(), 'switchyard-churn-'));
  const upstream = await startUpstream(root, workDir, LOADED_INSTANCES + SPARE_PORTS, 1);
  let generate: Generator = { run: runOpenLoop, name: 'bench/lib/open-loop.ts (this Node process, which also sends the churn)' };
  if (values.generator === 'go') {
    const go = await GoOpenLoop.build(root, workDir);
    if (typeof go === 'string') log(`bench:churn: the Go generator cannot be used (${go}); using the Node generator`);
    else generate = { run: (o) => go.run(o), name: 'bench/generators/open-loop (Go, its own process)' };
  }
  const emu = EmulatorProcess.start((error) => log(`bench:churn: the emulator refused a change: ${error}`));
  let router: BenchProcess | null = null;
  const compared: BenchProcess[] = [];
  try {
    const { address } = await emu.call<{ address: string }>({ cmd: 'setup', services: SERVICES, instances: 2 });
    // The loaded service's instances on the upstream (the setup's two are re-registered there).
    for (let i = 0; i < LOADED_INSTANCES; i++) await emu.call({ cmd: 'register', registration: instance(LOADED, `${LOADED}-${i}`, upstream.ports[i]!, [`urlprefix-/${LOADED}`], 'passing') });
    const port = await freePort();
    const adminPort = await freePort();
    const config = {
      listeners: [{ name: 'bench', address: '127.0.0.1', port }],
      admin: { enabled: true, address: '127.0.0.1', port: adminPort },
      registry: { type: 'consul', address, startTimeout: '300s', ...REGISTRY },
      logging: { level: 'warn' },
    };
    await writeFile(join(workDir, 'config.yaml'), stringify(config));
    let probeDir: string | null = null;
    if (values.probe) {
      probeDir = join(workDir, 'stall-probe');
      await mkdir(probeDir);
    }
    const url = `http://127.0.0.1:${port}`;
    const adminUrl = `http://127.0.0.1:${adminPort}`;
    const t = performance.now();
    router = spawnLogged({
      command: process.execPath,
      args: [
        ...launcherNodeFlags(join(root, 'dist/cli/switchyard.js')),
        ...(values['router-flag'] ?? []),
        ...(probeDir === null ? [] : ['--import', join(root, 'bench/lib/stall-probe.mjs')]),
        join(root, 'dist/cli/switchyard.js'),
        'start',
        join(workDir, 'config.yaml'),
      ],
      logFile: join(workDir, 'switchyard.log'),
      ...(probeDir === null ? {} : { env: { BENCH_STALL_PROBE_DIR: probeDir } }),
    });
    await waitUntilServing(url + PATH, router, 300_000);
    log(`bench:churn: router serving ${SERVICES} services after ${((performance.now() - t) / 1000).toFixed(1)} s`);
    const routerPid = router.child.pid!;
    const others: MeasuredRouter[] = [];
    for (const c of COMPARE) {
      const otherPort = await freePort();
      const otherAdminPort = await freePort();
      const file = join(workDir, `config-${c.label}.yaml`);
      await writeFile(file, stringify({ ...config, listeners: [{ name: 'bench', address: '127.0.0.1', port: otherPort }], admin: { enabled: true, address: '127.0.0.1', port: otherAdminPort } }));
      const other = spawnLogged({ command: process.execPath, args: [...launcherNodeFlags(c.entry), ...(values['router-flag'] ?? []), c.entry, 'start', file], logFile: join(workDir, `switchyard-${c.label}.log`) });
      compared.push(other);
      await waitUntilServing(`http://127.0.0.1:${otherPort}${PATH}`, other, 300_000);
      others.push({ label: c.label, pid: other.child.pid!, adminUrl: `http://127.0.0.1:${otherAdminPort}` });
      log(`bench:churn: ${c.label} (${c.entry}) serving beside it, without traffic`);
    }
    const probe = probeDir === null ? null : probeOf({ url, process: router, stop: () => router!.stop() }, probeDir);
    const churn = new Churn(emu, upstream.ports.slice(LOADED_INSTANCES));

    let maxRps: number | null = null;
    let rate = FIXED_RATE;
    if (rate === null && ROUNDS > 0) {
      const r = await saturate(url, { requests: [{ method: 'GET', path: PATH }], connections: CONNECTIONS }, MAX_SECONDS, 1);
      maxRps = r.rps;
      rate = Math.max(1, Math.round(r.rps * FRACTION));
      log(`bench:churn: maximum ${r.rps.toFixed(0)} req/s (closed loop, ${CONNECTIONS} connections, ${MAX_SECONDS} s); offering ${rate} req/s`);
    }

    const windows: Window[] = [];
    const run = async (withChurnOn: boolean, round: number, traffic: boolean) => {
      const w = await measureWindow({ generate, churn: withChurnOn ? churn : null, round, seconds: traffic ? DURATION : IDLE_SECONDS, routerPid, adminUrl, others, rate: traffic ? rate : null, url, probe });
      windows.push(w);
      log(describeWindow(w));
    };
    if (SETTLE_SECONDS > 0) {
      // Start-up's garbage is collected once the router allocates again: under churn, here, not in a window.
      log(`bench:churn: ${SETTLE_SECONDS} s of churn before the first window (start-up's garbage collected)`);
      await withChurn(churn, () => sleep(SETTLE_SECONDS * 1000));
    }
    if (IDLE_SECONDS > 0) {
      // Start-up's (or the settling churn's) aftermath out of the first window: once allocation
      // falls, V8's memory reducer runs mark-compacts for several seconds, which the no-churn
      // window would otherwise count (and the added cost would lose).
      await sleep(SETTLE_SECONDS > 0 ? 15_000 : 5_000);
      await run(false, 0, false);
      await run(true, 0, false);
    }
    for (let round = 1; round <= ROUNDS; round++) {
      const order = round % 2 === 1 ? [false, true] : [true, false];
      for (const on of order) await run(on, round, true);
    }
    const report = summarize(windows, { rate, maxRps });
    const markdown = reportMarkdown(report, windows, { command, machine: JSON.stringify(machine), startedAt, loadAtEnd: r2(loadavg()[0]!), generator: generate.name });
    const stamp = `churn-${startedAt.toISOString().replace(/[:.]/g, '-')}`;
    const dir = join(root, 'bench/results');
    await mkdir(dir, { recursive: true });
    await writeFile(join(dir, `${stamp}.md`), `${markdown}\n`);
    await writeFile(join(dir, `${stamp}.json`), `${JSON.stringify({ machine, command, startedAt, options: { generator: generate.name, compare: COMPARE, SERVICES, CHURN, FRACTION, DURATION, WARMUP, ROUNDS, IDLE_SECONDS, SETTLE_SECONDS, CONNECTIONS, REGISTRY }, report, windows }, null, 2)}\n`);
    process.stdout.write(`${markdown}\n`);
    log(`bench:churn: results in bench/results/${stamp}.md and .json`);
  } finally {
    await router?.stop();
    for (const other of compared) await other.stop();
    await emu.close();
    await upstream.stop();
    if (values['keep-logs']) log(`bench:churn: logs kept in ${workDir}`);
    else await rm(workDir, { recursive: true, force: true });
  }
}

interface Summary {
  rate: number | null;
  maxRps: number | null;
  /** Medians over rounds, per kind of window. */
  quiet: Percentiles & { cpu: number };
  churn: Percentiles & { cpu: number };
  /** Median over rounds of (churn − no churn) in the same round. */
  added: { p50: number; p99: number; p999: number; cpu: number };
  /** Router CPU (% of a core) with churn minus without, no traffic. */
  idleCpu: { quiet: number; churn: number; added: number } | null;
  /** The same for each --compare router (measured in the same windows; all windows, traffic or not, are without traffic for them). */
  comparedIdleCpu: { label: string; quiet: number; churn: number; added: number }[];
}

function summarize(windows: Window[], { rate, maxRps }: { rate: number | null; maxRps: number | null }): Summary {
  const loaded = windows.filter((w) => w.open !== undefined);
  const of = (churn: boolean) => {
    const ws = loaded.filter((w) => w.churn === churn);
    const m = (f: (p: Percentiles) => number) => r2(median(ws.map((w) => f(w.open!.latency))));
    return { p50: m((p) => p.p50), p90: m((p) => p.p90), p99: m((p) => p.p99), p999: m((p) => p.p999), max: m((p) => p.max), mean: m((p) => p.mean), cpu: r2(median(ws.map((w) => w.routerCpuPercent))) };
  };
  const rounds = [...new Set(loaded.map((w) => w.round))];
  const pair = (round: number) => [loaded.find((w) => w.round === round && !w.churn)!, loaded.find((w) => w.round === round && w.churn)!] as const;
  const added = (f: (w: Window) => number) => r2(median(rounds.map((r) => f(pair(r)[1]) - f(pair(r)[0]))));
  const idle = windows.filter((w) => w.open === undefined);
  const idleQuiet = idle.find((w) => !w.churn);
  const idleChurn = idle.find((w) => w.churn);
  return {
    rate,
    maxRps: maxRps === null ? null : Math.round(maxRps),
    quiet: of(false),
    churn: of(true),
    added: { p50: added((w) => w.open!.latency.p50), p99: added((w) => w.open!.latency.p99), p999: added((w) => w.open!.latency.p999), cpu: added((w) => w.routerCpuPercent) },
    idleCpu: idleQuiet && idleChurn ? { quiet: idleQuiet.routerCpuPercent, churn: idleChurn.routerCpuPercent, added: r2(idleChurn.routerCpuPercent - idleQuiet.routerCpuPercent) } : null,
    comparedIdleCpu:
      idleQuiet && idleChurn
        ? (idleQuiet.compared ?? []).map((q, k) => {
            const c = idleChurn.compared![k]!;
            return { label: q.label, quiet: q.routerCpuPercent, churn: c.routerCpuPercent, added: r2(c.routerCpuPercent - q.routerCpuPercent) };
          })
        : [],
  };
}

function reportMarkdown(s: Summary, windows: Window[], meta: { command: string; machine: string; startedAt: Date; loadAtEnd: number; generator: string }): string {
  const f = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '—');
  const sign = (v: number) => (v >= 0 ? `+${f(v)}` : f(v));
  const lines = [
    `## Registry churn under open-loop load, ${meta.startedAt.toISOString()}`,
    '',
    `Command: \`${meta.command}\``,
    '',
    `Machine: ${meta.machine}; load average ${meta.loadAtEnd} at the end. Router (dist, own process), Consul emulator, bench upstream (1 process) and the load generator share the machine.`,
    '',
    `${SERVICES} services × 2 instances; GET 1 KiB to ${PATH} (svc-0, ${LOADED_INSTANCES} instances); ${s.maxRps === null ? '' : `router maximum ${s.maxRps} req/s (closed loop, ${CONNECTIONS} connections); `}offered ${s.rate} req/s open loop (generator: ${meta.generator}), ${CONNECTIONS} connections, ${DURATION} s measured per window after ${WARMUP} s unmeasured; churn ${CHURN} changes/s (2 in 10 on svc-0); ${ROUNDS} rounds of (no churn, churn), order alternating; ${SETTLE_SECONDS} s of churn, not measured, before the first window. Registry settings: defaults${Object.keys(REGISTRY).length ? ` with ${JSON.stringify(REGISTRY)}` : ''}.`,
    '',
    'Latency from when each request was due, ms, medians over rounds; "added" is the median over rounds of (churn − no churn) in the same round. Router CPU: user + system of its process (/proc) over the window, % of one core.',
    '',
    '| window | p50 | p90 | p99 | p99.9 | max | router CPU % |',
    '|---|---:|---:|---:|---:|---:|---:|',
    `| no churn | ${f(s.quiet.p50)} | ${f(s.quiet.p90)} | ${f(s.quiet.p99)} | ${f(s.quiet.p999)} | ${f(s.quiet.max)} | ${f(s.quiet.cpu)} |`,
    `| churn ${CHURN}/s | ${f(s.churn.p50)} | ${f(s.churn.p90)} | ${f(s.churn.p99)} | ${f(s.churn.p999)} | ${f(s.churn.max)} | ${f(s.churn.cpu)} |`,
    `| added by churn | ${sign(s.added.p50)} | | ${sign(s.added.p99)} | ${sign(s.added.p999)} | | ${sign(s.added.cpu)} |`,
    '',
    s.idleCpu === null
      ? 'No idle windows (--idle-seconds 0).'
      : `Without traffic: router CPU ${f(s.idleCpu.quiet)} % with no churn, ${f(s.idleCpu.churn)} % with churn: **registry and table work ${f(s.idleCpu.added)} % of a core** at ${CHURN} changes/s.` +
        s.comparedIdleCpu.map((c) => ` Compared in the same windows, ${c.label}: ${f(c.quiet)} % / ${f(c.churn)} %: **${f(c.added)} % of a core**.`).join(''),
    '',
    'Every window:',
    '',
    '| round | churn | p50 | p99 | p99.9 | max | ok | failed | send lag p99 | router CPU % | changes | service reads | scans | KiB from Consul | load |',
    '|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...windows.map((w) => {
      const l = w.open?.latency;
      const cells = l ? [f(l.p50), f(l.p99), f(l.p999), f(l.max), String(w.open!.ok), String(w.open!.errors + w.open!.non2xx), f(w.open!.sendLag.p99)] : ['—', '—', '—', '—', '—', '—', '—'];
      return `| ${w.round === 0 ? 'idle' : w.round} | ${w.churn ? 'yes' : 'no'} | ${cells.join(' | ')} | ${f(w.routerCpuPercent)} | ${w.changes} | ${readsCell(w.registry)} | ${w.registry.registrationScans} | ${w.registry.kib} | ${w.load} |`;
    }),
  ];
  const probed = windows.filter((w) => w.probe !== undefined);
  if (probed.length > 0) {
    lines.push('', 'Inside the router (bench/lib/stall-probe.mjs), every window:', '');
    for (const w of probed) lines.push(`- ${w.round === 0 ? 'idle' : `round ${w.round}`}, ${w.churn ? 'churn' : 'no churn'}: ${describeProbe(w.probe!)}; ${describeGaps(w.probe!)}`);
  }
  const withCompared = windows.filter((w) => w.compared !== undefined);
  if (withCompared.length > 0) {
    lines.push('', 'Other builds in the same windows (--compare; no traffic to them):', '', '| round | churn | build | router CPU % | service reads | scans | KiB from Consul |', '|---:|---|---|---:|---:|---:|---:|');
    for (const w of withCompared) for (const c of w.compared!) lines.push(`| ${w.round === 0 ? 'idle' : w.round} | ${w.churn ? 'yes' : 'no'} | ${c.label} | ${f(c.routerCpuPercent)} | ${readsCell(c.registry)} | ${c.registry.registrationScans} | ${c.registry.kib} |`);
  }
  return lines.join('\n');
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);

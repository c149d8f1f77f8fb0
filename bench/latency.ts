/**
 * `npm run bench:latency`: tail latency under an open-loop load (bench/lib/open-loop.ts). Finds
 * each target's closed-loop maximum quickly, then offers every target the same fixed rate (by
 * default half of Switchyard's maximum), targets interleaved round by round, and reports
 * p50/p90/p99/p99.9/max from when each request was due, the latency added to the direct path,
 * each target's CPU per request over the measured run (/proc) and its ratio to nginx's, the late
 * requests and the generator's own send lag and CPU. Writes
 * bench/results/latency-<timestamp>.md and .json and prints the markdown.
 *
 * Options:
 *   --rate <n>            offered req/s (repeatable or comma-separated); default: --fraction of Switchyard's maximum
 *   --fraction <x>        share of Switchyard's maximum to offer when no --rate (default 0.5)
 *   --max-seconds <s>     closed-loop seconds per target to find its maximum (default 3; 0: skip, needs --rate)
 *   --duration <s>        measured seconds per target and round (default 15)
 *   --warmup <s>          unmeasured open-loop seconds before each measurement (default 3)
 *   --rounds <n>          interleaved rounds, each starting one target later (default 3)
 *   --connections <n>     keep-alive connections of the generator (default 64)
 *   --target <name>       targets (repeatable; default direct, switchyard, switchyard-node, nginx, haproxy,
 *                         go-reverse-proxy: the codec (default), the fallback engines and the peers in one run;
 *                         a peer that is not installed is skipped with the reason)
 *   --compare <label>=<cli.js>  also run another Switchyard build (its dist/cli/switchyard.js) as
 *                         "switchyard@<label>" with the defaults, and "switchyard-no-log@<label>" (repeatable)
 *   --node-flags <name>=<flag>[,<flag>...]  also run this build with the defaults as
 *                         "switchyard-<name>", its node process started with these flags (e.g.
 *                         stgc=--single-threaded-gc), to measure a runtime setting in one run (repeatable)
 *   --switchyard-flag <f> node flag for every Switchyard process (repeatable), e.g. --trace-gc
 *   --probe               preload bench/lib/stall-probe.mjs into every Switchyard process: each
 *                         measured run then reports its event-loop delay, utilisation and GC pauses,
 *                         and what the requests of --slow-ms (default 10) or more overlapped
 *   --keep-logs           keep the scratch folder with every process's log (path printed)
 *   --nice <n>            run the generator, upstream and targets at this scheduling priority
 *                         (-20…19; below 0 needs root): on a machine shared with other work, a
 *                         negative value keeps the others' processes from taking the cores mid-run
 *   --path <path>         request path (default /bench/1k)
 *   --upstream-workers <n> bench upstream processes (default 2)
 *   --generator go|node   the open-loop generator: "go" (default; bench/generators/open-loop, built
 *                         at run time, its own process: its pauses stay well under a millisecond, so
 *                         the direct path's tail is the upstream's and the machine's) or "node"
 *                         (bench/lib/open-loop.ts inside this process); without Go, node, said so
 *
 * Targets: direct; switchyard (the product's defaults: access log on, metrics recorded, admin
 * listener with its traffic-history sampler, services file watched); switchyard-no-log (the same,
 * access log off); switchyard-node (as switchyard with the fallback listener: node:http's server
 * for clients); undici-baseline; nginx
 * (1 worker); haproxy (1 thread); go-reverse-proxy (GOMAXPROCS=1); http-proxy; fastify-http-proxy.
 */
import { cliChecks } from './lib/cli-options.js';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, setPriority, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startUpstream } from './lib/bench-upstream.js';
import { latencyMarkdown, runLatencyScenario, type LatencyOptions } from './lib/latency-scenario.js';
import { describeMachine } from './lib/machine.js';
import { runOpenLoop } from './lib/open-loop.js';
import { GoOpenLoop } from './lib/open-loop-go.js';
import { NODE_ENGINES, OBSERVABILITY_OFF, OBSERVABILITY_ON } from './lib/scenarios.js';
import {
  directTarget,
  fastifyProxyTarget,
  goReverseProxyTarget,
  haproxyTarget,
  httpProxyTarget,
  nginxTarget,
  switchyardTarget,
  undiciBaselineTarget,
  type TargetSpec,
} from './lib/targets.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    rate: { type: 'string', multiple: true },
    fraction: { type: 'string', default: '0.5' },
    'max-seconds': { type: 'string', default: '3' },
    duration: { type: 'string', default: '15' },
    warmup: { type: 'string', default: '3' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '64' },
    target: { type: 'string', multiple: true },
    compare: { type: 'string', multiple: true },
    'node-flags': { type: 'string', multiple: true },
    'switchyard-flag': { type: 'string', multiple: true },
    'keep-logs': { type: 'boolean', default: false },
    probe: { type: 'boolean', default: false },
    'slow-ms': { type: 'string', default: '10' },
    nice: { type: 'string' },
    path: { type: 'string', default: '/bench/1k' },
    'upstream-workers': { type: 'string', default: '2' },
    generator: { type: 'string', default: 'go' },
  },
});

const { fail, number } = cliChecks('bench:latency');

const rates = values.rate === undefined ? null : values.rate.flatMap((r) => r.split(',')).filter((r) => r !== '').map((r) => number('rate', r));
const fraction = number('fraction', values.fraction);
const maxSeconds = number('max-seconds', values['max-seconds'], { zero: true });
if (rates === null && maxSeconds === 0) fail('--max-seconds 0 needs --rate (the rate is otherwise derived from the measured maximum)');
if (values.generator !== 'go' && values.generator !== 'node') fail(`--generator takes go or node, got "${values.generator}"`);
const options: Omit<LatencyOptions, 'log' | 'probeDir' | 'generate' | 'generatorName'> = {
  request: { method: 'GET', path: values.path },
  rates,
  fraction,
  maxSeconds,
  durationSeconds: number('duration', values.duration),
  warmupSeconds: number('warmup', values.warmup, { zero: true }),
  rounds: number('rounds', values.rounds, { integer: true }),
  connections: number('connections', values.connections, { integer: true }),
  slowMs: number('slow-ms', values['slow-ms']),
};
const upstreamWorkers = number('upstream-workers', values['upstream-workers'], { integer: true });

const CATALOGUE: Record<string, () => TargetSpec> = {
  direct: directTarget,
  switchyard: () => switchyardTarget({ productDefaults: true, configFragment: OBSERVABILITY_ON ?? {} }),
  'switchyard-node': () => switchyardTarget({ name: 'switchyard-node', productDefaults: true, configFragment: NODE_ENGINES }),
  'switchyard-no-log': () => switchyardTarget({ name: 'switchyard-no-log', productDefaults: true, configFragment: OBSERVABILITY_OFF }),
  'undici-baseline': () => undiciBaselineTarget(),
  nginx: () => nginxTarget(),
  haproxy: () => haproxyTarget(),
  'go-reverse-proxy': goReverseProxyTarget,
  'http-proxy': () => httpProxyTarget(),
  'fastify-http-proxy': () => fastifyProxyTarget(),
};
const DEFAULT_TARGETS = ['direct', 'switchyard', 'switchyard-node', 'nginx', 'haproxy', 'go-reverse-proxy'];
const names = values.target === undefined ? DEFAULT_TARGETS : values.target.flatMap((t) => t.split(',')).filter((t) => t !== '');
const unknown = names.filter((n) => CATALOGUE[n] === undefined);
if (unknown.length > 0) fail(`unknown target ${unknown.join(', ')}; choose from ${Object.keys(CATALOGUE).join(', ')}`);
const specs = names.map((n) => CATALOGUE[n]!());
for (const c of values.compare ?? []) {
  const eq = c.indexOf('=');
  if (eq <= 0) fail(`--compare takes <label>=<path of a built dist/cli/switchyard.js>, got "${c}"`);
  const label = c.slice(0, eq);
  const entry = resolve(c.slice(eq + 1));
  if (!existsSync(entry)) fail(`--compare ${label}: ${entry} does not exist (build that tree first: npx tsc -p tsconfig.build.json)`);
  specs.push(switchyardTarget({ name: `switchyard@${label}`, entry, productDefaults: true, configFragment: OBSERVABILITY_ON ?? {} }));
  specs.push(switchyardTarget({ name: `switchyard-no-log@${label}`, entry, productDefaults: true, configFragment: OBSERVABILITY_OFF }));
}
for (const variant of values['node-flags'] ?? []) {
  const eq = variant.indexOf('=');
  if (eq <= 0) fail(`--node-flags takes <name>=<flag>[,<flag>...], e.g. stgc=--single-threaded-gc; got "${variant}"`);
  const name = `switchyard-${variant.slice(0, eq)}`;
  if (specs.some((s) => s.name === name)) fail(`--node-flags ${variant}: a target named ${name} exists already; give each variant its own <name>=`);
  const nodeFlags = variant.slice(eq + 1).split(',').filter((f) => f !== '');
  specs.push(switchyardTarget({ name, nodeFlags, productDefaults: true, configFragment: OBSERVABILITY_ON ?? {} }));
}

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

if (values.nice !== undefined) {
  const nice = Number(values.nice);
  if (!Number.isInteger(nice) || nice < -20 || nice > 19) fail(`--nice must be a whole number from -20 to 19, got "${values.nice}"`);
  try {
    // Processes started from here on inherit it.
    setPriority(nice);
  } catch (err) {
    fail(`--nice ${nice}: cannot set the priority (${(err as Error).message}); values below 0 need root`);
  }
}

const machine = describeMachine();
const startedAt = new Date();
const command = `npm run bench:latency -- ${process.argv.slice(2).join(' ')}`.trim();
log('bench:latency: building Switchyard (tsc -p tsconfig.build.json)');
execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
const workDir = await mkdtemp(join(tmpdir(), 'switchyard-latency-'));
const upstream = await startUpstream(root, workDir, 1, upstreamWorkers);
let markdown: string;
let json: string;
try {
  let probeDir: string | null = null;
  const nodeFlags = [...(values['switchyard-flag'] ?? [])];
  if (values.probe) {
    probeDir = join(workDir, 'stall-probe');
    await mkdir(probeDir);
    // Inherited by the processes this one starts (spawnLogged passes process.env on).
    process.env.BENCH_STALL_PROBE_DIR = probeDir;
    nodeFlags.push('--import', join(root, 'bench/lib/stall-probe.mjs'));
  }
  let generate: LatencyOptions['generate'] = runOpenLoop;
  let generatorName = 'bench/lib/open-loop.ts (this Node process)';
  if (values.generator === 'go') {
    const go = await GoOpenLoop.build(root, workDir);
    if (typeof go === 'string') {
      log(`bench:latency: the Go generator cannot be used (${go}); using the Node generator`);
    } else {
      generate = (o) => go.run(o);
      generatorName = 'bench/generators/open-loop (Go, its own process)';
    }
  }
  const fullOptions: LatencyOptions = { ...options, probeDir, log, generate, generatorName };
  const report = await runLatencyScenario(specs, { root, workDir, upstreamPorts: upstream.ports, probePath: values.path, switchyardNodeFlags: nodeFlags }, fullOptions);
  const loadAtEnd = Math.round(loadavg()[0]! * 100) / 100;
  markdown = [
    `## Latency under open-loop load, ${startedAt.toISOString()}`,
    '',
    `Command: \`${command}\``,
    '',
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.node}; load average ${machine.loadAverage} at start, ${loadAtEnd} at the end${values.nice === undefined ? '' : `; every process of the bench at nice ${values.nice}`}. Load generator, proxies and upstream (${upstreamWorkers} processes) share the machine; on a machine shared with other work, compare targets within a round and as ratios.`,
    '',
    ...latencyMarkdown(report, fullOptions),
  ].join('\n');
  json = `${JSON.stringify({ machine, command, startedAt, loadAverageAtEnd: loadAtEnd, options: { ...options, generator: fullOptions.generatorName }, report }, null, 2)}\n`;
} finally {
  await upstream.stop();
  if (values['keep-logs']) log(`bench:latency: logs kept in ${workDir}`);
  else await rm(workDir, { recursive: true, force: true });
}
const resultsDir = join(root, 'bench/results');
await mkdir(resultsDir, { recursive: true });
const stamp = `latency-${startedAt.toISOString().replace(/[:.]/g, '-')}`;
await writeFile(join(resultsDir, `${stamp}.md`), `${markdown}\n`);
await writeFile(join(resultsDir, `${stamp}.json`), json);
process.stdout.write(`${markdown}\n`);
log(`bench:latency: results in bench/results/${stamp}.md and .json`);

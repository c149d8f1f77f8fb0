/**
 * `npm run bench:cpu`: CPU time each proxy spends per request (user + system, its whole
 * process tree), for a fixed number of requests. Unlike requests/s, this figure barely moves
 * when other work shares the machine, so it is the one to compare changes with on a busy or
 * shared host; `npm run bench` gives the throughput and latency on a quiet one. Also reported:
 * the busiest single thread's CPU per request (a Node proxy's event loop, nginx's worker),
 * which bounds one process's requests/s however many cores are free.
 *
 * Options:
 *   --requests <n>     measured requests per target (default 60000)
 *   --warmup <n>       unmeasured requests first (default 10000)
 *   --connections <n>  concurrent connections (default 32)
 *   --scenario <name>  get-1k (default), get-64k, post-64k (repeatable)
 *   --target <name>    only these targets (repeatable): switchyard (defaults: its own codec on
 *                      both sides), switchyard-node (the same with node:http's server for
 *                      clients, the fallback listener), switchyard-no-log,
 *                      undici-baseline, http-proxy, fastify-http-proxy, nginx, haproxy,
 *                      go-reverse-proxy (Go's httputil.ReverseProxy, built at run time)
 *   --rounds <n>       measure every target n times, interleaved, each round starting one target later;
 *                      the median is reported (default 1)
 *   --ref <dir>        adds the target switchyard-ref: Switchyard with the same settings as
 *                      "switchyard", run from <dir>/dist/cli/switchyard.js (another commit's build,
 *                      e.g. `git archive <commit> | tar -x -C <dir>`, node_modules linked, `npx tsc
 *                      -p tsconfig.build.json` there), to compare two builds in one run.
 *                      Repeatable as --ref <name>=<dir>: adds the target switchyard-<name> (e.g. builds
 *                      with one layer taken out, to see what each layer costs in one run)
 *   --node-flags <name>=<flag>[,<flag>...]
 *                      adds the target switchyard-<name>: this build with the same settings as
 *                      "switchyard", its node process started with these flags (e.g.
 *                      gc=--max-semi-space-size=32), to measure a runtime setting in one run. Repeatable
 *   --profile          Switchyard targets run with --cpu-prof; profiles in bench/profiles/
 *                      (`npx tsx bench/profile-summary.ts <file>`); the profiler's own cost is in
 *                      the figures, so compare profiled runs only with profiled runs
 *
 * Ratios are to nginx and to the undici baseline in the same run, when they ran. Writes
 * bench/results/cpu-<timestamp>.md and .json (with the 1-minute load average after every
 * measurement) and prints the markdown.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import autocannon, { type AutocannonRequest } from 'autocannon';
import { startUpstream } from './lib/bench-upstream.js';
import { describeMachine } from './lib/machine.js';
import { busiestThreadSeconds, treeCpuSeconds, treeThreadCpuSeconds } from './lib/process-cpu.js';
import { fastifyProxyTarget, goReverseProxyTarget, haproxyTarget, httpProxyTarget, nginxTarget, switchyardTarget, undiciBaselineTarget, type RunningTarget, type TargetSpec } from './lib/targets.js';
import { NODE_ENGINES, OBSERVABILITY_OFF, OBSERVABILITY_ON } from './lib/scenarios.js';
import { median } from './lib/median.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '60000' },
    warmup: { type: 'string', default: '10000' },
    connections: { type: 'string', default: '32' },
    scenario: { type: 'string', multiple: true },
    target: { type: 'string', multiple: true },
    rounds: { type: 'string', default: '1' },
    ref: { type: 'string', multiple: true },
    'node-flags': { type: 'string', multiple: true },
    profile: { type: 'boolean', default: false },
  },
});
function fail(message: string): never {
  process.stderr.write(`bench:cpu: ${message}\n`);
  process.exit(2);
}

function count(name: string, text: string, { zero = false } = {}): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v < 0 || (!zero && v === 0)) fail(`--${name} must be a whole number ${zero ? '≥ 0' : '> 0'}, got "${text}"`);
  return v;
}

const requests = count('requests', values.requests);
const warmup = count('warmup', values.warmup, { zero: true });
const connections = count('connections', values.connections);
const rounds = count('rounds', values.rounds);

const POST_BODY = Buffer.alloc(64 * 1024, 'p');
const SCENARIOS: Record<string, { probe: string; requests: AutocannonRequest[] }> = {
  'get-1k': { probe: '/bench/1k', requests: [{ method: 'GET', path: '/bench/1k' }] },
  'get-64k': { probe: '/bench/64k', requests: [{ method: 'GET', path: '/bench/64k' }] },
  'post-64k': { probe: '/bench/1k', requests: [{ method: 'POST', path: '/bench/echo', body: POST_BODY, headers: { 'content-type': 'application/octet-stream' } }] },
};

const TARGETS: TargetSpec[] = [
  switchyardTarget({ configFragment: OBSERVABILITY_ON ?? {} }),
  switchyardTarget({ name: 'switchyard-node', configFragment: NODE_ENGINES }),
  switchyardTarget({ name: 'switchyard-no-log', configFragment: OBSERVABILITY_OFF }),
  undiciBaselineTarget(),
  httpProxyTarget(),
  fastifyProxyTarget(),
  nginxTarget(),
  haproxyTarget(),
  goReverseProxyTarget(),
];
for (const [i, ref] of (values.ref ?? []).entries()) {
  const eq = ref.indexOf('=');
  const name = eq < 0 ? 'switchyard-ref' : `switchyard-${ref.slice(0, eq)}`;
  const dir = eq < 0 ? ref : ref.slice(eq + 1);
  if (TARGETS.some((t) => t.name === name)) fail(`--ref ${ref}: a target named ${name} exists already; give each --ref its own <name>=`);
  TARGETS.splice(1 + i, 0, switchyardTarget({ name, entry: join(resolve(dir), 'dist/cli/switchyard.js'), configFragment: OBSERVABILITY_ON ?? {} }));
}
for (const variant of values['node-flags'] ?? []) {
  const eq = variant.indexOf('=');
  if (eq <= 0) fail(`--node-flags ${variant}: give it as <name>=<flag>[,<flag>...], e.g. gc=--max-semi-space-size=32`);
  const name = `switchyard-${variant.slice(0, eq)}`;
  if (TARGETS.some((t) => t.name === name)) fail(`--node-flags ${variant}: a target named ${name} exists already; give each variant its own <name>=`);
  const nodeFlags = variant.slice(eq + 1).split(',').filter((f) => f !== '');
  TARGETS.splice(1, 0, switchyardTarget({ name, nodeFlags, configFragment: OBSERVABILITY_ON ?? {} }));
}
const profileDir = join(root, 'bench/profiles');
if (values.profile) await mkdir(profileDir, { recursive: true });

function load(url: string, amount: number, reqs: AutocannonRequest[]): Promise<{ ok: number; bad: number }> {
  return new Promise((resolvePromise, reject) => {
    autocannon({ url, connections, amount, requests: reqs }).then((r) => resolvePromise({ ok: r['2xx'], bad: r.non2xx + r.errors + r.timeouts }), reject);
  });
}

const wantedScenarios = values.scenario && values.scenario.length > 0 ? values.scenario : ['get-1k'];
const unknownScenarios = wantedScenarios.filter((name) => SCENARIOS[name] === undefined);
if (unknownScenarios.length > 0) fail(`unknown scenario ${unknownScenarios.join(', ')}; choose from ${Object.keys(SCENARIOS).join(', ')}`);
const unknownTargets = (values.target ?? []).filter((name) => !TARGETS.some((t) => t.name === name));
if (unknownTargets.length > 0) fail(`unknown target ${unknownTargets.join(', ')}; choose from ${TARGETS.map((t) => t.name).join(', ')}`);
const wantedTargets = values.target && values.target.length > 0 ? TARGETS.filter((t) => values.target!.includes(t.name)) : TARGETS;
const workDir = await mkdtemp(join(tmpdir(), 'switchyard-cpu-'));
execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
const upstream = await startUpstream(root, workDir, 1, 2);
const lines: string[] = [];
const machine = describeMachine();
const startedAt = new Date();
const command = `npm run bench:cpu -- ${process.argv.slice(2).join(' ')}`.trim();
const load1 = () => Math.round(loadavg()[0]! * 100) / 100;
/** Per scenario and target, every round's figures and the 1-minute load average right after it. */
const measured: Record<string, Record<string, { usPerRequest: number; busiestThreadUsPerRequest: number; requests: number; failed: number; loadAverage: number }[]>> = {};
const skippedTargets: Record<string, Record<string, string>> = {};
const loadAverages: number[] = [];
lines.push(
  `# CPU time per request (${startedAt.toISOString()})`,
  '',
  `Command: \`${command}\``,
  '',
  `Machine: ${machine.cpuModel}, ${machine.cores} cores, Node ${process.version}; load average ${machine.loadAverage} at start. ${requests} measured requests per target after ${warmup} unmeasured, ${connections} connections, median of ${rounds} round(s). CPU is each target's own process tree (user + system from /proc), so other work on the machine moves it far less than requests/s; it still moves some (caches, frequency, the loaded upstream), so compare targets of one run and as ratios.`,
  '',
);
try {
  for (const name of wantedScenarios) {
    const scenario = SCENARIOS[name]!;
    const runs: (typeof measured)[string] = (measured[name] = {});
    const skippedHere: Record<string, string> = (skippedTargets[name] = {});
    const results = new Map<string, number[]>();
    const busiestThread = new Map<string, number[]>();
    const skipped: string[] = [];
    for (let round = 0; round < rounds; round++) {
      // Each round starts one target later, so that no target always runs first (right after
      // the upstream started, or after the heaviest one).
      const order = wantedTargets.map((_, i) => wantedTargets[(i + round) % wantedTargets.length]!);
      for (const spec of order) {
        if (skipped.includes(spec.name)) continue;
        const started: RunningTarget | string = await spec.start({ root, workDir, upstreamPorts: upstream.ports, probePath: scenario.probe, switchyardNodeFlags: values.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [] });
        if (typeof started === 'string') {
          skipped.push(spec.name);
          skippedHere[spec.name] = started;
          process.stderr.write(`[${name}] ${spec.name} skipped: ${started}\n`);
          continue;
        }
        try {
          const pid = started.process?.child.pid;
          if (pid === undefined) throw new Error(`${spec.name}: no process to measure`);
          await load(started.url, warmup, scenario.requests);
          const before = await treeCpuSeconds(pid);
          const threadsBefore = await treeThreadCpuSeconds(pid);
          const r = await load(started.url, requests, scenario.requests);
          const after = await treeCpuSeconds(pid);
          const threadsAfter = await treeThreadCpuSeconds(pid);
          if (r.bad > 0) process.stderr.write(`[${name}] ${spec.name}: ${r.bad} failed requests\n`);
          const micros = ((after - before) * 1e6) / r.ok;
          const busiest = (busiestThreadSeconds(threadsBefore, threadsAfter) * 1e6) / r.ok;
          (results.get(spec.name) ?? results.set(spec.name, []).get(spec.name)!).push(micros);
          (busiestThread.get(spec.name) ?? busiestThread.set(spec.name, []).get(spec.name)!).push(busiest);
          const loadAverage = load1();
          loadAverages.push(loadAverage);
          (runs[spec.name] ??= []).push({ usPerRequest: micros, busiestThreadUsPerRequest: busiest, requests: r.ok, failed: r.bad, loadAverage });
          process.stderr.write(`[${name}] ${spec.name}: ${micros.toFixed(1)} µs CPU per request, busiest thread ${busiest.toFixed(1)}; load average ${loadAverage}\n`);
        } finally {
          await started.stop();
        }
      }
    }
    lines.push(
      `## ${name}`,
      '',
      '| target | µs CPU per request (median) | ÷ nginx | ÷ undici baseline | rounds | busiest thread, µs per request (median) | ÷ nginx | rounds |',
      '|---|---:|---:|---:|---|---:|---:|---|',
    );
    const medianOf = (m: Map<string, number[]>, target: string) => {
      const xs = m.get(target);
      return xs ? median(xs) : NaN;
    };
    const ratio = (v: number, base: number) => (Number.isFinite(base) ? `${(v / base).toFixed(2)}×` : '—');
    for (const [target, xs] of results) {
      const m = median(xs);
      const ts = busiestThread.get(target)!;
      const tm = median(ts);
      lines.push(
        `| ${target} | ${m.toFixed(1)} | ${ratio(m, medianOf(results, 'nginx'))} | ${ratio(m, medianOf(results, 'undici-baseline'))} | ${xs.map((x) => x.toFixed(1)).join(', ')} | ${tm.toFixed(1)} | ${ratio(tm, medianOf(busiestThread, 'nginx'))} | ${ts.map((x) => x.toFixed(1)).join(', ')} |`,
      );
    }
    for (const [target, reason] of Object.entries(skippedHere)) lines.push(`- skipped ${target}: ${reason}`);
    lines.push('');
  }
} finally {
  await upstream.stop();
  await rm(workDir, { recursive: true, force: true });
}
const loadAtEnd = load1();
lines.push(`Load average (1 min) after each measurement: ${loadAverages.length > 0 ? `${Math.min(...loadAverages)}–${Math.max(...loadAverages)}` : '—'}; ${loadAtEnd} at the end.`, '');
const resultsDir = join(root, 'bench/results');
await mkdir(resultsDir, { recursive: true });
const stamp = `cpu-${startedAt.toISOString().replace(/[:.]/g, '-')}`;
await writeFile(join(resultsDir, `${stamp}.md`), `${lines.join('\n')}`);
await writeFile(join(resultsDir, `${stamp}.json`), `${JSON.stringify({ machine, command, startedAt, loadAverageAtEnd: loadAtEnd, options: { requests, warmup, connections, rounds }, results: measured, skipped: skippedTargets }, null, 2)}\n`);
process.stdout.write(`${lines.join('\n')}\n`);
process.stderr.write(`bench:cpu: results in bench/results/${stamp}.md and .json\n`);

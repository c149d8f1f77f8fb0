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
 *   --target <name>    only these targets (repeatable): switchyard, switchyard-no-log,
 *                      switchyard-log-thread,
 *                      undici-baseline, http-proxy, fastify-http-proxy, nginx, haproxy,
 *                      go-reverse-proxy (Go's httputil.ReverseProxy, built at run time)
 *   --rounds <n>       measure every target n times, interleaved, each round starting one target later;
 *                      the median is reported (default 1)
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import autocannon, { type AutocannonRequest } from 'autocannon';
import { startUpstream } from './lib/bench-upstream.js';
import { describeMachine } from './lib/machine.js';
import { busiestThreadSeconds, treeCpuSeconds, treeThreadCpuSeconds } from './lib/process-cpu.js';
import { fastifyProxyTarget, goReverseProxyTarget, haproxyTarget, httpProxyTarget, nginxTarget, switchyardTarget, undiciBaselineTarget, type RunningTarget, type TargetSpec } from './lib/targets.js';
import { ACCESS_LOG_THREAD, OBSERVABILITY_OFF, OBSERVABILITY_ON } from './lib/scenarios.js';
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
  },
});
const requests = Number(values.requests);
const warmup = Number(values.warmup);
const connections = Number(values.connections);
const rounds = Number(values.rounds);

const POST_BODY = Buffer.alloc(64 * 1024, 'p');
const SCENARIOS: Record<string, { probe: string; requests: AutocannonRequest[] }> = {
  'get-1k': { probe: '/bench/1k', requests: [{ method: 'GET', path: '/bench/1k' }] },
  'get-64k': { probe: '/bench/64k', requests: [{ method: 'GET', path: '/bench/64k' }] },
  'post-64k': { probe: '/bench/1k', requests: [{ method: 'POST', path: '/bench/echo', body: POST_BODY, headers: { 'content-type': 'application/octet-stream' } }] },
};

const TARGETS: TargetSpec[] = [
  switchyardTarget({ configFragment: OBSERVABILITY_ON ?? {} }),
  switchyardTarget({ name: 'switchyard-no-log', configFragment: OBSERVABILITY_OFF }),
  switchyardTarget({ name: 'switchyard-log-thread', configFragment: ACCESS_LOG_THREAD }),
  undiciBaselineTarget(),
  httpProxyTarget(),
  fastifyProxyTarget(),
  nginxTarget(),
  haproxyTarget(),
  goReverseProxyTarget(),
];

function load(url: string, amount: number, reqs: AutocannonRequest[]): Promise<{ ok: number; bad: number }> {
  return new Promise((resolvePromise, reject) => {
    autocannon({ url, connections, amount, requests: reqs }).then((r) => resolvePromise({ ok: r['2xx'], bad: r.non2xx + r.errors + r.timeouts }), reject);
  });
}

const wantedScenarios = values.scenario && values.scenario.length > 0 ? values.scenario : ['get-1k'];
const unknownTargets = (values.target ?? []).filter((name) => !TARGETS.some((t) => t.name === name));
if (unknownTargets.length > 0) {
  process.stderr.write(`bench:cpu: unknown target ${unknownTargets.join(', ')}; choose from ${TARGETS.map((t) => t.name).join(', ')}\n`);
  process.exit(2);
}
const wantedTargets = values.target && values.target.length > 0 ? TARGETS.filter((t) => values.target!.includes(t.name)) : TARGETS;
const workDir = await mkdtemp(join(tmpdir(), 'switchyard-cpu-'));
execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
const upstream = await startUpstream(root, workDir, 1, 2);
const lines: string[] = [];
const machine = describeMachine();
lines.push(`# CPU time per request (${new Date().toISOString()})`, '', `Machine: ${machine.cpuModel}, ${machine.cores} cores, Node ${process.version}. ${requests} measured requests per target after ${warmup} unmeasured, ${connections} connections, median of ${rounds} round(s).`, '');
try {
  for (const name of wantedScenarios) {
    const scenario = SCENARIOS[name];
    if (scenario === undefined) throw new Error(`unknown scenario ${name}; choose from ${Object.keys(SCENARIOS).join(', ')}`);
    const results = new Map<string, number[]>();
    const busiestThread = new Map<string, number[]>();
    const skipped: string[] = [];
    for (let round = 0; round < rounds; round++) {
      // Each round starts one target later, so that no target always runs first (right after
      // the upstream started, or after the heaviest one).
      const order = wantedTargets.map((_, i) => wantedTargets[(i + round) % wantedTargets.length]!);
      for (const spec of order) {
        if (skipped.includes(spec.name)) continue;
        const started: RunningTarget | string = await spec.start({ root, workDir, upstreamPorts: upstream.ports, probePath: scenario.probe, switchyardNodeFlags: [] });
        if (typeof started === 'string') {
          skipped.push(spec.name);
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
          process.stderr.write(`[${name}] ${spec.name}: ${micros.toFixed(1)} µs CPU per request, busiest thread ${busiest.toFixed(1)}\n`);
        } finally {
          await started.stop();
        }
      }
    }
    lines.push(`## ${name}`, '', '| target | µs CPU per request (median) | rounds | busiest thread, µs per request (median) | rounds |', '|---|---:|---|---:|---|');
    const base = results.get('undici-baseline');
    const baseMedian = base ? median(base) : NaN;
    const baseThread = busiestThread.get('undici-baseline');
    const baseThreadMedian = baseThread ? median(baseThread) : NaN;
    for (const [target, xs] of results) {
      const m = median(xs);
      const ratio = Number.isFinite(baseMedian) ? ` (${(m / baseMedian).toFixed(2)}× undici baseline)` : '';
      const ts = busiestThread.get(target)!;
      const tm = median(ts);
      const threadRatio = Number.isFinite(baseThreadMedian) ? ` (${(tm / baseThreadMedian).toFixed(2)}×)` : '';
      lines.push(`| ${target} | ${m.toFixed(1)}${ratio} | ${xs.map((x) => x.toFixed(1)).join(', ')} | ${tm.toFixed(1)}${threadRatio} | ${ts.map((x) => x.toFixed(1)).join(', ')} |`);
    }
    for (const s of skipped) lines.push(`| ${s} | skipped | |`);
    lines.push('');
  }
} finally {
  await upstream.stop();
  await rm(workDir, { recursive: true, force: true });
}
process.stdout.write(`${lines.join('\n')}\n`);


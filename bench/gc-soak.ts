/**
 * `npx tsx bench/gc-soak.ts`: how often V8 runs major collections in a Switchyard process fed
 * one kind of request for minutes (a 30,000-request sample can end before a process falls into
 * the regime where promoted response memory makes mark-compacts run several times a second).
 * Runs this checkout's build and, with --ref, another build side by side, each with
 * --trace-gc, and loads them in turn (slices of --slice seconds, alternating, so both see the
 * same machine) until each had --duration seconds. Reports per build: requests, CPU per request
 * from /proc (user + system), Mark-Compact and Scavenge counts and the time they took.
 *
 * Options:
 *   --scenario <name>  get-64k (default), get-1k, post-64k
 *   --duration <s>     seconds of load per build (default 120)
 *   --slice <s>        seconds per turn (default 10)
 *   --connections <n>  concurrent connections (default 32)
 *   --ref <dir>        a built checkout to compare with (its dist/cli/switchyard.js)
 *
 * Writes bench/results/gc-soak-<timestamp>.md and prints it.
 */
import { execFileSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile, mkdir } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon, { type AutocannonRequest } from 'autocannon';
import { startUpstream } from './lib/bench-upstream.js';
import { OBSERVABILITY_ON } from './lib/scenarios.js';
import { switchyardTarget, type RunningTarget } from './lib/targets.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    scenario: { type: 'string', default: 'get-64k' },
    duration: { type: 'string', default: '120' },
    slice: { type: 'string', default: '10' },
    connections: { type: 'string', default: '32' },
    ref: { type: 'string' },
  },
});

function fail(message: string): never {
  process.stderr.write(`gc-soak: ${message}\n`);
  process.exit(2);
}
function seconds(name: string, text: string): number {
  const v = Number(text);
  if (!Number.isInteger(v) || v <= 0) fail(`--${name} must be a whole number > 0, got "${text}"`);
  return v;
}
const duration = seconds('duration', values.duration);
const slice = seconds('slice', values.slice);
const connections = seconds('connections', values.connections);
const POST_BODY = Buffer.alloc(64 * 1024, 'p');
const SCENARIOS: Record<string, { probe: string; request: AutocannonRequest }> = {
  'get-1k': { probe: '/bench/1k', request: { method: 'GET', path: '/bench/1k' } },
  'get-64k': { probe: '/bench/64k', request: { method: 'GET', path: '/bench/64k' } },
  'post-64k': { probe: '/bench/1k', request: { method: 'POST', path: '/bench/echo', body: POST_BODY, headers: { 'content-type': 'application/octet-stream' } } },
};
const scenario = SCENARIOS[values.scenario] ?? fail(`unknown scenario "${values.scenario}"; choose from ${Object.keys(SCENARIOS).join(', ')}`);

execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
const workDir = await mkdtemp(join(tmpdir(), 'switchyard-gc-soak-'));
const upstream = await startUpstream(root, workDir, 1, 2);

interface Build {
  name: string;
  target: RunningTarget;
  logFile: string;
  requests: number;
  cpuTicks: number;
}
const specs = [switchyardTarget({ name: 'switchyard', configFragment: OBSERVABILITY_ON ?? {} })];
if (values.ref !== undefined) specs.push(switchyardTarget({ name: 'switchyard-ref', entry: join(resolve(values.ref), 'dist/cli/switchyard.js'), configFragment: OBSERVABILITY_ON ?? {} }));
const builds: Build[] = [];
for (const spec of specs) {
  const target = await spec.start({ root, workDir, upstreamPorts: upstream.ports, probePath: scenario.probe, switchyardNodeFlags: ['--trace-gc'] });
  if (typeof target === 'string') fail(`${spec.name} did not start: ${target}`);
  builds.push({ name: spec.name, target, logFile: join(workDir, spec.name, 'switchyard.log'), requests: 0, cpuTicks: 0 });
}

/** utime + stime of a process, in clock ticks (/proc/<pid>/stat fields 14 and 15). */
async function cpuTicks(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(fields[11]) + Number(fields[12]);
}

const loads: string[] = [];
try {
  for (let done = 0; done < duration; done += slice) {
    for (const build of done / slice % 2 === 0 ? builds : [...builds].reverse()) {
      const pid = build.target.process?.child.pid ?? fail(`${build.name} has no process id`);
      const before = await cpuTicks(pid);
      const r = await autocannon({ url: build.target.url, connections, duration: slice, requests: [scenario.request] });
      build.cpuTicks += (await cpuTicks(pid)) - before;
      build.requests += r['2xx'];
      if (r.non2xx + r.errors + r.timeouts > 0) fail(`${build.name}: ${r.non2xx} non-2xx, ${r.errors} errors, ${r.timeouts} timeouts`);
    }
    loads.push(loadavg()[0]!.toFixed(1));
  }
} finally {
  for (const build of builds) await build.target.stop();
  await upstream.stop();
}

const ticksPerSecond = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim());
const lines = [
  `# GC soak: ${values.scenario}, ${duration} s per build in slices of ${slice} s, ${connections} connections`,
  '',
  `Node ${process.version}; load average (1 min) after each pair of slices: ${loads.join(', ')}.`,
  '',
  '| build | requests | CPU µs / request | Mark-Compact | Mark-Compact ms | Scavenge | Scavenge ms |',
  '|---|---:|---:|---:|---:|---:|---:|',
];
for (const build of builds) {
  const log = await readFile(build.logFile, 'utf8');
  let marks = 0;
  let markMs = 0;
  let scavenges = 0;
  let scavengeMs = 0;
  // --trace-gc lines: "[pid:addr]  1234 ms: Scavenge 5.1 (6.0) -> 4.2 (7.0) MB, 0.81 / 0.00 ms  (...)"
  for (const m of log.matchAll(/: (Mark-Compact|Scavenge)(?: \(reduce\))? [^,]*, ([\d.]+) \/ [\d.]+ ms/g)) {
    if (m[1] === 'Scavenge') {
      scavenges++;
      scavengeMs += Number(m[2]);
    } else {
      marks++;
      markMs += Number(m[2]);
    }
  }
  const usPerRequest = build.requests > 0 ? ((build.cpuTicks / ticksPerSecond) * 1e6) / build.requests : NaN;
  lines.push(`| ${build.name} | ${build.requests} | ${usPerRequest.toFixed(1)} | ${marks} | ${markMs.toFixed(0)} | ${scavenges} | ${scavengeMs.toFixed(0)} |`);
}
const text = lines.join('\n') + '\n';
const resultDir = join(root, 'bench/results');
await mkdir(resultDir, { recursive: true });
const file = join(resultDir, `gc-soak-${new Date().toISOString().replace(/[:.]/g, '-')}.md`);
await writeFile(file, text);
process.stdout.write(text + `\n${file}\n`);

/**
 * `npm run bench:h2`: h2load (Debian's nghttp2-client) against the HTTP/2 upstream directly,
 * Switchyard, nginx, HAProxy and Envoy, one scenario at a time, every target of a scenario in
 * the same run. h2c with prior knowledge from the client (or HTTP/2 over TLS by ALPN); h2c or
 * HTTP/1.1 to the upstream.
 * Writes bench/results/h2-<timestamp>.md and .json and prints the markdown.
 *
 * A separate runner from `npm run bench` because the load generator is an external binary
 * (autocannon speaks HTTP/1.1 only) and the upstreams and peer configs differ.
 *
 * Options:
 *   --duration <s>         measured seconds per target (default 10; --quick: 3)
 *   --warmup <s>           unmeasured seconds before each measurement (default 2; --quick: 1)
 *   --connections <n>      HTTP/2 connections (h2load -c, default 16)
 *   --streams <n>          concurrent streams per connection (h2load -m, default 16)
 *   --scenario <name>      run only this scenario (repeatable, or comma-separated)
 *   --target <name>        run only this target (repeatable, or comma-separated; include direct for the ratios)
 *   --rounds <n>           measure every target n times, interleaved; medians are reported (default 1)
 *   --quick                short durations, for a smoke run
 *   --upstream-workers <n> processes serving each upstream (default 2)
 *   --render <file.json>   print the markdown of a saved result again (no run)
 *   --baseline <dir>       another checkout of Switchyard, built (dist/), measured as target
 *                          switchyard-baseline in the same rounds as this one (before/after)
 *   --profile              Switchyard targets run with --cpu-prof; profiles in bench/profiles/
 *                          (`npx tsx bench/profile-summary.ts <file>`); the profiler's own cost is
 *                          in the figures, so compare profiled runs only with profiled runs
 *
 * Every Switchyard target starts node with the flags of its build's own executable (the #! line
 * of dist/cli/switchyard.js), as `switchyard start` runs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startUpstream, startUpstreamScript, type RunningUpstream } from './lib/bench-upstream.js';
import { findH2load, saturateH2, type H2LoadResult } from './lib/h2load.js';
import { renderH2Markdown, type H2RunDescription, type H2ScenarioReport } from './lib/h2-report.js';
import { allH2Scenarios, type H2Scenario } from './lib/h2-scenarios.js';
import { createBenchCertificate, switchyardH2Target, type BenchCertificate, type H2TargetContext } from './lib/h2-targets.js';
import { describeMachine } from './lib/machine.js';
import type { RunningTarget } from './lib/targets.js';
import { medianResult } from './lib/median.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const { values } = parseArgs({
  options: {
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string', default: '16' },
    streams: { type: 'string', default: '16' },
    scenario: { type: 'string', multiple: true },
    target: { type: 'string', multiple: true },
    rounds: { type: 'string', default: '1' },
    quick: { type: 'boolean', default: false },
    'upstream-workers': { type: 'string', default: '2' },
    render: { type: 'string' },
    baseline: { type: 'string' },
    profile: { type: 'boolean', default: false },
  },
});

const duration = Number(values.duration ?? (values.quick ? 3 : 10));
const warmup = Number(values.warmup ?? (values.quick ? 1 : 2));
const connections = Number(values.connections);
const streams = Number(values.streams);
const rounds = Number(values.rounds);
const upstreamWorkers = Number(values['upstream-workers']);
const wanted = (values.scenario ?? []).flatMap((s) => s.split(',')).filter((s) => s !== '');
for (const [name, v] of Object.entries({ duration, warmup, connections, streams, rounds, 'upstream-workers': upstreamWorkers })) {
  if (!Number.isInteger(v) || v < (name === 'warmup' ? 0 : 1)) {
    process.stderr.write(`bench:h2: --${name} must be a whole number${name === 'warmup' ? ' (0 or more)' : ' (1 or more)'}\n`);
    process.exit(2);
  }
}

const scenarios = allH2Scenarios();
if (values.baseline !== undefined) {
  const checkout = resolve(values.baseline);
  if (!existsSync(join(checkout, 'dist/cli/switchyard.js'))) {
    process.stderr.write(`bench:h2: --baseline ${checkout} has no dist/cli/switchyard.js; run npm run build there first\n`);
    process.exit(2);
  }
  // Right after this checkout's own target, so that the two alternate in every round.
  for (const s of scenarios) s.targets.splice(s.targets.findIndex((t) => t.name === 'switchyard') + 1, 0, switchyardH2Target('switchyard-baseline', checkout));
}
const unknown = wanted.filter((w) => !scenarios.some((s) => s.name === w));
if (unknown.length > 0) {
  process.stderr.write(`bench:h2: unknown scenario ${unknown.join(', ')}; choose from ${scenarios.map((s) => s.name).join(', ')}\n`);
  process.exit(2);
}
const selected = wanted.length === 0 ? scenarios : scenarios.filter((s) => wanted.includes(s.name));
const wantedTargets = (values.target ?? []).flatMap((s) => s.split(',')).filter((s) => s !== '');
const targetNames = new Set(scenarios.flatMap((s) => s.targets.map((t) => t.name)));
const unknownTargets = wantedTargets.filter((t) => !targetNames.has(t));
if (unknownTargets.length > 0) {
  process.stderr.write(`bench:h2: unknown target ${unknownTargets.join(', ')}; choose from ${[...targetNames].join(', ')}\n`);
  process.exit(2);
}

const profileDir = join(root, 'bench/profiles');
if (values.profile) await mkdir(profileDir, { recursive: true });

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

interface Upstreams {
  h2c: RunningUpstream;
  http1: RunningUpstream;
}

async function runScenario(h2load: string, scenario: H2Scenario, upstreams: Upstreams, workDir: string, certificate: BenchCertificate | undefined): Promise<H2ScenarioReport> {
  const report: H2ScenarioReport = { name: scenario.name, title: scenario.title, kind: 'saturate', targets: [], skipped: [], cpu: [] };
  let bodyFile: string | undefined;
  if (scenario.body !== undefined) {
    bodyFile = join(workDir, `${scenario.name}.body`);
    await writeFile(bodyFile, scenario.body);
  }
  const ctx: H2TargetContext = {
    root,
    workDir: join(workDir, scenario.name),
    h2cUpstreamPort: upstreams.h2c.ports[0]!,
    http1UpstreamPort: upstreams.http1.ports[0]!,
    upstream: scenario.upstream,
    probe: scenario.probe,
    ...(scenario.tls === true ? { tls: certificate } : {}),
    ...(values.profile ? { switchyardNodeFlags: ['--cpu-prof', '--cpu-prof-dir', profileDir] } : {}),
  };
  await mkdir(ctx.workDir, { recursive: true });
  const running: { name: string; target: RunningTarget }[] = [];
  try {
    for (const spec of scenario.targets) {
      if (wantedTargets.length > 0 && !wantedTargets.includes(spec.name)) continue;
      // A target that cannot start (not installed, or its config refused) is reported as
      // skipped with the reason; the others are still measured.
      const started = await spec.start(ctx).catch((err: unknown) => `did not start: ${(err as Error).message}`);
      if (typeof started === 'string') {
        log(`[${scenario.name}] ${spec.name} skipped: ${started}`);
        report.skipped.push({ target: spec.name, reason: started });
      } else {
        running.push({ name: spec.name, target: started });
      }
    }
    const shape = { path: scenario.path, headers: scenario.headers, connections, streams, ...(bodyFile === undefined ? {} : { bodyFile }) };
    const byTarget = new Map<string, H2LoadResult[]>(running.map((r) => [r.name, []]));
    for (let round = 0; round < rounds; round++) {
      for (const { name, target } of running) {
        const result = await saturateH2(h2load, target.url, shape, duration, warmup, workDir, target.process?.child.pid);
        byTarget.get(name)!.push(result);
        log(
          `[${scenario.name}] ${name}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50.toFixed(3)} ms, p99 ${result.p99.toFixed(3)} ms` +
            (result.cpuMicrosPerRequest === null ? '' : `, ${result.cpuMicrosPerRequest.toFixed(0)} µs CPU per request`) +
            (result.errors + result.non2xx > 0 ? `, ${result.errors} errors, ${result.non2xx} non-2xx` : ''),
        );
      }
    }
    for (const [name, results] of byTarget) {
      report.targets.push({ target: name, median: medianResult(results), rounds: results.map(({ cpuMicrosPerRequest: _, ...r }) => r) });
      const cpu = results.flatMap((r) => (r.cpuMicrosPerRequest === null ? [] : [r.cpuMicrosPerRequest]));
      if (cpu.length > 0) report.cpu.push({ target: name, microsPerRequest: cpu });
    }
  } finally {
    await Promise.all(running.map((r) => r.target.stop()));
  }
  return report;
}

async function main(): Promise<void> {
  if (values.render) {
    const saved = JSON.parse(await readFile(values.render, 'utf8')) as Omit<H2RunDescription, 'reports' | 'startedAt'> & { startedAt: string; scenarios: H2ScenarioReport[] };
    process.stdout.write(renderH2Markdown({ ...saved, startedAt: new Date(saved.startedAt), reports: saved.scenarios }));
    return;
  }
  const h2load = await findH2load();
  if (h2load === null) {
    process.stderr.write('bench:h2: h2load is not installed; install it with apt-get install nghttp2-client (Debian/Ubuntu)\n');
    process.exit(2);
  }
  const loadGenerator = execFileSync(h2load, ['--version'], { encoding: 'utf8' }).trim();
  const machine = describeMachine();
  const startedAt = new Date();
  const command = `npm run bench:h2 -- ${process.argv.slice(2).join(' ')}`.trim();
  log('bench:h2: building Switchyard (tsc -p tsconfig.build.json)');
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });

  const workDir = await mkdtemp(join(tmpdir(), 'switchyard-bench-h2-'));
  const reports: H2ScenarioReport[] = [];
  let h2c: RunningUpstream | undefined;
  let http1: RunningUpstream | undefined;
  try {
    h2c = await startUpstreamScript(join(root, 'bench/h2-upstream.ts'), ['--workers', String(upstreamWorkers)], join(workDir, 'h2-upstream.log'));
    http1 = await startUpstream(root, workDir, 1, upstreamWorkers);
    log(`bench:h2: ${loadGenerator}; h2c upstream :${h2c.ports[0]}, HTTP/1.1 upstream :${http1.ports[0]}, ${upstreamWorkers} processes each; ${duration}s per target, ${connections} connections × ${streams} streams, ${rounds} round(s)`);
    const certificate = selected.some((s) => s.tls === true) ? await createBenchCertificate(workDir) : undefined;
    for (const scenario of selected) reports.push(await runScenario(h2load, scenario, { h2c, http1 }, workDir, certificate));
  } finally {
    await Promise.all([h2c?.stop(), http1?.stop()]);
    // Kept when a target failed to start: its log is named in the report.
    if (reports.some((r) => r.skipped.some((s) => s.reason.startsWith('did not start')))) log(`bench:h2: logs kept in ${workDir}`);
    else await rm(workDir, { recursive: true, force: true });
  }

  const settings = { duration, warmup, connections, streams, rounds, upstreamWorkers, loadGenerator };
  const markdown = renderH2Markdown({ machine, command, startedAt, settings, reports });
  const resultsDir = join(root, 'bench/results');
  await mkdir(resultsDir, { recursive: true });
  const stamp = `h2-${startedAt.toISOString().replace(/[:.]/g, '-')}`;
  await writeFile(join(resultsDir, `${stamp}.md`), markdown);
  await writeFile(join(resultsDir, `${stamp}.json`), `${JSON.stringify({ machine, command, startedAt, settings, scenarios: reports }, null, 2)}\n`);
  process.stdout.write(markdown);
  log(`bench:h2: results in bench/results/${stamp}.md and .json`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:h2: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

/**
 * `npm run bench`: autocannon against the upstream directly, Switchyard and its peers, one
 * scenario at a time, every target of a scenario in the same run. Writes
 * bench/results/<timestamp>.md and .json and prints the markdown.
 *
 * Options:
 *   --duration <s>        measured seconds per target (default 10; --quick: 3)
 *   --warmup <s>          unmeasured seconds before each measurement (default 2; --quick: 1)
 *   --connections <n>     concurrent connections (default 64)
 *   --scenario <name>     run only this scenario (repeatable, or comma-separated)
 *   --rounds <n>          measure every target n times, interleaved; medians are reported (default 1)
 *   --quick               short durations, for a smoke run
 *   --profile             run Switchyard with --cpu-prof, profiles in bench/profiles/
 *   --upstream-workers <n> processes serving the upstream (default 2)
 *   --generator <name>    closed-loop load generator: autocannon (default) or wrk (Debian's wrk,
 *                         C; use it when autocannon is the ceiling: the report's "Upstream
 *                         headroom" line says so when direct is under 2x the fastest proxy).
 *                         Fixed-rate scenarios always use autocannon.
 *   --threads <n>         wrk threads (default 1)
 *   --render <file.json>  print the markdown of a saved result again (no run)
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startUpstream } from './lib/bench-upstream.js';
import { fixedRate, saturate, type LoadResult, type LoadShape } from './lib/load.js';
import { describeMachine } from './lib/machine.js';
import { renderMarkdown, type RunDescription, type ScenarioReport, type TargetReport } from './lib/report.js';
import { allScenarios, UPSTREAM_PORTS, type Scenario } from './lib/scenarios.js';
import type { RunningTarget, TargetContext } from './lib/targets.js';
import { medianResult } from './lib/median.js';
import { findWrk, saturateWrk } from './lib/wrk-load.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');

const { values } = parseArgs({
  options: {
    duration: { type: 'string' },
    warmup: { type: 'string' },
    connections: { type: 'string', default: '64' },
    scenario: { type: 'string', multiple: true },
    rounds: { type: 'string', default: '1' },
    quick: { type: 'boolean', default: false },
    profile: { type: 'boolean', default: false },
    'upstream-workers': { type: 'string', default: '2' },
    generator: { type: 'string', default: 'autocannon' },
    threads: { type: 'string', default: '1' },
    render: { type: 'string' },
  },
});

const duration = Number(values.duration ?? (values.quick ? 3 : 10));
const warmup = Number(values.warmup ?? (values.quick ? 1 : 2));
const connections = Number(values.connections);
const rounds = Number(values.rounds);
const upstreamWorkers = Number(values['upstream-workers']);
const threads = Number(values.threads);
const generator = values.generator ?? 'autocannon';
if (generator !== 'autocannon' && generator !== 'wrk') {
  process.stderr.write(`bench: --generator must be autocannon or wrk, not ${generator}\n`);
  process.exit(2);
}
const wrk = generator === 'wrk' ? await findWrk() : null;
if (generator === 'wrk' && wrk === null) {
  process.stderr.write('bench: --generator wrk needs wrk on the PATH (apt-get install wrk)\n');
  process.exit(2);
}
/** Closed-loop load with the chosen generator. */
function saturateWith(url: string, shape: LoadShape, seconds: number, warmupSeconds: number): Promise<LoadResult> {
  return wrk === null ? saturate(url, shape, seconds, warmupSeconds) : saturateWrk(wrk, url, shape, seconds, warmupSeconds, threads);
}
const wanted = (values.scenario ?? []).flatMap((s) => s.split(',')).filter((s) => s !== '');
for (const [name, v] of Object.entries({ duration, warmup, connections, rounds, 'upstream-workers': upstreamWorkers, threads })) {
  if (!Number.isFinite(v) || v < (name === 'warmup' ? 0 : 1)) {
    process.stderr.write(`bench: --${name} must be a positive number\n`);
    process.exit(2);
  }
}

const scenarios = allScenarios();
const unknown = wanted.filter((w) => !scenarios.some((s) => s.name === w));
if (unknown.length > 0) {
  process.stderr.write(`bench: unknown scenario ${unknown.join(', ')}; choose from ${scenarios.map((s) => s.name).join(', ')}\n`);
  process.exit(2);
}
const selected = wanted.length === 0 ? scenarios : scenarios.filter((s) => wanted.includes(s.name));

function log(line: string): void {
  process.stderr.write(`${line}\n`);
}

async function runScenario(scenario: Scenario, ctx: TargetContext, switchyardMax: number | null): Promise<ScenarioReport> {
  const report: ScenarioReport = { name: scenario.name, title: scenario.title, kind: scenario.kind, targets: [], skipped: [] };
  if (scenario.skipReason) {
    log(`[${scenario.name}] skipped: ${scenario.skipReason}`);
    report.skipped.push({ target: '(all)', reason: scenario.skipReason });
    return report;
  }
  const running: { name: string; target: RunningTarget }[] = [];
  try {
    for (const spec of scenario.targets) {
      const started = await spec.start({ ...ctx, probePath: scenario.probePath });
      if (typeof started === 'string') {
        log(`[${scenario.name}] ${spec.name} skipped: ${started}`);
        report.skipped.push({ target: spec.name, reason: started });
      } else {
        running.push({ name: spec.name, target: started });
      }
    }
    const shape = { requests: scenario.requests, connections };
    let rate: number | undefined;
    if (scenario.kind === 'fixed-rate') {
      let max = switchyardMax;
      if (max === null) {
        const sy = running.find((r) => r.name === 'switchyard');
        if (!sy) throw new Error('fixed-rate needs the switchyard target');
        log(`[${scenario.name}] measuring Switchyard's maximum first`);
        max = (await saturateWith(sy.target.url, shape, Math.min(duration, 5), warmup)).rps;
      }
      rate = Math.round(max / 2);
      report.rate = rate;
    }
    const byTarget = new Map<string, LoadResult[]>(running.map((r) => [r.name, []]));
    for (let round = 0; round < rounds; round++) {
      for (const { name, target } of running) {
        const result =
          rate === undefined ? await saturateWith(target.url, shape, duration, warmup) : await fixedRate(target.url, shape, rate, duration, warmup);
        byTarget.get(name)!.push(result);
        log(
          `[${scenario.name}] ${name}: ${result.rps.toFixed(0)} req/s, p50 ${result.p50.toFixed(3)} ms, p99 ${result.p99.toFixed(3)} ms` +
            (result.errors + result.non2xx > 0 ? `, ${result.errors} errors, ${result.non2xx} non-2xx` : ''),
        );
      }
    }
    for (const [name, results] of byTarget) {
      const t: TargetReport = { target: name, median: medianResult(results), rounds: results };
      report.targets.push(t);
    }
  } finally {
    await Promise.all(running.map((r) => r.target.stop()));
  }
  return report;
}

async function main(): Promise<void> {
  if (values.render) {
    const saved = JSON.parse(await readFile(values.render, 'utf8')) as Omit<RunDescription, 'reports' | 'startedAt'> & { startedAt: string; scenarios: ScenarioReport[] };
    process.stdout.write(renderMarkdown({ ...saved, startedAt: new Date(saved.startedAt), reports: saved.scenarios }));
    return;
  }
  const machine = describeMachine();
  const startedAt = new Date();
  const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim();
  log(`bench: building Switchyard (tsc -p tsconfig.build.json)`);
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });

  const workDir = await mkdtemp(join(tmpdir(), 'switchyard-bench-'));
  const profileDir = join(root, 'bench/profiles');
  if (values.profile) await mkdir(profileDir, { recursive: true });
  const upstream = await startUpstream(root, workDir, UPSTREAM_PORTS, upstreamWorkers);
  log(`bench: upstream on ${upstream.ports.length} ports, ${upstreamWorkers} worker processes; ${duration}s per target, ${connections} connections, ${rounds} round(s)`);
  const ctx: TargetContext = {
    root,
    workDir,
    upstreamPorts: upstream.ports,
    probePath: '/',
    switchyardNodeFlags: values.profile ? ['--cpu-prof', '--cpu-prof-dir', profileDir] : [],
  };
  const reports: ScenarioReport[] = [];
  try {
    let switchyardMax: number | null = null;
    for (const scenario of selected) {
      const report = await runScenario(scenario, ctx, switchyardMax);
      if (scenario.name === 'get-1k') switchyardMax = report.targets.find((t) => t.target === 'switchyard')?.median.rps ?? null;
      reports.push(report);
    }
  } finally {
    await upstream.stop();
    await rm(workDir, { recursive: true, force: true });
  }

  const settings = { duration, warmup, connections, rounds, upstreamWorkers, generator: wrk === null ? 'autocannon' : `wrk (${threads} thread${threads === 1 ? '' : 's'})` };
  const markdown = renderMarkdown({ machine, command, startedAt, settings, reports });
  const resultsDir = join(root, 'bench/results');
  await mkdir(resultsDir, { recursive: true });
  const stamp = startedAt.toISOString().replace(/[:.]/g, '-');
  await writeFile(join(resultsDir, `${stamp}.md`), markdown);
  await writeFile(join(resultsDir, `${stamp}.json`), `${JSON.stringify({ machine, command, startedAt, settings, scenarios: reports }, null, 2)}\n`);
  process.stdout.write(markdown);
  log(`bench: results in bench/results/${stamp}.md and .json`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

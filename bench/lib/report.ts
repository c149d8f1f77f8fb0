import type { LoadResult } from './load.js';
import type { MachineDescription } from './machine.js';

export interface TargetReport {
  target: string;
  /** Median of the rounds (errors summed). */
  median: LoadResult;
  rounds: LoadResult[];
}

export interface ScenarioReport {
  name: string;
  title: string;
  kind: 'saturate' | 'fixed-rate';
  /** Requests per second offered in a fixed-rate scenario. */
  rate?: number;
  targets: TargetReport[];
  skipped: { target: string; reason: string }[];
}

export interface RunDescription {
  machine: MachineDescription;
  command: string;
  startedAt: Date;
  /** `generator`: the closed-loop load generator (absent in results saved before it was an option: autocannon). */
  settings: { duration: number; warmup: number; connections: number; rounds: number; upstreamWorkers: number; generator?: string };
  reports: ScenarioReport[];
}

const ms = (v: number, digits = 2) => (Number.isFinite(v) ? v.toFixed(digits) : '—');
const ratio = (a: number, b: number) => (b > 0 ? `${(a / b).toFixed(2)}×` : '—');
const signed = (v: number) => (v >= 0 ? `+${v.toFixed(3)}` : v.toFixed(3));

/** A closed-loop scenario's table: req/s, percentiles, errors, ratios to direct and to every other target. */
export function saturateTable(report: ScenarioReport): string[] {
  const others = report.targets.filter((t) => t.target !== 'direct');
  const direct = report.targets.find((t) => t.target === 'direct');
  const head = ['target', 'req/s', 'p50 ms', 'p99 ms', 'errors', '× direct', ...others.map((o) => `× ${o.target}`)];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const t of report.targets) {
    const m = t.median;
    const cells = [
      t.target,
      m.rps.toFixed(0),
      ms(m.p50),
      ms(m.p99),
      String(m.errors + m.non2xx),
      direct ? ratio(m.rps, direct.median.rps) : '—',
      ...others.map((o) => (o === t ? '—' : ratio(m.rps, o.median.rps))),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  if (direct && others.length > 0) {
    const best = Math.max(...others.map((o) => o.median.rps));
    const headroom = direct.median.rps / best;
    const verdict =
      headroom >= 2
        ? 'at least 2x: the proxies, not the generator or the upstream, set their figures'
        : 'under 2x: the load generator or the upstream may be the ceiling for the fastest proxies, so ratios between them understate the gap (with autocannon, try --generator wrk)';
    lines.push('', `Upstream headroom: direct ${direct.median.rps.toFixed(0)} req/s vs the fastest proxy ${best.toFixed(0)} req/s (${ratio(direct.median.rps, best)}), ${verdict}.`);
  }
  return lines;
}

function fixedRateTable(report: ScenarioReport): string[] {
  const direct = report.targets.find((t) => t.target === 'direct');
  const head = ['target', 'offered req/s', 'achieved req/s', 'p50 ms', 'p99 ms', 'added p50 ms', 'added p99 ms', 'errors'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`];
  for (const t of report.targets) {
    const m = t.median;
    lines.push(
      `| ${[
        t.target,
        String(report.rate ?? ''),
        m.rps.toFixed(0),
        ms(m.p50, 3),
        ms(m.p99, 3),
        direct && t !== direct ? signed(m.p50 - direct.median.p50) : '—',
        direct && t !== direct ? signed(m.p99 - direct.median.p99) : '—',
        String(m.errors + m.non2xx),
      ].join(' | ')} |`,
    );
  }
  return lines;
}

export function renderMarkdown(run: RunDescription): string {
  const { machine, settings } = run;
  const out: string[] = [
    `## Benchmark run ${run.startedAt.toISOString()}`,
    '',
    `Command: \`${run.command}\``,
    '',
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.node}, load average ${machine.loadAverage} at start.`,
    `Settings: ${settings.duration} s measured per target after ${settings.warmup} s warm-up, ${settings.connections} connections, ${settings.rounds} round(s) (medians), upstream in ${settings.upstreamWorkers} processes, closed-loop load from ${settings.generator ?? 'autocannon'}; load generator, proxy and upstream share the machine.`,
    '',
  ];
  for (const report of run.reports) {
    out.push(`### ${report.name}: ${report.title}`, '');
    if (report.kind === 'fixed-rate' && report.rate !== undefined) out.push(`Offered rate: ${report.rate} req/s (half of Switchyard's maximum in this run).`, '');
    if (report.targets.length > 0) out.push(...(report.kind === 'saturate' ? saturateTable(report) : fixedRateTable(report)), '');
    for (const s of report.skipped) out.push(`- skipped ${s.target}: ${s.reason}`);
    if (report.skipped.length > 0) out.push('');
  }
  return `${out.join('\n')}\n`;
}

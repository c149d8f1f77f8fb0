import type { MachineDescription } from './machine.js';
import { saturateTable, type ScenarioReport } from './report.js';
import { median } from './median.js';

export interface H2RunSettings {
  duration: number;
  warmup: number;
  connections: number;
  streams: number;
  rounds: number;
  upstreamWorkers: number;
  /** `h2load --version`. */
  loadGenerator: string;
}

/** A scenario's results plus the CPU each proxy's process tree spent per 2xx response, per round. */
export interface H2ScenarioReport extends ScenarioReport {
  cpu: { target: string; microsPerRequest: number[] }[];
}

export interface H2RunDescription {
  machine: MachineDescription;
  command: string;
  startedAt: Date;
  settings: H2RunSettings;
  reports: H2ScenarioReport[];
}

/** CPU per request of each proxy over the measured windows (user + system, whole process tree). */
function cpuTable(report: H2ScenarioReport): string[] {
  const medians = report.cpu.map((c) => ({ target: c.target, m: median(c.microsPerRequest), rounds: c.microsPerRequest }));
  const head = ['target', 'µs CPU / request', ...medians.map((o) => `× ${o.target}`), 'rounds'];
  const lines = [`| ${head.join(' | ')} |`, `|${head.map((_, i) => (i === 0 || i === head.length - 1 ? '---' : '---:')).join('|')}|`];
  for (const t of medians) {
    const ratios = medians.map((o) => (o === t ? '—' : `${(t.m / o.m).toFixed(2)}×`));
    lines.push(`| ${[t.target, t.m.toFixed(0), ...ratios, t.rounds.map((x) => x.toFixed(0)).join(', ')].join(' | ')} |`);
  }
  return lines;
}

export function renderH2Markdown(run: H2RunDescription): string {
  const { machine, settings } = run;
  const out: string[] = [
    `## HTTP/2 benchmark run ${run.startedAt.toISOString()}`,
    '',
    `Command: \`${run.command}\``,
    '',
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.memoryGiB} GiB, ${machine.os}, Node ${machine.node}, load average ${machine.loadAverage} at start.`,
    `Settings: ${settings.loadGenerator}, one thread, ${settings.connections} connections × ${settings.streams} concurrent streams, ${settings.duration} s measured per target after ${settings.warmup} s warm-up, ${settings.rounds} round(s) (medians), upstreams in ${settings.upstreamWorkers} processes each; load generator, proxy and upstream share the machine.`,
    '',
  ];
  for (const report of run.reports) {
    out.push(`### ${report.name}: ${report.title}`, '');
    if (report.targets.length > 0) out.push(...saturateTable(report), '');
    if (report.cpu.length > 0) out.push(...cpuTable(report), '');
    for (const s of report.skipped) out.push(`- skipped ${s.target}: ${s.reason}`);
    if (report.skipped.length > 0) out.push('');
  }
  return `${out.join('\n')}\n`;
}

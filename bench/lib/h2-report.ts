import type { MachineDescription } from './machine.js';
import { saturateTable, type ScenarioReport } from './report.js';

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

export interface H2RunDescription {
  machine: MachineDescription;
  command: string;
  startedAt: Date;
  settings: H2RunSettings;
  reports: ScenarioReport[];
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
    for (const s of report.skipped) out.push(`- skipped ${s.target}: ${s.reason}`);
    if (report.skipped.length > 0) out.push('');
  }
  return `${out.join('\n')}\n`;
}

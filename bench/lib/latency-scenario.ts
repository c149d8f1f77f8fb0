/**
 * The latency scenario of `npm run bench:latency`: every target loaded by the open-loop
 * generator (bench/lib/open-loop.ts) at the same fixed rate, targets interleaved round by
 * round (each round starts one target later), so that a shared machine's slow moments fall on
 * every target alike. Reports p50…max and the latency added to the direct path, per round and
 * as medians over rounds.
 */
import { readFile } from 'node:fs/promises';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import type { OpenLoopOptions, OpenLoopRequest, OpenLoopResult, Percentiles } from './open-loop.js';
import { saturate } from './load.js';
import { median } from './median.js';
import { treeCpuSeconds } from './process-cpu.js';
import type { RunningTarget, TargetContext, TargetSpec } from './targets.js';

export interface LatencyOptions {
  request: OpenLoopRequest;
  /** Offered rates; null: `fraction` of Switchyard's closed-loop maximum measured first. */
  rates: number[] | null;
  fraction: number;
  /** Seconds of closed-loop load per target to find its maximum (0: not measured; needs rates). */
  maxSeconds: number;
  durationSeconds: number;
  warmupSeconds: number;
  rounds: number;
  connections: number;
  /**
   * Folder where Switchyard processes started with bench/lib/stall-probe.mjs write their
   * windows (BENCH_STALL_PROBE_DIR); each measured run of a probed target then carries the
   * event-loop delay and GC pauses of that run. Null: no probe.
   */
  probeDir: string | null;
  /** With the probe: requests at least this slow are attributed to what overlapped them. */
  slowMs: number;
  /** Runs one open-loop load: runOpenLoop (this process) or the Go generator (GoOpenLoop.run). */
  generate: (options: OpenLoopOptions) => Promise<OpenLoopResult>;
  /** Which generator `generate` is, for the report. */
  generatorName: string;
  log: (line: string) => void;
}

/** What bench/lib/stall-probe.mjs measured in a target process over one measured run. */
export interface ProbeWindow {
  windowMs: number;
  eventLoopUtilization: number;
  cpuMs: number;
  loopDelayMs: { p50: number; p99: number; p999: number; max: number; samples: number; resolutionMs: number };
  gc: Record<string, { count: number; totalMs: number; maxMs: number }>;
  startEpochMs: number;
  /** GC pauses of 2 ms or more: when (ms since the epoch) and how long. */
  longPauses: { kind: string; at: number; ms: number }[];
  /** Gaps of 5 ms or more in the probe's interval timer, and the process's CPU time during each. */
  gaps: { at: number; ms: number; cpuMs: number }[];
}

/**
 * What the slow requests of a probed run overlapped: each request of `thresholdMs` or more (due →
 * response) is put in the first class whose event overlaps its interval: a GC pause of the
 * target; a gap in its event loop during which it used CPU (JavaScript or GC work not reported
 * as a pause); a gap during which it hardly ran (under half the gap's CPU: the machine's other
 * work, or a system call); none of these (queueing behind other requests, the upstream, the
 * generator).
 */
export interface TailAttribution {
  thresholdMs: number;
  slow: number;
  gcPause: number;
  busyGap: number;
  notRunningGap: number;
  unexplained: number;
}

export function attributeTail(result: OpenLoopResult, probe: ProbeWindow, thresholdMs: number): TailAttribution {
  const out: TailAttribution = { thresholdMs, slow: 0, gcPause: 0, busyGap: 0, notRunningGap: 0, unexplained: 0 };
  const latency = result.samples?.latency;
  if (latency === undefined) return out;
  const overlaps = (from: number, to: number, at: number, ms: number) => at < to && at + ms > from;
  for (let i = 0; i < latency.length; i++) {
    const l = latency[i]!;
    if (!(l >= thresholdMs)) continue;
    out.slow++;
    const due = result.startEpochMs + i * result.intervalMs;
    const done = due + l;
    if (probe.longPauses.some((p) => overlaps(due, done, p.at, p.ms))) out.gcPause++;
    else {
      const gap = probe.gaps.find((g) => overlaps(due, done, g.at, g.ms));
      if (gap === undefined) out.unexplained++;
      else if (gap.cpuMs >= gap.ms / 2) out.busyGap++;
      else out.notRunningGap++;
    }
  }
  return out;
}

/**
 * One measured open-loop run, without the per-request samples; with the target's probe window
 * when probed. `targetCpuUsPerRequest`: user + system CPU of the target's process tree (/proc)
 * over the run ÷ the responses (null for a target without a process of its own: direct).
 * `loadAverage`: the machine's 1-minute load average right after the run.
 */
export type LatencyRun = Omit<OpenLoopResult, 'samples'> & { targetCpuUsPerRequest: number | null; loadAverage: number; probe?: ProbeWindow; tail?: TailAttribution };

export interface LatencyTargetReport {
  target: string;
  rounds: LatencyRun[];
  /** Medians over rounds. */
  median: Percentiles & { achievedRps: number; late: number; waitedForConnection: number; errors: number; sendLagP99: number; generatorCpuPercent: number; targetCpuUsPerRequest: number | null };
  /** Median over rounds of (this target − direct in the same round), ms; null for direct or without it. */
  added: { p50: number; p99: number; p999: number; max: number } | null;
}

export interface LatencyRateReport {
  rate: number;
  targets: LatencyTargetReport[];
}

export interface LatencyReport {
  /** Closed-loop requests/s per target (autocannon, `connections` connections), when measured. */
  maxRps: Record<string, number>;
  /** Switchyard's maximum the rate was derived from, and the fraction. */
  rateFrom: { target: string; maxRps: number; fraction: number } | null;
  rates: LatencyRateReport[];
  skipped: { target: string; reason: string }[];
}

/** The Switchyard target the rate is derived from: "switchyard" if present, else the first whose name starts so. */
function switchyardOf(names: readonly string[]): string | undefined {
  return names.includes('switchyard') ? 'switchyard' : names.find((n) => n.startsWith('switchyard'));
}

export async function runLatencyScenario(specs: readonly TargetSpec[], ctx: TargetContext, options: LatencyOptions): Promise<LatencyReport> {
  const { log } = options;
  const running: { name: string; target: RunningTarget }[] = [];
  const report: LatencyReport = { maxRps: {}, rateFrom: null, rates: [], skipped: [] };
  try {
    for (const spec of specs) {
      const started = await spec.start(ctx);
      if (typeof started === 'string') {
        log(`[latency] ${spec.name} skipped: ${started}`);
        report.skipped.push({ target: spec.name, reason: started });
      } else {
        running.push({ name: spec.name, target: started });
      }
    }
    const reference = switchyardOf(running.map((r) => r.name));
    if (options.maxSeconds > 0) {
      for (const { name, target } of running) {
        const r = await saturate(target.url, { requests: [toAutocannon(options.request)], connections: options.connections }, options.maxSeconds, 1);
        report.maxRps[name] = r.rps;
        log(`[latency] ${name}: maximum ${r.rps.toFixed(0)} req/s (closed loop, ${options.connections} connections, ${options.maxSeconds} s)`);
      }
    }
    let rates = options.rates;
    if (rates === null) {
      if (reference === undefined || report.maxRps[reference] === undefined) throw new Error('no --rate given and no Switchyard target whose maximum was measured to derive it from');
      const max = report.maxRps[reference]!;
      report.rateFrom = { target: reference, maxRps: max, fraction: options.fraction };
      rates = [Math.max(1, Math.round(max * options.fraction))];
    }
    const runs = new Map<string, LatencyRun[]>();
    const key = (rate: number, name: string) => `${rate}\u0000${name}`;
    for (let round = 0; round < options.rounds; round++) {
      const order = running.map((_, i) => running[(i + round) % running.length]!);
      for (const rate of rates) {
        for (const { name, target } of order) {
          const base = { url: target.url, request: options.request, rate, connections: options.connections };
          if (options.warmupSeconds > 0) await options.generate({ ...base, durationSeconds: options.warmupSeconds });
          const probe = options.probeDir !== null && name.startsWith('switchyard') ? probeOf(target, options.probeDir) : null;
          await probe?.window(); // starts the window
          const pid = target.process?.child.pid;
          const cpuBefore = pid === undefined ? null : await treeCpuSeconds(pid);
          const full = await options.generate({ ...base, durationSeconds: options.durationSeconds, keepSamples: probe !== null });
          const cpuAfter = pid === undefined ? null : await treeCpuSeconds(pid);
          const { samples: _dropped, ...measured } = full;
          const answered = measured.completed;
          const result: LatencyRun = {
            ...measured,
            targetCpuUsPerRequest: cpuBefore === null || cpuAfter === null || answered <= 0 ? null : ((cpuAfter - cpuBefore) * 1e6) / answered,
            loadAverage: Math.round(loadavg()[0]! * 100) / 100,
          };
          if (probe) {
            result.probe = await probe.window();
            result.tail = attributeTail(full, result.probe, options.slowMs);
          }
          (runs.get(key(rate, name)) ?? runs.set(key(rate, name), []).get(key(rate, name))!).push(result);
          const l = result.latency;
          log(
            `[latency] round ${round + 1}, ${rate} req/s, ${name}: p50 ${l.p50.toFixed(2)} p99 ${l.p99.toFixed(2)} p99.9 ${l.p999.toFixed(2)} max ${l.max.toFixed(2)} ms; ` +
              `late ${result.late}, waited ${result.waitedForConnection}, errors ${result.errors}; ` +
              `${result.targetCpuUsPerRequest === null ? '' : `target CPU ${result.targetCpuUsPerRequest.toFixed(1)} µs/request; `}` +
              `generator send lag p99 ${result.sendLag.p99.toFixed(2)} ms, CPU ${result.generatorCpu.percentOfCore.toFixed(0)} %; load average ${result.loadAverage}`,
          );
          if (result.probe) log(`[latency]   ${name} probe: ${describeProbe(result.probe)}`);
          if (result.tail) log(`[latency]   ${name} requests ≥ ${result.tail.thresholdMs} ms: ${describeTail(result.tail)}`);
        }
      }
    }
    for (const rate of rates) {
      const direct = runs.get(key(rate, 'direct'));
      const targets: LatencyTargetReport[] = [];
      for (const { name } of running) {
        const rs = runs.get(key(rate, name))!;
        const m = (f: (r: LatencyRun) => number) => median(rs.map(f));
        const addedBy = (f: (p: Percentiles) => number) => median(rs.map((r, i) => f(r.latency) - f(direct![i]!.latency)));
        targets.push({
          target: name,
          rounds: rs,
          median: {
            p50: m((r) => r.latency.p50),
            p90: m((r) => r.latency.p90),
            p99: m((r) => r.latency.p99),
            p999: m((r) => r.latency.p999),
            max: m((r) => r.latency.max),
            mean: m((r) => r.latency.mean),
            achievedRps: m((r) => r.achievedRps),
            late: m((r) => r.late),
            waitedForConnection: m((r) => r.waitedForConnection),
            errors: rs.reduce((a, r) => a + r.errors + r.non2xx, 0),
            sendLagP99: m((r) => r.sendLag.p99),
            generatorCpuPercent: m((r) => r.generatorCpu.percentOfCore),
            targetCpuUsPerRequest: rs.every((r) => r.targetCpuUsPerRequest !== null) ? m((r) => r.targetCpuUsPerRequest!) : null,
          },
          added: direct === undefined || name === 'direct' ? null : { p50: addedBy((p) => p.p50), p99: addedBy((p) => p.p99), p999: addedBy((p) => p.p999), max: addedBy((p) => p.max) },
        });
      }
      report.rates.push({ rate, targets });
    }
  } finally {
    await Promise.all(running.map((r) => r.target.stop()));
  }
  return report;
}

/**
 * The probe of a target started with stall-probe.mjs: `window()` signals SIGUSR2 and resolves
 * with the line the process appended for the window that just ended.
 */
export function probeOf(target: RunningTarget, dir: string): { window(): Promise<ProbeWindow> } | null {
  const pid = target.process?.child.pid;
  if (pid === undefined) return null;
  const file = join(dir, `stall-probe-${pid}.jsonl`);
  // Whole lines only: the probe may be writing the last one while it is read.
  const lines = async () => {
    const text = await readFile(file, 'utf8').catch(() => '');
    return text.slice(0, text.lastIndexOf('\n') + 1).split('\n').filter((l) => l !== '');
  };
  return {
    async window() {
      const before = (await lines()).length;
      process.kill(pid, 'SIGUSR2');
      for (let waited = 0; waited < 5_000; waited += 20) {
        const now = await lines();
        if (now.length > before) return JSON.parse(now[now.length - 1]!) as ProbeWindow;
        await delay(20);
      }
      throw new Error(`process ${pid} wrote no stall-probe window to ${file} within 5 s of SIGUSR2 (was it started with --import bench/lib/stall-probe.mjs and BENCH_STALL_PROBE_DIR?)`);
    },
  };
}

const GC_KINDS = ['scavenge', 'markCompact', 'incremental', 'weakCallbacks', 'other'] as const;

/** One line: loop delay, utilisation, CPU and GC pauses of a probe window. */
export function describeProbe(p: ProbeWindow): string {
  const gc = GC_KINDS.filter((k) => p.gc[k] !== undefined)
    .map((k) => `${k} ${p.gc[k]!.count}× ${p.gc[k]!.totalMs.toFixed(0)} ms (max ${p.gc[k]!.maxMs.toFixed(1)})`)
    .join(', ');
  return (
    `loop delay p99 ${p.loopDelayMs.p99} p99.9 ${p.loopDelayMs.p999} max ${p.loopDelayMs.max} ms; ELU ${p.eventLoopUtilization}; CPU ${p.cpuMs} ms in ${p.windowMs} ms; ` +
    `GC ${gc || 'none'}; pauses ≥ 2 ms: ${p.longPauses.length}`
  );
}

export function describeTail(t: TailAttribution): string {
  return `${t.slow}; overlapping a GC pause ${t.gcPause}, a busy loop gap ${t.busyGap}, a gap while not running ${t.notRunningGap}, none ${t.unexplained}`;
}

function toAutocannon(request: OpenLoopRequest): { method: 'GET' | 'POST'; path: string; headers?: Record<string, string>; body?: Buffer } {
  return {
    method: (request.method ?? (request.body ? 'POST' : 'GET')) as 'GET' | 'POST',
    path: request.path,
    ...(request.headers ? { headers: request.headers } : {}),
    ...(request.body ? { body: request.body } : {}),
  };
}

const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '—');
const signed = (v: number) => (Number.isFinite(v) ? (v >= 0 ? `+${v.toFixed(2)}` : v.toFixed(2)) : '—');

/** Markdown of a latency report: per rate, one table of medians and one of every round. */
export function latencyMarkdown(report: LatencyReport, options: Pick<LatencyOptions, 'durationSeconds' | 'warmupSeconds' | 'rounds' | 'connections' | 'slowMs' | 'generatorName'>): string[] {
  const out: string[] = [];
  if (report.rateFrom) {
    out.push(`Rate: ${report.rateFrom.fraction} × ${report.rateFrom.target}'s closed-loop maximum of ${report.rateFrom.maxRps.toFixed(0)} req/s.`, '');
  }
  if (Object.keys(report.maxRps).length > 0) {
    out.push('| target | closed-loop max req/s |', '|---|---:|');
    for (const [t, v] of Object.entries(report.maxRps)) out.push(`| ${t} | ${v.toFixed(0)} |`);
    out.push('');
  }
  for (const { rate, targets } of report.rates) {
    out.push(
      `### ${rate} req/s offered, open loop`,
      '',
      `${options.durationSeconds} s measured per target after ${options.warmupSeconds} s unmeasured, generator: ${options.generatorName}, ${options.connections} keep-alive connections, ${options.rounds} interleaved round(s); latency from when each request was due, ms, medians over rounds; "added" = the median over rounds of (target − direct in the same round). CPU: user + system of the target's process tree over the measured run (/proc) ÷ responses, µs, median over rounds, and its ratio to nginx's.`,
      '',
      '| target | % of its max | achieved req/s | CPU µs/request | ÷ nginx | p50 | p90 | p99 | p99.9 | max | added p50 | added p99 | added p99.9 | added max | late | waited for a connection | errors | generator: send lag p99 ms, CPU % |',
      '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    );
    const nginxCpu = targets.find((t) => t.target === 'nginx')?.median.targetCpuUsPerRequest ?? null;
    for (const t of targets) {
      const m = t.median;
      const max = report.maxRps[t.target];
      const cpu = m.targetCpuUsPerRequest;
      out.push(
        `| ${[
          t.target,
          max ? `${((100 * rate) / max).toFixed(0)} %` : '—',
          m.achievedRps.toFixed(0),
          cpu === null ? '—' : cpu.toFixed(1),
          cpu === null || nginxCpu === null ? '—' : `${(cpu / nginxCpu).toFixed(2)}×`,
          f2(m.p50),
          f2(m.p90),
          f2(m.p99),
          f2(m.p999),
          f2(m.max),
          t.added ? signed(t.added.p50) : '—',
          t.added ? signed(t.added.p99) : '—',
          t.added ? signed(t.added.p999) : '—',
          t.added ? signed(t.added.max) : '—',
          m.late.toFixed(0),
          m.waitedForConnection.toFixed(0),
          String(m.errors),
          `${f2(m.sendLagP99)}, ${m.generatorCpuPercent.toFixed(0)}`,
        ].join(' | ')} |`,
      );
    }
    out.push(
      '',
      "Every round (p99 / p99.9 / max ms; the target's CPU µs/request; the machine's 1-minute load average right after the run):",
      '',
      `| target | ${targets[0]!.rounds.map((_, i) => `round ${i + 1}`).join(' | ')} |`,
      `|---|${targets[0]!.rounds.map(() => '---:').join('|')}|`,
    );
    for (const t of targets) {
      const cells = t.rounds.map((r) => `${f2(r.latency.p99)} / ${f2(r.latency.p999)} / ${f2(r.latency.max)}; ${r.targetCpuUsPerRequest === null ? '—' : r.targetCpuUsPerRequest.toFixed(1)} µs; load ${r.loadAverage}`);
      out.push(`| ${t.target} | ${cells.join(' | ')} |`);
    }
    const probed = targets.filter((t) => t.rounds.some((r) => r.probe !== undefined));
    if (probed.length > 0) {
      out.push(
        '',
        'Inside the probed processes (bench/lib/stall-probe.mjs), every round: event-loop delay p99 / p99.9 / max ms; event-loop utilisation; GC: scavenges count / total ms / longest, mark-compacts count / total ms / longest; pauses ≥ 2 ms.',
        '',
        `| target | round | loop delay ms | ELU | scavenges | mark-compacts | pauses ≥ 2 ms | loop gaps ≥ 5 ms (busy / not running) | requests ≥ ${options.slowMs} ms: GC pause / busy gap / not-running gap / none |`,
        '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
      );
      for (const t of probed) {
        t.rounds.forEach((r, i) => {
          const p = r.probe;
          if (!p) return;
          const g = (k: string) => (p.gc[k] ? `${p.gc[k]!.count} / ${p.gc[k]!.totalMs.toFixed(0)} / ${p.gc[k]!.maxMs.toFixed(1)}` : '0');
          const busy = p.gaps.filter((x) => x.cpuMs >= x.ms / 2).length;
          const a = r.tail;
          out.push(
            `| ${t.target} | ${i + 1} | ${p.loopDelayMs.p99} / ${p.loopDelayMs.p999} / ${p.loopDelayMs.max} | ${p.eventLoopUtilization} | ${g('scavenge')} | ${g('markCompact')} | ${p.longPauses.length} | ${busy} / ${p.gaps.length - busy} | ` +
              (a ? `${a.slow}: ${a.gcPause} / ${a.busyGap} / ${a.notRunningGap} / ${a.unexplained}` : '—') + ' |',
          );
        });
      }
    }
    out.push('');
  }
  for (const s of report.skipped) out.push(`- skipped ${s.target}: ${s.reason}`);
  if (report.skipped.length > 0) out.push('');
  return out;
}

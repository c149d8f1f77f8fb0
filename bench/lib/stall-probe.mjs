// Preloaded into a benchmarked Node process (node --import …/stall-probe.mjs) to see what stalls
// its event loop. Active only when BENCH_STALL_PROBE_DIR is set. Measures, from the previous
// SIGUSR2 (or the start) on:
// - the event loop's delay (perf_hooks.monitorEventLoopDelay, BENCH_STALL_PROBE_RESOLUTION_MS,
//   default 2 ms): how late a timer ran, so a turn that held the loop N ms shows as ~N ms;
// - every garbage collection (a 'gc' PerformanceObserver): count, total and longest pause by
//   kind (scavenge, mark-compact, incremental marking step, weak callbacks), and the pauses of
//   2 ms or more;
// - the event loop's utilisation and the process's CPU time;
// - the gaps in a BENCH_STALL_PROBE_TICK_MS (default 5 ms) interval timer of 5 ms or more beyond
//   its period, with when they began and the process's CPU time during them (close to the gap:
//   the process was busy, in JavaScript or GC; far below: it was not running, e.g. the machine's
//   other work had the cores).
// Times are ms since the epoch (performance.timeOrigin + now), the load generator's clock too.
// On SIGUSR2 it appends that as one JSON line to <dir>/stall-probe-<pid>.jsonl and starts over.
import { appendFileSync } from 'node:fs';
import { join } from 'node:path';
import { constants, monitorEventLoopDelay, performance, PerformanceObserver } from 'node:perf_hooks';

const dir = process.env.BENCH_STALL_PROBE_DIR;
if (dir) {
  const file = join(dir, `stall-probe-${process.pid}.jsonl`);
  const resolution = Number(process.env.BENCH_STALL_PROBE_RESOLUTION_MS ?? 2);
  const KINDS = {
    [constants.NODE_PERFORMANCE_GC_MINOR]: 'scavenge',
    [constants.NODE_PERFORMANCE_GC_MAJOR]: 'markCompact',
    [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
    [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakCallbacks',
  };
  const tick = Number(process.env.BENCH_STALL_PROBE_TICK_MS ?? 5);
  const delay = monitorEventLoopDelay({ resolution });
  delay.enable();
  let gc;
  let longPauses;
  let gaps;
  let since;
  let eluBefore;
  let cpuBefore;
  let lastTick = performance.now();
  let lastTickCpu = process.cpuUsage();
  const epoch = (t) => Math.round((performance.timeOrigin + t) * 100) / 100;
  setInterval(() => {
    const now = performance.now();
    const cpu = process.cpuUsage();
    const gap = now - lastTick - tick;
    if (gap >= 5 && gaps.length < 1000) {
      const cpuMs = (cpu.user - lastTickCpu.user + cpu.system - lastTickCpu.system) / 1000;
      gaps.push({ at: epoch(lastTick + tick), ms: Math.round(gap * 100) / 100, cpuMs: Math.round(cpuMs * 100) / 100 });
    }
    lastTick = now;
    lastTickCpu = cpu;
  }, tick).unref();
  const reset = () => {
    gc = {};
    longPauses = [];
    gaps = [];
    since = performance.now();
    eluBefore = performance.eventLoopUtilization();
    cpuBefore = process.cpuUsage();
    delay.reset();
  };
  reset();
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = KINDS[entry.detail?.kind] ?? 'other';
      const k = (gc[kind] ??= { count: 0, totalMs: 0, maxMs: 0 });
      k.count++;
      k.totalMs += entry.duration;
      if (entry.duration > k.maxMs) k.maxMs = entry.duration;
      if (entry.duration >= 2 && longPauses.length < 1000) longPauses.push({ kind, at: epoch(entry.startTime), ms: Math.round(entry.duration * 100) / 100 });
    }
  });
  observer.observe({ entryTypes: ['gc'] });
  const ms = (ns) => Math.round(ns / 1e4) / 100;
  process.on('SIGUSR2', () => {
    const cpu = process.cpuUsage(cpuBefore);
    const window = {
      startEpochMs: epoch(since),
      windowMs: Math.round(performance.now() - since),
      eventLoopUtilization: Math.round(performance.eventLoopUtilization(eluBefore).utilization * 1000) / 1000,
      cpuMs: Math.round((cpu.user + cpu.system) / 1000),
      loopDelayMs: { p50: ms(delay.percentile(50)), p99: ms(delay.percentile(99)), p999: ms(delay.percentile(99.9)), max: ms(delay.max), samples: delay.count, resolutionMs: resolution },
      gc,
      longPauses,
      gaps,
    };
    appendFileSync(file, `${JSON.stringify(window)}\n`);
    reset();
  });
}

import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { attributeTail, type ProbeWindow } from '../../../bench/lib/latency-scenario.js';
import type { OpenLoopResult } from '../../../bench/lib/open-loop.js';

const PROBE = resolve('bench/lib/stall-probe.mjs');
let dir: string | null = null;

afterEach(async () => {
  if (dir !== null) await rm(dir, { recursive: true, force: true });
  dir = null;
});

describe('stall-probe.mjs', () => {
  it('reports a busy stall of the event loop as a gap with its CPU time, the loop delay, and a forced GC', async () => {
    dir = await mkdtemp(join(tmpdir(), 'stall-probe-test-'));
    // 150 ms in: block the loop for 80 ms, then run a full GC; print "ready" when both are done.
    const script = `
      setTimeout(() => {
        const t = performance.now();
        while (performance.now() - t < 80) {}
        globalThis.gc();
        setTimeout(() => console.log('ready'), 50);
      }, 150);
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--expose-gc', '--import', PROBE, '-e', script], {
      env: { ...process.env, BENCH_STALL_PROBE_DIR: dir },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    try {
      await once(child.stdout!, 'data');
      child.kill('SIGUSR2');
      const file = join(dir, `stall-probe-${child.pid}.jsonl`);
      let text = '';
      for (let i = 0; i < 100 && text === ''; i++) {
        text = await readFile(file, 'utf8').catch(() => '');
        if (text === '') await new Promise((r) => setTimeout(r, 20));
      }
      const window = JSON.parse(text.trim().split('\n').at(-1)!) as ProbeWindow;
      const gap = window.gaps.find((g) => g.ms >= 75);
      expect(gap, JSON.stringify(window.gaps)).toBeDefined();
      // The process ran during the gap (a busy loop): its CPU time is counted (how much of the gap
      // depends on what else the machine runs).
      expect(gap!.cpuMs).toBeGreaterThan(0);
      expect(window.loopDelayMs.max).toBeGreaterThanOrEqual(75);
      expect(window.gc.markCompact?.count).toBeGreaterThanOrEqual(1);
      expect(window.startEpochMs).toBeLessThanOrEqual(gap!.at);
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('does nothing without BENCH_STALL_PROBE_DIR (SIGUSR2 then ends the process as usual)', async () => {
    const env = { ...process.env };
    delete env.BENCH_STALL_PROBE_DIR;
    const child = spawn(process.execPath, ['--import', PROBE, '-e', 'console.log("up"); setInterval(() => {}, 1000)'], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    await once(child.stdout!, 'data');
    child.kill('SIGUSR2');
    const [, signal] = (await once(child, 'exit')) as [number | null, string | null];
    expect(signal).toBe('SIGUSR2');
  });
});

describe('attributeTail', () => {
  /** 10 requests due every 10 ms from t = 1000, with the given latencies. */
  function run(latencies: number[]): OpenLoopResult {
    return { startEpochMs: 1000, intervalMs: 10, samples: { latency: Float64Array.from(latencies), sendLag: new Float64Array(latencies.length) } } as unknown as OpenLoopResult;
  }
  const probe = (p: Partial<ProbeWindow>): ProbeWindow => ({ longPauses: [], gaps: [], ...p }) as ProbeWindow;

  it('puts each slow request in the first class whose event overlaps it', () => {
    // Request i is due at 1000 + 10·i. Slow ones: 1 [1010, 1040], 2 [1020, 1050] and 3 [1030, 1060]
    // overlap the GC pause [1030, 1033]; 4 [1040, 1060] and 5 [1050, 1061] the busy gap [1045, 1053];
    // 6 [1060, 1075] only the gap [1062, 1067] during which the process hardly ran; 8 [1080, 1092] nothing.
    const result = run([1, 30, 30, 30, 20, 11, 15, NaN, 12, 3]);
    const window = probe({
      longPauses: [{ kind: 'scavenge', at: 1030, ms: 3 }],
      gaps: [
        { at: 1045, ms: 8, cpuMs: 7 },
        { at: 1062, ms: 5, cpuMs: 0.5 },
      ],
    });
    expect(attributeTail(result, window, 10)).toEqual({ thresholdMs: 10, slow: 7, gcPause: 3, busyGap: 2, notRunningGap: 1, unexplained: 1 });
  });

  it('counts nothing without samples', () => {
    expect(attributeTail({ startEpochMs: 0, intervalMs: 1 } as OpenLoopResult, probe({}), 10).slow).toBe(0);
  });
});

import { execFileSync } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';

const CLOCK_TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

/** User + system CPU seconds of `pid` and every process below it (Linux /proc). */
export async function treeCpuSeconds(pid: number): Promise<number> {
  let total = 0;
  for (const p of await treePids(pid)) total += (await ticksOf(`/proc/${p}/stat`)) ?? 0;
  return total / CLOCK_TICKS;
}

/** User + system CPU seconds of `pid` alone (its children not counted). */
export async function processCpuSeconds(pid: number): Promise<number> {
  return ((await ticksOf(`/proc/${pid}/stat`)) ?? 0) / CLOCK_TICKS;
}

/**
 * User + system CPU seconds of each thread of `pid` and of every process below it, keyed
 * "pid/tid". The busiest thread's share bounds a process with one event loop (or one worker
 * thread, as nginx's): work moved to another thread no longer counts against it.
 */
export async function treeThreadCpuSeconds(pid: number): Promise<Map<string, number>> {
  const threads = new Map<string, number>();
  for (const p of await treePids(pid)) {
    let tids: string[];
    try {
      tids = await readdir(`/proc/${p}/task`);
    } catch {
      continue; // The process ended meanwhile.
    }
    for (const tid of tids) {
      const t = await ticksOf(`/proc/${p}/task/${tid}/stat`);
      if (t !== null) threads.set(`${p}/${tid}`, t / CLOCK_TICKS);
    }
  }
  return threads;
}

/** The largest increase of one thread's CPU seconds between two readings of treeThreadCpuSeconds. */
export function busiestThreadSeconds(before: Map<string, number>, after: Map<string, number>): number {
  let most = 0;
  for (const [id, t] of after) most = Math.max(most, t - (before.get(id) ?? 0));
  return most;
}

/** utime + stime of a /proc stat file, in clock ticks; null when it is gone. */
async function ticksOf(file: string): Promise<number | null> {
  try {
    const stat = await readFile(file, 'utf8');
    // Fields after the command name (which may contain spaces) start after the last ")".
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return null;
  }
}

/** `pid` and every process below it. */
async function treePids(pid: number): Promise<number[]> {
  const parents = new Map<number, number>();
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      parents.set(Number(entry), Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]));
    } catch {
      // The process ended between readdir and read: it is not part of the tree any more.
    }
  }
  const pids: number[] = [];
  for (const p of parents.keys()) {
    let q: number | undefined = p;
    while (q !== undefined && q !== 0 && q !== pid) q = parents.get(q);
    if (q === pid) pids.push(p);
  }
  return pids;
}

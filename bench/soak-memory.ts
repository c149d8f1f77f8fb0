/**
 * `npm run bench:memory`: Switchyard's memory under sustained load, sampled from inside its
 * process (RSS, V8 heap, array buffers) over IPC.
 *
 * 1. Soak: GET 1 KiB and POST 64 KiB mixed, closed loop, for --duration seconds; memory is
 *    sampled every --sample seconds and the heap trend after warm-up is fitted (MiB/min).
 * 2. Request bodies: POST bodies of 64 KiB and 1 MiB at 16 and 256 connections, each in a fresh
 *    process; peak RSS is compared with concurrency × size (what buffering bodies would need).
 *
 * Samples are taken with a full GC first (--expose-gc), so heap figures are live memory.
 *
 * Options: --duration <s> (default 60; 300 for the five-minute run), --sample <s> (default 5),
 *          --connections <n> (default 64), --body-seconds <s> (default 10), --skip-bodies
 * Writes bench/results/memory-<timestamp>.md and .json.
 */
import { execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startUpstream } from './lib/bench-upstream.js';
import { saturate } from './lib/load.js';
import { describeMachine } from './lib/machine.js';
import { switchyardTarget, type RunningTarget, type TargetContext } from './lib/targets.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    duration: { type: 'string', default: '60' },
    sample: { type: 'string', default: '5' },
    connections: { type: 'string', default: '64' },
    'body-seconds': { type: 'string', default: '10' },
    'skip-bodies': { type: 'boolean', default: false },
  },
});
const duration = Number(values.duration);
const sampleSeconds = Number(values.sample);
const connections = Number(values.connections);
const bodySeconds = Number(values['body-seconds']);

interface MemorySample {
  at: number;
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  arrayBuffers: number;
  /** After a full collection: what the process really retains. */
  liveHeap: number;
  liveArrayBuffers: number;
}

const MiB = 2 ** 20;
const mib = (b: number) => (b / MiB).toFixed(1);
const log = (line: string) => process.stderr.write(`${line}\n`);

/** Starts a Switchyard with the memory probe and collects its samples. */
async function startSampled(ctx: TargetContext): Promise<{ target: RunningTarget; samples: MemorySample[] }> {
  const target = await switchyardTarget().start(ctx);
  if (typeof target === 'string') throw new Error(target);
  const samples: MemorySample[] = [];
  target.process!.child.on('message', (m: { type?: string } & MemorySample) => {
    if (m.type === 'memory') samples.push(m);
  });
  return { target, samples };
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

async function main(): Promise<void> {
  const machine = describeMachine();
  const startedAt = new Date();
  execFileSync(process.execPath, [join(root, 'node_modules/typescript/bin/tsc'), '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' });
  const workDir = await mkdtemp(join(tmpdir(), 'switchyard-memory-'));
  const upstream = await startUpstream(root, workDir, 1, 2);
  const base = {
    root,
    upstreamPorts: upstream.ports,
    probePath: '/bench/1k',
    switchyardNodeFlags: ['--expose-gc', '--import', join(root, 'bench/lib/memory-probe.mjs')],
    switchyardIpc: true,
  };
  const post64 = Buffer.alloc(64 * 1024, 'p');
  const md: string[] = [
    `## Memory run ${startedAt.toISOString()}`,
    '',
    `Command: \`npm run bench:memory -- ${process.argv.slice(2).join(' ')}\``.replace(' -- `', '`'),
    '',
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}, load average ${machine.loadAverage} at start.`,
    '',
  ];
  const json: Record<string, unknown> = { machine, startedAt, duration, sampleSeconds, connections };
  try {
    // 1. Soak.
    process.env.BENCH_MEMORY_SAMPLE_MS = String(sampleSeconds * 1000);
    const soak = await startSampled({ ...base, workDir: join(workDir, 'soak') });
    log(`soak: ${duration} s, ${connections} connections, GET 1 KiB + POST 64 KiB`);
    const load = await saturate(
      soak.target.url,
      {
        connections,
        requests: [
          { method: 'GET', path: '/bench/1k' },
          { method: 'POST', path: '/bench/upload', headers: { 'content-type': 'application/octet-stream' }, body: post64 },
        ],
      },
      duration,
      0,
    );
    await soak.target.stop();
    const samples = soak.samples;
    const t0 = samples[0]?.at ?? 0;
    // Skip the first fifth (JIT, pools and buffers growing to their working size) for the trend.
    const steady = samples.slice(Math.floor(samples.length / 5));
    const minutes = steady.map((s) => (s.at - t0) / 60_000);
    const heapSlope = slope(minutes, steady.map((s) => s.liveHeap / MiB));
    const rssSlope = slope(minutes, steady.map((s) => s.rss / MiB));
    const first = steady[0]!;
    const last = steady[steady.length - 1]!;
    const maxRss = Math.max(...samples.map((s) => s.rss));
    log(`soak: ${load.rps.toFixed(0)} req/s; heap ${mib(first.heapUsed)} → ${mib(last.heapUsed)} MiB (${heapSlope.toFixed(2)} MiB/min), RSS ${mib(first.rss)} → ${mib(last.rss)} MiB (${rssSlope.toFixed(2)} MiB/min)`);
    md.push(
      `### Soak: ${duration} s, ${connections} connections, GET 1 KiB + POST 64 KiB alternating`,
      '',
      `${load.rps.toFixed(0)} req/s, ${load.requests} requests, ${load.errors + load.non2xx} errors. Samples every ${sampleSeconds} s; the trend leaves out the first fifth of the run (warm-up).`,
      '',
      '| | after warm-up | end | trend | peak |',
      '|---|---:|---:|---:|---:|',
      `| RSS MiB | ${mib(first.rss)} | ${mib(last.rss)} | ${rssSlope.toFixed(2)} MiB/min | ${mib(maxRss)} |`,
      `| live heap MiB (after GC) | ${mib(first.liveHeap)} | ${mib(last.liveHeap)} | ${heapSlope.toFixed(2)} MiB/min | ${mib(Math.max(...samples.map((s) => s.liveHeap)))} |`,
      `| live array buffers MiB (after GC) | ${mib(first.liveArrayBuffers)} | ${mib(last.liveArrayBuffers)} | — | ${mib(Math.max(...samples.map((s) => s.liveArrayBuffers)))} |`,
      '',
    );
    json.soak = { load, heapSlopeMiBPerMin: heapSlope, rssSlopeMiBPerMin: rssSlope, samples };

    // 2. Request bodies: peak memory vs concurrency × size.
    if (!values['skip-bodies']) {
      process.env.BENCH_MEMORY_SAMPLE_MS = '500';
      md.push(
        `### POST bodies: peak memory vs concurrency × body size (${bodySeconds} s each, fresh process)`,
        '',
        '| body | connections | concurrency × size MiB | req/s | peak RSS MiB | peak live heap MiB | peak live array buffers MiB |',
        '|---:|---:|---:|---:|---:|---:|---:|',
      );
      const bodies: unknown[] = [];
      for (const size of [64 * 1024, 1024 * 1024]) {
        for (const conns of [16, 256]) {
          const run = await startSampled({ ...base, workDir: join(workDir, `body-${size}-${conns}`) });
          const body = Buffer.alloc(size, 'b');
          const r = await saturate(run.target.url, { connections: conns, requests: [{ method: 'POST', path: '/bench/upload', headers: { 'content-type': 'application/octet-stream' }, body }] }, bodySeconds, 0);
          await run.target.stop();
          const peak = (k: keyof MemorySample) => Math.max(...run.samples.map((s) => s[k]));
          log(`bodies: ${size / 1024} KiB × ${conns}: ${r.rps.toFixed(0)} req/s, peak RSS ${mib(peak('rss'))} MiB`);
          md.push(`| ${size / 1024} KiB | ${conns} | ${mib(size * conns)} | ${r.rps.toFixed(0)} | ${mib(peak('rss'))} | ${mib(peak('liveHeap'))} | ${mib(peak('liveArrayBuffers'))} |`);
          bodies.push({ size, connections: conns, load: r, peakRss: peak('rss'), peakLiveHeap: peak('liveHeap'), peakLiveArrayBuffers: peak('liveArrayBuffers') });
        }
      }
      md.push('');
      json.bodies = bodies;
    }
  } finally {
    await upstream.stop();
    await rm(workDir, { recursive: true, force: true });
  }
  const resultsDir = join(root, 'bench/results');
  await mkdir(resultsDir, { recursive: true });
  const stamp = `memory-${startedAt.toISOString().replace(/[:.]/g, '-')}`;
  const markdown = `${md.join('\n')}\n`;
  await writeFile(join(resultsDir, `${stamp}.md`), markdown);
  await writeFile(join(resultsDir, `${stamp}.json`), `${JSON.stringify(json, null, 2)}\n`);
  process.stdout.write(markdown);
  log(`bench:memory: results in bench/results/${stamp}.md and .json`);
}

main().catch((err: unknown) => {
  process.stderr.write(`bench:memory: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

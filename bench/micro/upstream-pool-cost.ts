/**
 * CPU per request of the upstream pools alone: this process dispatches GET 1 KiB requests
 * through an Http1Pool, an Http2Pool (node:http2) or an Http2CodecPool (Switchyard's HTTP/2 codec) (as the exchanges do, with a handler that only counts)
 * to the bench upstream in its own processes, and reports this process's user + system CPU per
 * request. What it isolates is the client side of one proxied request: what an h2c upstream
 * costs against an HTTP/1.1 one, without the listener, routing or the access log.
 *
 * Usage: npx tsx bench/micro/upstream-pool-cost.ts [--requests 40000] [--concurrency 64] [--rounds 3]
 * Rounds alternate the two pools; medians are printed.
 */
import { parseArgs } from 'node:util';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import type { Dispatcher } from 'undici';
import { Http1Pool } from '../../src/upstream/http1-pool.js';
import { Http2CodecPool } from '../../src/upstream/http2-codec-pool.js';
import { Http2Pool } from '../../src/upstream/http2-pool.js';
import { startUpstream, startUpstreamScript } from '../lib/bench-upstream.js';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '40000' }, concurrency: { type: 'string', default: '64' }, rounds: { type: 'string', default: '3' } } });
const total = Number(values.requests);
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

type Pool = Pick<Dispatcher, 'dispatch'> & { close(): Promise<void> };

/** Sends `n` requests, `concurrency` at a time; resolves with the CPU µs per request. */
function drive(pool: Pool, n: number): Promise<number> {
  return new Promise((done, fail) => {
    let sent = 0;
    let finished = 0;
    const cpu = process.cpuUsage();
    const options: Dispatcher.DispatchOptions = { method: 'GET', path: '/bench/1k', headers: ['host', 'bench.test', 'user-agent', 'pool-cost'], headersTimeout: 10_000, bodyTimeout: 10_000 };
    const next = (): void => {
      if (sent >= n) return;
      sent++;
      pool.dispatch(options, handler);
    };
    const handler: Dispatcher.DispatchHandler = {
      onConnect() {},
      onHeaders: () => true,
      onData: () => true,
      onComplete() {
        finished++;
        if (finished === n) {
          const used = process.cpuUsage(cpu);
          done((used.user + used.system) / n);
        } else next();
      },
      onError(err) {
        fail(err);
      },
    };
    for (let i = 0; i < concurrency; i++) next();
  });
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

async function main(): Promise<void> {
  const workDir = await mkdtemp(join(tmpdir(), 'switchyard-pool-cost-'));
  const h1 = await startUpstream(root, workDir, 1, 1);
  const h2 = await startUpstreamScript(join(root, 'bench/h2-upstream.ts'), ['--workers', '1'], join(workDir, 'h2-upstream.log'));
  const pools: Record<string, () => Pool> = {
    'http1 (Http1Pool)': () => new Http1Pool(`http://127.0.0.1:${h1.ports[0]}`, '127.0.0.1', h1.ports[0]!, { connections: 128, connectTimeout: 5_000, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 600_000, tls: null }),
    'h2c (Http2Pool)': () => new Http2Pool(`http://127.0.0.1:${h2.ports[0]}`, { connections: 128, connectTimeout: 5_000, keepAliveTimeout: 60_000, maxConcurrentStreams: 100, tls: null }),
    'h2c (Http2CodecPool)': () => new Http2CodecPool(`http://127.0.0.1:${h2.ports[0]}`, { connections: 128, connectTimeout: 5_000, keepAliveTimeout: 60_000, maxConcurrentStreams: 100, tls: null }),
  };
  const figures = new Map<string, number[]>(Object.keys(pools).map((k) => [k, []]));
  try {
    for (let round = 0; round < rounds; round++) {
      for (const [name, make] of Object.entries(pools)) {
        const pool = make();
        await drive(pool, Math.min(5_000, total));
        figures.get(name)!.push(await drive(pool, total));
        await pool.close();
      }
    }
  } finally {
    await h1.stop();
    await h2.stop();
    await rm(workDir, { recursive: true, force: true });
  }
  const base = median(figures.get('http1 (Http1Pool)')!);
  for (const [name, xs] of figures) {
    process.stdout.write(`${name}: ${median(xs).toFixed(1)} µs CPU per request (rounds ${xs.map((x) => x.toFixed(1)).join(', ')}), ${(median(xs) / base).toFixed(2)}x http1\n`);
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

/**
 * `npm run bench:rate-limit`: CPU per request of a route rate limit kept in Redis
 * (rateLimit.store: redis) against the same limit kept in memory, in one run, as a ratio.
 * The router's process tree is measured from /proc (user + system) as in bench:cpu, and so is
 * the redis-server's CPU over the same requests (what the fleet pays on the Redis host).
 *
 * Scenarios (each: a router with the limit in memory, one with it in Redis, plus one with no
 * limit for reference):
 *   under-limit  requests 100000/s by route: every request admitted; Redis is asked once per
 *                batch (requests × rateLimitRedis.reservation / per tokens)
 *   distinct-keys  requests 10/s by header, every request with a key never seen: the worst
 *                case, one Redis round trip per request (a key's first request waits for it)
 *   over-limit   requests 2000/s by route, load far above: requests refused (429), locally
 *                until Redis's "empty until" time passes. The closed-loop load runs at the
 *                speed of each target, so the admitted share differs between targets: compare
 *                this one with care (the table gives the 2xx / 429 split)
 *
 * Options: --requests <n> (default 30000) --warmup <n> (default 5000) --connections <n> (32)
 *          --rounds <n> (default 1; targets interleaved, median reported)
 * Needs redis-server on the PATH. Writes bench/results/rate-limit-<timestamp>.md and .json.
 */
import { spawn, execFileSync } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { startUpstream } from './lib/bench-upstream.js';
import { describeMachine } from './lib/machine.js';
import { median } from './lib/median.js';
import { treeCpuSeconds } from './lib/process-cpu.js';
import { switchyardTarget, type TargetSpec } from './lib/targets.js';
import { freePort } from '../test/support/free-port.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '30000' },
    warmup: { type: 'string', default: '5000' },
    connections: { type: 'string', default: '32' },
    rounds: { type: 'string', default: '1' },
  },
});
const whole = (name: string, text: string): number => {
  const v = Number(text);
  if (!Number.isInteger(v) || v <= 0) {
    process.stderr.write(`bench:rate-limit: --${name} must be a whole number > 0, got "${text}"\n`);
    process.exit(2);
  }
  return v;
};
const requests = whole('requests', values.requests);
const warmup = whole('warmup', values.warmup);
const connections = whole('connections', values.connections);
const rounds = whole('rounds', values.rounds);

if (spawnSyncOk('redis-server') === false) {
  process.stderr.write('bench:rate-limit: redis-server not found on the PATH (Debian package redis-server)\n');
  process.exit(2);
}

function spawnSyncOk(command: string): boolean {
  try {
    execFileSync(command, ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

const SCENARIOS: Record<string, { limit: Record<string, unknown>; distinctKeys?: true }> = {
  'under-limit': { limit: { requests: 100_000, per: '1s', by: 'route' } },
  'distinct-keys': { limit: { requests: 10, per: '1s', by: 'header', header: 'x-key' }, distinctKeys: true },
  'over-limit': { limit: { requests: 2_000, per: '1s', by: 'route' } },
};

/** The next never-sent x-key of the distinct-keys scenario. */
let nextKey = 0;

const workDir = await mkdtemp(join(tmpdir(), 'switchyard-rl-bench-'));
const redisPort = await freePort();
const redis = spawn('redis-server', ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', workDir], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 300));
execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
const upstream = await startUpstream(root, workDir, 1, 2);
const machine = describeMachine();
const startedAt = new Date();
const load1 = () => Math.round(loadavg()[0]! * 100) / 100;
const command = `npm run bench:rate-limit -- ${process.argv.slice(2).join(' ')}`.trim();
const lines = [
  `# CPU per request of a Redis-backed rate limit (${startedAt.toISOString()})`,
  '',
  `Command: \`${command}\``,
  '',
  `Machine: ${machine.cpuModel}, ${machine.cores} cores, Node ${process.version}; load average ${machine.loadAverage} at start. ${requests} measured requests per target after ${warmup} unmeasured, ${connections} connections, redis-server ${execFileSync('redis-server', ['--version'], { encoding: 'utf8' }).split(' ')[2]?.replace('v=', '')} on 127.0.0.1, median of ${rounds} round(s).`,
  '',
];
const json: Record<string, unknown> = {};
try {
  for (const [scenario, { limit, distinctKeys }] of Object.entries(SCENARIOS)) {
    const targets: TargetSpec[] = [
      switchyardTarget({ name: 'no limit' }),
      switchyardTarget({ name: 'memory', routes: [{ name: 'all', path: '/', service: 'bench', extra: { rateLimit: { ...limit, store: 'memory' } } }] }),
      switchyardTarget({
        name: 'redis',
        routes: [{ name: 'all', path: '/', service: 'bench', extra: { rateLimit: { ...limit, store: 'redis' } } }],
        configFragment: { rateLimitRedis: { address: `127.0.0.1:${redisPort}`, commandTimeout: '1s' } },
      }),
    ];
    const runs = new Map<string, { router: number; redis: number; ok: number; limited: number; load: number }[]>();
    for (let round = 0; round < rounds; round++) {
      for (let i = 0; i < targets.length; i++) {
        const spec = targets[(i + round) % targets.length]!;
        // The probe must answer 200: probe a path the limit lets through at start (the burst).
        const started = await spec.start({ root, workDir, upstreamPorts: upstream.ports, probePath: '/bench/1k', switchyardNodeFlags: [] });
        if (typeof started === 'string') throw new Error(`${spec.name}: ${started}`);
        try {
          const pid = started.process!.child.pid!;
          await run(started.url, warmup, distinctKeys === true);
          await new Promise((r) => setTimeout(r, 1_100)); // the limit's burst back, as at the start
          const before = await treeCpuSeconds(pid);
          const redisBefore = await treeCpuSeconds(redis.pid!);
          const r = await run(started.url, requests, distinctKeys === true);
          const router = (await treeCpuSeconds(pid)) - before;
          const redisCpu = (await treeCpuSeconds(redis.pid!)) - redisBefore;
          const entry = { router: (router * 1e6) / requests, redis: (redisCpu * 1e6) / requests, ok: r.ok, limited: r.limited, load: load1() };
          (runs.get(spec.name) ?? runs.set(spec.name, []).get(spec.name)!).push(entry);
          process.stderr.write(`[${scenario}] ${spec.name}: ${entry.router.toFixed(1)} µs router CPU per request, redis ${entry.redis.toFixed(1)} µs; ${r.ok} 2xx, ${r.limited} 429; load ${entry.load}\n`);
        } finally {
          await started.stop();
        }
      }
    }
    const med = (name: string, f: 'router' | 'redis') => median(runs.get(name)!.map((x) => x[f]));
    lines.push(
      `## ${scenario}: rateLimit ${JSON.stringify(limit)}`,
      '',
      '| target | router µs CPU per request (median) | ÷ memory | redis-server µs per request | router + redis ÷ memory | 2xx / 429 (last round) | load average after |',
      '|---|---:|---:|---:|---:|---|---|',
    );
    for (const name of ['no limit', 'memory', 'redis']) {
      const last = runs.get(name)!.at(-1)!;
      lines.push(
        `| ${name} | ${med(name, 'router').toFixed(1)} | ${(med(name, 'router') / med('memory', 'router')).toFixed(2)}× | ${med(name, 'redis').toFixed(2)} | ${((med(name, 'router') + med(name, 'redis')) / med('memory', 'router')).toFixed(2)}× | ${last.ok} / ${last.limited} | ${runs.get(name)!.map((x) => x.load).join(', ')} |`,
      );
    }
    lines.push('');
    json[scenario] = { limit, runs: Object.fromEntries(runs) };
  }
} finally {
  await upstream.stop();
  redis.kill('SIGTERM');
  await rm(workDir, { recursive: true, force: true });
}
lines.push(`Load average (1 min) at the end: ${load1()}. The redis-server column is its CPU over the measured requests divided by them (it serves only this router here).`, '');
const resultsDir = join(root, 'bench/results');
await mkdir(resultsDir, { recursive: true });
const stamp = `rate-limit-${startedAt.toISOString().replace(/[:.]/g, '-')}`;
await writeFile(join(resultsDir, `${stamp}.md`), lines.join('\n'));
await writeFile(join(resultsDir, `${stamp}.json`), `${JSON.stringify({ machine, command, startedAt, options: { requests, warmup, connections, rounds }, results: json }, null, 2)}\n`);
process.stdout.write(`${lines.join('\n')}\n`);

/** `amount` GETs; with `distinctKeys`, each with an x-key header never sent before (a new bucket each). */
function run(url: string, amount: number, distinctKeys: boolean): Promise<{ ok: number; limited: number }> {
  const requests = distinctKeys ? [{ method: 'GET' as const, path: '/bench/1k', setupRequest: (req: Record<string, unknown>) => ({ ...req, headers: { 'x-key': `k${nextKey++}` } }) }] : undefined;
  return new Promise((done, reject) => {
    autocannon({ url: `${url}/bench/1k`, connections, amount, ...(requests ? { requests } : {}) }).then((r) => done({ ok: r['2xx'], limited: r.non2xx }), reject);
  });
}

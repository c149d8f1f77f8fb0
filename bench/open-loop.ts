/**
 * `npm run bench:open-loop`: the open-loop load generator (bench/lib/open-loop.ts) on its own,
 * against any loopback HTTP/1.1 server. Requests fall due at a fixed rate and latency counts
 * from when each was due, so a server's stalls show in the tail.
 *
 *   npm run bench:open-loop -- --url http://127.0.0.1:8080 --rate 3000 --duration 20
 *
 * Without --url it starts the bench upstream (bench/upstream.ts) and loads it directly: the way
 * to see the generator's own cost (its CPU and send lag) at a rate.
 *
 * Options:
 *   --url <http://host:port>  target (default: a bench upstream started here)
 *   --path <path>             request path (default /bench/1k)
 *   --method <m>              GET (default) or POST
 *   --body-bytes <n>          POST a body of n bytes
 *   --rate <n>                requests per second (required)
 *   --duration <s>            seconds of schedule (default 10)
 *   --requests <n>            at most n requests
 *   --warmup <s>              unmeasured seconds at the same rate first (default 2)
 *   --connections <n>         keep-alive connections (default 64)
 *   --late-ms <ms>            a request sent this late or later counts as late (default 1)
 *   --json                    print the result as JSON
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { startUpstream, type RunningUpstream } from './lib/bench-upstream.js';
import { runOpenLoop, type OpenLoopResult, type Percentiles } from './lib/open-loop.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    url: { type: 'string' },
    path: { type: 'string', default: '/bench/1k' },
    method: { type: 'string', default: 'GET' },
    'body-bytes': { type: 'string' },
    rate: { type: 'string' },
    duration: { type: 'string', default: '10' },
    requests: { type: 'string' },
    warmup: { type: 'string', default: '2' },
    connections: { type: 'string', default: '64' },
    'late-ms': { type: 'string', default: '1' },
    json: { type: 'boolean', default: false },
  },
});

function positive(name: string, text: string | undefined, { integer = false, zero = false } = {}): number {
  const v = Number(text);
  if (text === undefined || !Number.isFinite(v) || v < 0 || (!zero && v === 0) || (integer && !Number.isInteger(v))) {
    process.stderr.write(`bench:open-loop: --${name} must be a ${integer ? 'whole' : ''} number ${zero ? '≥ 0' : '> 0'}, got ${text ?? 'nothing'}\n`);
    process.exit(2);
  }
  return v;
}

const rate = positive('rate', values.rate);
const duration = positive('duration', values.duration);
const warmup = positive('warmup', values.warmup, { zero: true });
const connections = positive('connections', values.connections, { integer: true });
const lateMs = positive('late-ms', values['late-ms']);
const maxRequests = values.requests === undefined ? undefined : positive('requests', values.requests, { integer: true });
const bodyBytes = values['body-bytes'] === undefined ? undefined : positive('body-bytes', values['body-bytes'], { integer: true, zero: true });
const request = {
  method: values.method.toUpperCase(),
  path: values.path,
  ...(bodyBytes === undefined ? {} : { body: Buffer.alloc(bodyBytes, 'p'), headers: { 'content-type': 'application/octet-stream' } }),
};

export function formatPercentiles(p: Percentiles): string {
  const f = (v: number) => (Number.isFinite(v) ? v.toFixed(3) : '—');
  return `p50 ${f(p.p50)}  p90 ${f(p.p90)}  p99 ${f(p.p99)}  p99.9 ${f(p.p999)}  max ${f(p.max)}  (mean ${f(p.mean)})`;
}

function describe(r: OpenLoopResult): string {
  return [
    `offered ${r.rate} req/s, ${r.scheduled} requests; achieved ${r.achievedRps.toFixed(0)} req/s; ${r.ok} 2xx, ${r.non2xx} other, ${r.errors} errors (${r.timeouts} timeouts)`,
    `latency from due, ms:   ${formatPercentiles(r.latency)}`,
    `send lag (due → sent):  ${formatPercentiles(r.sendLag)}`,
    `late (sent ≥ ${lateMs} ms after due): ${r.late}; waited for a connection: ${r.waitedForConnection}; connections opened: ${r.connectionsOpened}`,
    `generator CPU: ${r.generatorCpu.percentOfCore.toFixed(1)} % of a core, ${r.generatorCpu.microsPerRequest.toFixed(1)} µs per request`,
    ...(r.errorSamples.length > 0 ? [`errors: ${r.errorSamples.join('; ')}`] : []),
  ].join('\n');
}

let upstream: RunningUpstream | null = null;
let workDir: string | null = null;
try {
  let url = values.url;
  if (url === undefined) {
    workDir = await mkdtemp(join(tmpdir(), 'switchyard-open-loop-'));
    upstream = await startUpstream(root, workDir, 1, 2);
    url = `http://127.0.0.1:${upstream.ports[0]}`;
    process.stderr.write(`bench:open-loop: no --url, loading the bench upstream at ${url}\n`);
  }
  const base = { url, request, rate, connections, lateMs };
  if (warmup > 0) await runOpenLoop({ ...base, durationSeconds: warmup });
  const result = await runOpenLoop({ ...base, durationSeconds: duration, ...(maxRequests === undefined ? {} : { maxRequests }) });
  process.stdout.write(values.json ? `${JSON.stringify(result, null, 2)}\n` : `${describe(result)}\n`);
} finally {
  await upstream?.stop();
  if (workDir !== null) await rm(workDir, { recursive: true, force: true });
}

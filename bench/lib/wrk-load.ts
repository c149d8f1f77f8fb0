import { execFile } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LoadResult, LoadShape } from './load.js';

/**
 * Closed-loop load from wrk (Debian's `wrk`, C, one thread by default), for when autocannon
 * (JavaScript, one event loop) would be the ceiling: nginx and HAProxy answer GET 1 KiB faster
 * than autocannon can ask on this machine, so their req/s and the ratios to them would be
 * autocannon's. The request list cycles per thread, as autocannon's does per connection; the
 * figures come from wrk's Lua `done` hook (exact counts, latency percentiles in µs) rather
 * than its human-readable report.
 */

/** The wrk binary, or null when it is not installed. */
export async function findWrk(): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', 'command -v wrk'], (err, stdout) => resolve(err ? null : stdout.trim() || null));
  });
}

/** Lua string literal for any bytes (decimal escapes, so no byte is interpreted). */
function luaString(value: string): string {
  let out = '"';
  for (const byte of Buffer.from(value, 'latin1')) {
    out += byte >= 0x20 && byte < 0x7f && byte !== 0x22 && byte !== 0x5c ? String.fromCharCode(byte) : `\\${byte}`;
  }
  return `${out}"`;
}

/**
 * The Lua script: the requests pre-formatted once, cycled, and one machine-readable result line.
 * Host is written out (from the URL, unless a request sets its own): the script runs before wrk
 * fills in its default headers, so wrk.format would otherwise send none.
 */
async function writeScript(dir: string, url: string, shape: LoadShape): Promise<string> {
  const lines = ['local reqs = {}'];
  const host = new URL(url).host;
  for (const [i, r] of shape.requests.entries()) {
    const given = (r.headers ?? {}) as Record<string, string>;
    const withHost = Object.keys(given).some((k) => k.toLowerCase() === 'host') ? given : { Host: host, ...given };
    const headers = Object.entries(withHost)
      .map(([k, v]) => `[${luaString(k)}] = ${luaString(String(v))}`)
      .join(', ');
    let body = 'nil';
    if (r.body !== undefined) {
      const file = join(dir, `body-${i}`);
      await writeFile(file, r.body as string | Buffer);
      lines.push(`local f${i} = io.open(${luaString(file)}, "rb"); local body${i} = f${i}:read("*a"); f${i}:close()`);
      body = `body${i}`;
    }
    lines.push(`reqs[${i + 1}] = wrk.format(${luaString(r.method ?? 'GET')}, ${luaString(r.path ?? '/')}, { ${headers} }, ${body})`);
  }
  lines.push(
    'local n = 0',
    'request = function() n = n % #reqs + 1; return reqs[n] end',
    'done = function(summary, latency, requests)',
    '  local e = summary.errors',
    '  io.write(string.format("WRK_RESULT %d %d %d %d %.1f %.1f\\n", summary.requests, summary.duration, e.connect + e.read + e.write + e.timeout, e.status, latency:percentile(50), latency:percentile(99)))',
    'end',
  );
  const script = join(dir, 'requests.lua');
  await writeFile(script, `${lines.join('\n')}\n`);
  return script;
}

function runWrk(wrk: string, url: string, script: string, connections: number, threads: number, seconds: number): Promise<string> {
  const args = ['-t', String(threads), '-c', String(connections), '-d', `${seconds}s`, '--timeout', '10s', '-s', script, url];
  return new Promise((resolve, reject) => {
    execFile(wrk, args, { maxBuffer: 1 << 20 }, (err, stdout, stderr) => (err ? reject(new Error(`wrk ${args.join(' ')} failed: ${err.message}\n${stderr}`)) : resolve(stdout)));
  });
}

/**
 * Closed loop: `connections` connections each send the next request as soon as a response ends,
 * for `seconds` after `warmupSeconds` unmeasured. wrk counts 4xx/5xx as status errors; non2xx
 * here is that count (a 3xx is not an error to wrk and is not expected from the bench upstream).
 */
export async function saturateWrk(wrk: string, url: string, shape: LoadShape, seconds: number, warmupSeconds: number, threads = 1): Promise<LoadResult> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-wrk-'));
  try {
    const script = await writeScript(dir, url, shape);
    if (warmupSeconds > 0) await runWrk(wrk, url, script, shape.connections, threads, warmupSeconds);
    const out = await runWrk(wrk, url, script, shape.connections, threads, seconds);
    const m = /WRK_RESULT (\d+) (\d+) (\d+) (\d+) ([\d.]+) ([\d.]+)/.exec(out);
    if (m === null) throw new Error(`wrk printed no result line (the Lua done hook did not run):\n${out}`);
    const requests = Number(m[1]);
    const durationS = Number(m[2]) / 1e6;
    const non2xx = Number(m[4]);
    return { rps: (requests - non2xx) / durationS, p50: Number(m[5]) / 1000, p99: Number(m[6]) / 1000, errors: Number(m[3]), non2xx, requests: requests - non2xx };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

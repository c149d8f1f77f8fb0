import { execFile } from 'node:child_process';
import { readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { LoadResult } from './load.js';
import { treeCpuSeconds } from './process-cpu.js';

/** What one h2load run sends (h2load from Debian's nghttp2-client). */
export interface H2loadShape {
  /** Path requested on the target. */
  path: string;
  /** Request body file: h2load then sends POST. */
  bodyFile?: string;
  /** Extra request headers ("name: value"). */
  headers: readonly string[];
  /** Connections (h2load -c). */
  connections: number;
  /** Concurrent streams per connection (h2load -m). */
  streams: number;
}

/** The summary h2load prints at the end of a run. */
export interface H2loadSummary {
  /** h2load's own figure: requests done per second of the measured window. */
  rps: number;
  total: number;
  done: number;
  succeeded: number;
  failed: number;
  errored: number;
  timeout: number;
  status: { '2xx': number; '3xx': number; '4xx': number; '5xx': number };
}

function field(text: string, pattern: RegExp, what: string): RegExpExecArray {
  const m = pattern.exec(text);
  if (!m) throw new Error(`h2load output has no ${what} line (expected to match ${pattern}); is this h2load from nghttp2 1.40 or newer?\n${text.slice(-2000)}`);
  return m;
}

/** Reads the closing summary of h2load's stdout; throws naming the missing line. */
export function parseH2loadSummary(stdout: string): H2loadSummary {
  const finished = field(stdout, /^finished in [\d.]+m?s, ([\d.]+) req\/s/m, '"finished in …, … req/s"');
  const requests = field(
    stdout,
    /^requests: (\d+) total, (\d+) started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored, (\d+) timeout/m,
    '"requests: … total, … started, … done, … succeeded, … failed, … errored, … timeout"',
  );
  const status = field(stdout, /^status codes: (\d+) 2xx, (\d+) 3xx, (\d+) 4xx, (\d+) 5xx/m, '"status codes: … 2xx, … 3xx, … 4xx, … 5xx"');
  const n = (m: RegExpExecArray, i: number) => Number(m[i]);
  return {
    rps: Number(finished[1]),
    total: n(requests, 1),
    done: n(requests, 3),
    succeeded: n(requests, 4),
    failed: n(requests, 5),
    errored: n(requests, 6),
    timeout: n(requests, 7),
    status: { '2xx': n(status, 1), '3xx': n(status, 2), '4xx': n(status, 3), '5xx': n(status, 4) },
  };
}

/** Per-request figures from h2load's --log-file: one row per finished request. */
export interface H2loadLogSummary {
  /**
   * Rows with a 2xx status, and rows with status 0: h2load logs no status for some streams
   * (seen with request bodies, at the start of the measured window) that its summary counts as
   * succeeded.
   */
  ok: number;
  /** Rows with another status. */
  non2xx: number;
  /** Rows with status -1 (the stream failed). */
  failed: number;
  /** Response-time percentiles of the 2xx rows, in ms (NaN when there are none). */
  p50: number;
  p99: number;
}

/**
 * Reads h2load's --log-file: tab-separated rows of start time (µs since the epoch), status
 * code (-1 for a failed stream) and µs until the end of the response. Throws on a row that is
 * not three numbers, naming the line.
 */
export function summariseH2loadLog(text: string): H2loadLogSummary {
  const lines = text.split('\n');
  const times = new Float64Array(lines.length);
  let ok = 0;
  let non2xx = 0;
  let failed = 0;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    if (line === '') continue;
    const cols = line.split('\t');
    const status = Number(cols[1]);
    const micros = Number(cols[2]);
    if (cols.length < 3 || !Number.isInteger(status) || !Number.isFinite(micros) || micros < 0) {
      throw new Error(`h2load log line ${i + 1} is not "<start µs>\\t<status>\\t<µs>": ${JSON.stringify(line.slice(0, 200))}`);
    }
    if (status === -1) failed++;
    else if (status === 0 || (status >= 200 && status < 300)) times[ok++] = micros / 1000;
    else non2xx++;
  }
  const sorted = times.subarray(0, ok).sort();
  const pct = (p: number) => (ok === 0 ? NaN : sorted[Math.min(ok - 1, Math.floor((p / 100) * ok))]!);
  return { ok, non2xx, failed, p50: pct(50), p99: pct(99) };
}

/** The h2load binary, or null when nghttp2-client is not installed. */
export async function findH2load(): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('sh', ['-c', 'command -v h2load'], (err, stdout) => resolve(err ? null : stdout.trim() || null));
  });
}

/**
 * The argument list of one h2load run (h2c with prior knowledge for http:// URLs, ALPN h2 for
 * https://), writing per-request rows to `logFile` when given.
 */
export function h2loadArgs(url: string, shape: H2loadShape, seconds: number, logFile: string | null): string[] {
  const args = ['-c', String(shape.connections), '-m', String(shape.streams), '-t', '1', '-D', String(seconds)];
  if (logFile !== null) args.push('--log-file', logFile);
  if (shape.bodyFile !== undefined) args.push('-d', shape.bodyFile);
  for (const h of shape.headers) args.push('-H', h);
  args.push(url + shape.path);
  return args;
}

function runH2load(binary: string, args: string[], seconds: number): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    execFile(binary, args, { maxBuffer: 16 * 1024 * 1024, timeout: (seconds + 60) * 1000 }, (err, out, errText) => {
      if (err) reject(new Error(`h2load ${args.join(' ')} failed: ${err.message}\n${errText}${out.slice(-2000)}`));
      else resolve(out);
    });
  });
}

/** A measured h2load run, with the CPU the target's process tree spent per 2xx response. */
export interface H2LoadResult extends LoadResult {
  /** µs of CPU (user + system) per 2xx response; null when the target has no process of its own. */
  cpuMicrosPerRequest: number | null;
}

/**
 * Closed loop with h2load: `connections` × `streams` requests in flight, each stream sending
 * the next request as soon as its response ends, for `seconds`, after an unmeasured run of
 * `warmupSeconds` on connections of its own. Requests/s counts the 2xx responses in the
 * per-request log over the measured window; percentiles come from the same log (h2load prints
 * only min/mean/max itself). With `cpuPid`, that process tree's CPU time over the measured run
 * is divided by the 2xx responses.
 */
export async function saturateH2(
  binary: string,
  url: string,
  shape: H2loadShape,
  seconds: number,
  warmupSeconds: number,
  workDir: string,
  cpuPid?: number,
): Promise<H2LoadResult> {
  if (warmupSeconds > 0) parseH2loadSummary(await runH2load(binary, h2loadArgs(url, shape, warmupSeconds, null), warmupSeconds));
  const logFile = join(workDir, `h2load-${process.pid}-${Date.now()}.tsv`);
  const cpuBefore = cpuPid === undefined ? 0 : await treeCpuSeconds(cpuPid);
  const stdout = await runH2load(binary, h2loadArgs(url, shape, seconds, logFile), seconds);
  const cpuAfter = cpuPid === undefined ? 0 : await treeCpuSeconds(cpuPid);
  try {
    const summary = parseH2loadSummary(stdout);
    const log = summariseH2loadLog(await readFile(logFile, 'utf8'));
    return {
      rps: log.ok / seconds,
      p50: log.p50,
      p99: log.p99,
      // Streams that ended without a response (reset, protocol error) and timeouts. h2load's
      // "failed" also counts 4xx/5xx, which are non2xx here.
      errors: Math.max(summary.errored + summary.timeout, log.failed),
      non2xx: log.non2xx,
      requests: log.ok,
      cpuMicrosPerRequest: cpuPid === undefined || log.ok === 0 ? null : ((cpuAfter - cpuBefore) * 1e6) / log.ok,
    };
  } finally {
    await rm(logFile, { force: true });
  }
}

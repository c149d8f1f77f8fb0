/**
 * CPU per access-log line, forming and writing included: the process's whole CPU time (all
 * threads, so the thread-pool writes count) for a number of request lines written to a file the
 * way the router writes them, yielding to the event loop every few lines as a busy router does.
 *
 *   --destination log-destination  the router's own (default)
 *   --destination sonic-boom       pino's SonicBoom, as the router used before (for comparison)
 *   --destination null             lines formed, nothing written
 *   --rate N                       at most N lines a second (0: as fast as they are formed), so
 *                                  that chunks fill and are written as on a router at that rate
 *
 * Prints the whole process's CPU and the event loop thread's own (from /proc, Linux only): the
 * difference is the thread pool's writes.
 *
 * Usage: npx tsx bench/micro/access-log-cost.ts [--lines 300000] [--batch 16] [--file /tmp/f] [--destination d] [--rate N]
 */
import { randomUUID } from 'node:crypto';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { AccessLog } from '../../src/observability/access-log.js';
import type { RequestLogRecord } from '../../src/observability/access-log-record.js';
import { LogDestination } from '../../src/observability/log-destination.js';
import { createProcessLog } from '../../src/observability/logger.js';

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '300000' },
    batch: { type: 'string', default: '16' },
    file: { type: 'string', default: '/tmp/switchyard-access-log-cost.log' },
    destination: { type: 'string', default: 'log-destination' },
    rate: { type: 'string', default: '0' },
  },
});
const lines = Number(values.lines);
const batch = Number(values.batch);
const rate = Number(values.rate);
const fd = openSync(values.file!, 'w');

interface Destination {
  write(chunk: string | Buffer): unknown;
  flushSync(): void;
  /** Calls back once what was written so far is written (a write already under way included). */
  flush?(cb: (err?: Error) => void): void;
}
function destinationOf(kind: string): Destination {
  if (kind === 'log-destination') return new LogDestination(fd, 64 * 1024 * 1024);
  if (kind === 'sonic-boom') return pino.destination({ dest: fd, sync: false, minLength: 0, maxLength: 64 * 1024 * 1024 });
  if (kind === 'null') return { write: () => true, flushSync: () => undefined };
  throw new Error(`--destination: ${kind} is not one of log-destination, sonic-boom, null`);
}
const destination = destinationOf(values.destination!);
const log = new AccessLog(createProcessLog({ level: 'warn', destination }), { component: 'access' });

/** CPU seconds of the event loop's thread (utime + stime of the main task, in clock ticks of 10 ms). */
function eventLoopCpuMs(): number {
  const fields = readFileSync(`/proc/self/task/${process.pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}
const ids = Array.from({ length: 1024 }, () => randomUUID());
const paths = ['/', '/api/v1/users/42', '/static/app.js?v=3', '/health'];

/** One request's record, changed for each line as an exchange's would differ. */
const record: { -readonly [K in keyof RequestLogRecord]: RequestLogRecord[K] } = {
  requestId: '',
  traceId: undefined,
  method: 'GET',
  host: '127.0.0.1:8080',
  target: '/',
  status: 200,
  bytesIn: 0,
  bytesOut: 1024,
  durationMs: 0,
  routeName: 'all',
  serviceName: 'bench',
  upstreamAddress: '127.0.0.1:9001',
  upstreamStatus: 200,
  upstreamMs: 0,
  retries: 0,
  errorCode: undefined,
  upstreamError: undefined,
  clientAddress: '127.0.0.1',
  userAgent: 'Mozilla/5.0 (X11; Linux x86_64) Gecko/20100101 Firefox/120.0',
  httpProtocol: 'HTTP/1.1',
  tlsVersion: undefined,
};

function run(n: number): void {
  for (let i = 0; i < n; i++) {
    record.requestId = ids[i & 1023]!;
    record.target = paths[i & 3];
    record.durationMs = 0.4 + (i % 997) / 1000;
    record.upstreamMs = 0.2 + (i % 499) / 1000;
    log.request(record);
  }
}

run(20000); // warm-up (JIT)
log.flush();
await new Promise((r) => setTimeout(r, 200));
destination.flushSync();
const cpu0 = process.cpuUsage();
const loop0 = eventLoopCpuMs();
const t0 = performance.now();
let done = 0;
await new Promise<void>((resolve) => {
  const step = (): void => {
    run(batch);
    done += batch;
    if (done >= lines) resolve();
    else if (rate > 0) setTimeout(step, Math.max(0, t0 + (done * 1000) / rate - performance.now()));
    else setImmediate(step);
  };
  step();
});
const loopMs = eventLoopCpuMs() - loop0;
log.close();
destination.flushSync();
await new Promise<void>((resolve) => (destination.flush ? destination.flush(() => resolve()) : resolve()));
const cpu = process.cpuUsage(cpu0);
const wall = performance.now() - t0;
closeSync(fd);
console.log(
  `${values.destination}: ${lines} lines, ${((cpu.user + cpu.system) / lines).toFixed(3)} µs CPU per line (user ${(cpu.user / lines).toFixed(3)}, system ${(cpu.system / lines).toFixed(3)}), event loop thread ${((loopMs * 1000) / lines).toFixed(3)} µs per line (±${((10 * 1000) / lines).toFixed(3)}), wall ${((wall * 1000) / lines).toFixed(3)} µs per line`,
);

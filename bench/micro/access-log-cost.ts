/**
 * CPU per access-log line, forming and writing included: the process's whole CPU time (all
 * threads, so the thread-pool writes count) for a number of request lines written to a file the
 * way the router writes them, yielding to the event loop every few lines as a busy router does.
 *
 *   --destination log-destination  the router's own (default)
 *   --destination sonic-boom       pino's SonicBoom, as the router used before (for comparison)
 *   --destination null             lines formed, nothing written
 *
 * Usage: npx tsx bench/micro/access-log-cost.ts [--lines 300000] [--batch 16] [--file /tmp/f] [--destination d]
 */
import { randomUUID } from 'node:crypto';
import { closeSync, openSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { pino } from 'pino';
import { AccessLog } from '../../src/observability/access-log.js';
import { LogDestination } from '../../src/observability/log-destination.js';
import { createLogger } from '../../src/observability/logger.js';

const { values } = parseArgs({
  options: {
    lines: { type: 'string', default: '300000' },
    batch: { type: 'string', default: '16' },
    file: { type: 'string', default: '/tmp/switchyard-access-log-cost.log' },
    destination: { type: 'string', default: 'log-destination' },
  },
});
const lines = Number(values.lines);
const batch = Number(values.batch);
const fd = openSync(values.file!, 'w');

interface Destination {
  write(chunk: string | Buffer): unknown;
  flushSync(): void;
}
function destinationOf(kind: string): Destination {
  if (kind === 'log-destination') return new LogDestination(fd, 64 * 1024 * 1024);
  if (kind === 'sonic-boom') return pino.destination({ dest: fd, sync: false, minLength: 0, maxLength: 64 * 1024 * 1024 });
  if (kind === 'null') return { write: () => true, flushSync: () => undefined };
  throw new Error(`--destination: ${kind} is not one of log-destination, sonic-boom, null`);
}
const destination = destinationOf(values.destination!);
const logger = createLogger({ level: 'warn', destination: destination as unknown as NodeJS.WritableStream });
const log = new AccessLog(logger.child({ component: 'access' }, { level: 'info' }));
const ids = Array.from({ length: 1024 }, () => randomUUID());
const paths = ['/', '/api/v1/users/42', '/static/app.js?v=3', '/health'];

function run(n: number): void {
  for (let i = 0; i < n; i++) {
    log.request(ids[i & 1023]!, undefined, 'GET', '127.0.0.1:8080', paths[i & 3], 200, 0, 1024, 0.4 + (i % 997) / 1000, 'all', 'bench', '127.0.0.1:9001', 200, 0.2 + (i % 499) / 1000, 0, undefined, undefined);
  }
}

run(20000); // warm-up (JIT)
log.flush();
destination.flushSync();
await new Promise((r) => setTimeout(r, 200));
const cpu0 = process.cpuUsage();
const t0 = performance.now();
let done = 0;
await new Promise<void>((resolve) => {
  const step = (): void => {
    run(batch);
    done += batch;
    if (done >= lines) resolve();
    else setImmediate(step);
  };
  step();
});
log.flush();
destination.flushSync();
const cpu = process.cpuUsage(cpu0);
const wall = performance.now() - t0;
log.close();
closeSync(fd);
console.log(
  `${values.destination}: ${lines} lines, ${((cpu.user + cpu.system) / lines).toFixed(3)} µs CPU per line (user ${(cpu.user / lines).toFixed(3)}, system ${(cpu.system / lines).toFixed(3)}), wall ${((wall * 1000) / lines).toFixed(3)} µs per line`,
);

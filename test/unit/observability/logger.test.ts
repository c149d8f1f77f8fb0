import { closeSync, openSync, readFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { AccessLog } from '../../../src/observability/access-log.js';
import { LogDestination } from '../../../src/observability/log-destination.js';
import { createProcessLog, onDroppedLogLines, routerLogFormat } from '../../../src/observability/logger.js';

describe('process log', () => {
  let dir: string;
  let fd = -1;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-logger-'));
    fd = openSync(join(dir, 'out.log'), 'w');
  });
  afterEach(async () => {
    closeSync(fd);
    await rm(dir, { recursive: true, force: true });
  });

  it('writes its lines in the router format it names', async () => {
    const destination = new LogDestination(fd, 1 << 20);
    const log = createProcessLog({ level: 'info', destination });
    expect(log.format).toEqual(routerLogFormat());
    expect(log.format.base).toEqual({ pid: process.pid, hostname: hostname(), name: 'switchyard' });
    log.logger.info({ a: 1 }, 'hello');
    await new Promise((r) => destination.flush(r));
    const line = readFileSync(join(dir, 'out.log'), 'utf8');
    expect(line).toMatch(/^\{"level":"info","time":"\d{4}-\d\d-\d\dT[\d:.]+Z","pid":\d+,"hostname":"[^"]*","name":"switchyard","a":1,"msg":"hello"\}\n$/);
  });

  it('counts each access line of a chunk its output dropped', async () => {
    // 1 KiB of room: a chunk of 50 access lines does not fit and is dropped whole.
    const destination = new LogDestination(fd, 1024);
    const log = createProcessLog({ level: 'info', destination });
    let dropped = 0;
    onDroppedLogLines(log, (n) => (dropped += n));
    const access = new AccessLog(log, { component: 'access' });
    for (let i = 0; i < 50; i++) {
      access.request({ requestId: `d-${i}`, traceId: undefined, method: 'GET', host: 'h', target: '/', status: 200, bytesIn: 0, bytesOut: 1, durationMs: 1, routeName: 'r', serviceName: 's', upstreamAddress: 'e', upstreamStatus: 200, upstreamMs: 1, retries: 0, errorCode: undefined, upstreamError: undefined, clientAddress: '127.0.0.1', userAgent: undefined, httpProtocol: 'HTTP/1.1', tlsVersion: undefined });
    }
    access.close();
    expect(dropped).toBe(50);
    // A process line that fits is still written.
    log.logger.info('after');
    await new Promise((r) => destination.flush(r));
    expect(readFileSync(join(dir, 'out.log'), 'utf8')).toContain('"msg":"after"');
  });

  it('counts nothing for an output that never drops (a plain stream)', () => {
    const log = createProcessLog({ level: 'info', destination: { write: () => true } });
    let called = false;
    onDroppedLogLines(log, () => (called = true));
    log.logger.info('x');
    expect(called).toBe(false);
  });
});

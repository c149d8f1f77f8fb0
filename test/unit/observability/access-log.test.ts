import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { AccessLog } from '../../../src/observability/access-log.js';
import { createLogger } from '../../../src/observability/logger.js';

/** A logger configured as in production, writing into an array of lines. */
function productionLogger(): { lines: string[]; logger: ReturnType<typeof createLogger> } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(line);
      done();
    },
  });
  return { lines, logger: createLogger({ level: 'warn', destination }) };
}

const withoutTime = (line: string): string => line.replace(/"time":"[^"]*"/, '"time":"T"');

type Row = Parameters<AccessLog['request']>;

/** An error with a circular property, as TLS errors carry (a certificate whose issuer is itself). */
const circular: Record<string, unknown> = { subject: 'CN=self' };
circular.issuerCertificate = circular;

const ROWS: Row[] = [
  ['id-1', undefined, 'GET', 'example.test', '/a/b?c=d', 200, 0, 1024, 1.234, 'api', 'svc', '127.0.0.1:9000', 200, 0.5, 0, undefined, undefined, '203.0.113.9', 'curl/8.5.0', 'HTTP/1.1', undefined],
  ['id-"2"\\', '4bf92f3577b34da6a3ce929d0e0e4736', 'POST', undefined, '/quote"and\\back\u00e9\u{1f600}', 502, 12, 0, 3, 'r "x"', 's\ty', '127.0.0.1:1', 0, 2.5, 1, 'upstream_reset', undefined, '2001:db8::1', 'Mozilla "q" \u00e9', 'HTTP/2', 'TLSv1.3'],
  ['id-3', 'bad"trace', 'GET', 'h', '/e', 502, 0, 0, Number.NaN, 'r', 's', 'e', 0, 0, 0, 'upstream_reset', Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), '::ffff:10.0.0.1', undefined, 'HTTP/1.0', undefined],
  ['id-5', undefined, 'GET', 'h', '/ms', 200, 0, 10, 0.05, 'r', 's', 'e', 200, 12.3, 0, undefined, undefined, '127.0.0.1', 'ua', 'HTTP/1.1', 'TLSv1.2'],
  ['id-6', undefined, 'GET', 'h', '/ms', 200, 0, 10, 1.005, 'r', 's', 'e', 200, 0.007, 0, undefined, undefined, '127.0.0.1', undefined, 'HTTP/2', undefined],
  ['id-4', undefined, 'GET', 'h', '/tls', 502, 0, 0, 1, 'r', 's', 'e', 0, 0, 0, 'upstream_tls_failed', Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT', cert: circular }), '198.51.100.4', 'x\\y', 'HTTP/1.1', 'TLSv1.3'],
];

describe('access log serialiser', () => {
  it('writes exactly the line pino writes for the same fields', async () => {
    const { lines, logger } = productionLogger();
    const access = logger.child({ component: 'access' }, { level: 'info' });
    const log = new AccessLog(access);
    for (const row of ROWS) {
      const [requestId, traceId, method, host, path, status, bytesIn, bytesOut, durationMs, route, service, upstream, upstreamStatus, upstreamMs, retries, error, err, clientAddress, userAgent, protocol, tls] = row;
      log.request(...row);
      log.flush();
      access.info(
        { requestId, traceId, method, host, path, status, bytesIn, bytesOut, durationMs, route, service, upstream, upstreamStatus, upstreamMs, retries, error, err, clientAddress, userAgent, protocol, tls },
        'request',
      );
    }
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(ROWS.length * 2);
    for (let i = 0; i < lines.length; i += 2) {
      expect(withoutTime(lines[i]!)).toBe(withoutTime(lines[i + 1]!));
      expect(() => JSON.parse(lines[i]!) as unknown).not.toThrow();
    }
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'info', component: 'access', name: 'switchyard', requestId: 'id-1', msg: 'request' });
  });

  it('writes a chunk of many lines, ASCII and not, as the same bytes pino writes', async () => {
    const { lines, logger } = productionLogger();
    const access = logger.child({ component: 'access' }, { level: 'info' });
    const log = new AccessLog(access);
    // A Latin-1 header value as node:http hands it (bytes 0x80-0xff as U+0080-U+00FF), between ASCII lines.
    const paths = ['/plain', '/caf\u00e9', '/plain2', '/\u00ff\u0080', '/last'];
    for (const path of paths) log.request('id', undefined, 'GET', 'h', path, 200, 0, 1, 1, 'r', 's', 'e', 200, 1, 0, undefined, undefined, '127.0.0.1', undefined, 'HTTP/1.1', undefined);
    log.flush();
    for (const path of paths) access.info({ requestId: 'id', method: 'GET', host: 'h', path, status: 200, bytesIn: 0, bytesOut: 1, durationMs: 1, route: 'r', service: 's', upstream: 'e', upstreamStatus: 200, upstreamMs: 1, retries: 0, clientAddress: '127.0.0.1', protocol: 'HTTP/1.1' }, 'request');
    await new Promise((r) => setImmediate(r));
    expect(lines).toHaveLength(paths.length * 2);
    for (let i = 0; i < paths.length; i++) {
      expect(withoutTime(lines[i]!)).toBe(withoutTime(lines[i + paths.length]!));
      expect((JSON.parse(lines[i]!) as { path: string }).path).toBe(paths[i]);
    }
  });

  it('encodes the line as UTF-8 when the logger\'s bindings are not ASCII', async () => {
    const { lines, logger } = productionLogger();
    const access = logger.child({ component: 'accès', zone: 'zürich' }, { level: 'info' });
    const log = new AccessLog(access);
    log.request('id', undefined, 'GET', 'h', '/a', 200, 0, 1, 1, 'r', 's', 'e', 200, 1, 0, undefined, undefined, '127.0.0.1', undefined, 'HTTP/1.1', undefined);
    log.flush();
    access.info({ requestId: 'id', method: 'GET', host: 'h', path: '/a', status: 200, bytesIn: 0, bytesOut: 1, durationMs: 1, route: 'r', service: 's', upstream: 'e', upstreamStatus: 200, upstreamMs: 1, retries: 0, clientAddress: '127.0.0.1', protocol: 'HTTP/1.1' }, 'request');
    await new Promise((r) => setImmediate(r));
    expect(withoutTime(lines[0]!)).toBe(withoutTime(lines[1]!));
    expect(JSON.parse(lines[0]!)).toMatchObject({ component: 'accès', zone: 'zürich' });
  });

  it('writes other lines as pino does, undefined values left out', async () => {
    const { lines, logger } = productionLogger();
    const access = logger.child({ component: 'access' }, { level: 'info' });
    const fields = { requestId: 'x', method: 'GET', host: undefined, route: null, status: 101, protocol: 'websocket', durationMs: 12.5 };
    new AccessLog(access).other(fields, 'tunnel');
    access.info(fields, 'tunnel');
    await new Promise((r) => setImmediate(r));
    expect(withoutTime(lines[0]!)).toBe(withoutTime(lines[1]!));
  });
});

/** Waits until `done()` holds, checking every 10 ms, for at most `ms`. */
async function until(done: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!done()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe('access log on its own thread', () => {
  it('writes the same lines as when they are formed on the event loop, in order, rare lines included', async () => {
    const onLoop = productionLogger();
    const threaded = productionLogger();
    const a = new AccessLog(onLoop.logger.child({ component: 'access' }, { level: 'info' }));
    const b = new AccessLog(threaded.logger.child({ component: 'access' }, { level: 'info' }), { thread: true });
    expect(b.threaded).toBe(true);
    for (let i = 0; i < 50; i++) {
      for (const log of [a, b]) {
        for (const row of ROWS) log.request(...row);
        log.other({ requestId: `t-${i}`, status: 101, protocol: 'websocket' }, 'tunnel');
      }
    }
    a.flush();
    const expected = 50 * (ROWS.length + 1);
    await until(() => threaded.lines.length === expected && onLoop.lines.length === expected);
    expect(threaded.lines.map(withoutTime)).toEqual(onLoop.lines.map(withoutTime));
    a.close();
    b.close();
  });

  it('on close, writes every line still queued without waiting for the thread', async () => {
    const { lines, logger } = productionLogger();
    const log = new AccessLog(logger.child({ component: 'access' }, { level: 'info' }), { thread: true });
    for (let i = 0; i < 2000; i++) log.request(`c-${i}`, undefined, 'GET', 'h', '/', 200, 0, 1, 1, 'r', 's', 'e', 200, 1, 0, undefined, undefined, '127.0.0.1', undefined, 'HTTP/1.1', undefined);
    log.close();
    expect(log.threaded).toBe(false);
    await new Promise((r) => setImmediate(r));
    expect(lines.map((l) => (JSON.parse(l) as { requestId: string }).requestId)).toEqual(Array.from({ length: 2000 }, (_, i) => `c-${i}`));
    // Recorded after close: written at once, on the event loop.
    log.request('late', undefined, 'GET', 'h', '/', 200, 0, 1, 1, 'r', 's', 'e', 200, 1, 0, undefined, undefined, '127.0.0.1', undefined, 'HTTP/1.1', undefined);
    await new Promise((r) => setImmediate(r));
    expect(lines.at(-1)).toContain('"requestId":"late"');
  });

  it('drops and counts lines when its queue is full, and writes every line it kept', async () => {
    const { lines, logger } = productionLogger();
    let dropped = 0;
    const log = new AccessLog(logger.child({ component: 'access' }, { level: 'info' }), { thread: true, queueBytes: 4096, onDrop: (n) => (dropped += n) });
    // The event loop is not released while these are recorded, so the queue's space is not either.
    for (let i = 0; i < 200; i++) log.request(`d-${i}`, undefined, 'GET', 'h', '/', 200, 0, 1, 1, 'r', 's', 'e', 200, 1, 0, undefined, undefined, '127.0.0.1', undefined, 'HTTP/1.1', undefined);
    expect(dropped).toBeGreaterThan(100);
    await until(() => lines.length === 200 - dropped);
    await new Promise((r) => setTimeout(r, 100));
    expect(lines).toHaveLength(200 - dropped);
    // The lines kept are the first ones, in order.
    expect(lines.map((l) => (JSON.parse(l) as { requestId: string }).requestId)).toEqual(Array.from({ length: 200 - dropped }, (_, i) => `d-${i}`));
    log.close();
  });

  it('when the thread stops, forms the lines it had not delivered on the event loop and goes on there', async () => {
    const { lines, logger } = productionLogger();
    const log = new AccessLog(logger.child({ component: 'access' }, { level: 'info' }), { thread: true });
    for (let i = 0; i < 500; i++) log.request(`s-${i}`, undefined, 'GET', 'h', '/', 200, 0, 1, 1, 'r', 's', 'e', 200, 1, 0, undefined, undefined, '127.0.0.1', undefined, 'HTTP/1.1', undefined);
    // The thread ends unexpectedly (as if it had crashed).
    await (log as unknown as { thread: { terminate(): Promise<number> } }).thread.terminate();
    await until(() => !log.threaded);
    for (let i = 500; i < 600; i++) log.request(`s-${i}`, undefined, 'GET', 'h', '/', 200, 0, 1, 1, 'r', 's', 'e', 200, 1, 0, undefined, undefined, '127.0.0.1', undefined, 'HTTP/1.1', undefined);
    log.flush();
    await until(() => lines.filter((l) => l.includes('"msg":"request"')).length >= 600);
    await new Promise((r) => setTimeout(r, 50));
    const ids = lines.filter((l) => l.includes('"msg":"request"')).map((l) => (JSON.parse(l) as { requestId: string }).requestId);
    // Every line exactly once, in order; and the failure was logged.
    expect(ids).toEqual(Array.from({ length: 600 }, (_, i) => `s-${i}`));
    expect(lines.some((l) => l.includes('access log thread exited'))).toBe(true);
    log.close();
  });
});

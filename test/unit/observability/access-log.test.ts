import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { AccessLog } from '../../../src/observability/access-log.js';
import type { RequestLogRecord, TunnelLogRecord } from '../../../src/observability/access-log-record.js';
import { createProcessLog, type LogFormat, type ProcessLog } from '../../../src/observability/logger.js';

/** A process log in `format` (the router's by default) writing into an array of lines. */
function capture(format?: LogFormat): { lines: string[]; log: ProcessLog } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(line);
      done();
    },
  });
  return { lines, log: createProcessLog({ level: 'warn', destination }, format) };
}

const withoutTime = (line: string): string => line.replace(/"time":("[^"]*"|\d+)/, '"time":T');
const settle = (): Promise<void> => new Promise((r) => setImmediate(r));
/** A millisecond figure rounded to the microsecond, as the access log writes it. */
const round = (ms: number): number => Math.round(ms * 1000) / 1000;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

function request(fields: Partial<RequestLogRecord> = {}): Mutable<RequestLogRecord> {
  return {
    requestId: 'id',
    traceId: undefined,
    method: 'GET',
    host: 'h',
    target: '/',
    status: 200,
    bytesIn: 0,
    bytesOut: 1,
    durationMs: 1,
    routeName: 'r',
    serviceName: 's',
    upstreamAddress: 'e',
    upstreamStatus: 200,
    upstreamMs: 1,
    retries: 0,
    errorCode: undefined,
    upstreamError: undefined,
    clientAddress: '127.0.0.1',
    userAgent: undefined,
    httpProtocol: 'HTTP/1.1',
    tlsVersion: undefined,
    ...fields,
  };
}

/** The fields the router gave pino for this record before the access log formed its own lines. */
function pinoFields(r: RequestLogRecord): Record<string, unknown> {
  const common = { requestId: r.requestId, traceId: r.traceId, method: r.method, host: r.host, path: r.target, status: r.status, bytesIn: r.bytesIn, bytesOut: r.bytesOut, durationMs: round(r.durationMs) };
  const client = { clientAddress: r.clientAddress, userAgent: r.userAgent, protocol: r.httpProtocol, tls: r.tlsVersion };
  if (r.upstreamAddress === null) {
    return { ...common, route: r.routeName, service: r.serviceName, upstream: null, retries: r.retries, error: r.errorCode, err: r.upstreamError, ...client };
  }
  return { ...common, route: r.routeName, service: r.serviceName, upstream: r.upstreamAddress, upstreamStatus: r.upstreamStatus, upstreamMs: round(r.upstreamMs), retries: r.retries, error: r.errorCode, err: r.upstreamError, ...client };
}

/** An error with a circular property, as TLS errors carry (a certificate whose issuer is itself). */
const circular: Record<string, unknown> = { subject: 'CN=self' };
circular.issuerCertificate = circular;

const RECORDS: RequestLogRecord[] = [
  request({ requestId: 'id-1', host: 'example.test', target: '/a/b?c=d', bytesOut: 1024, durationMs: 1.234, routeName: 'api', serviceName: 'svc', upstreamAddress: '127.0.0.1:9000', upstreamMs: 0.5, clientAddress: '203.0.113.9', userAgent: 'curl/8.5.0' }),
  request({ requestId: 'id-"2"\\', traceId: '4bf92f3577b34da6a3ce929d0e0e4736', method: 'POST', host: undefined, target: '/quote"and\\back\u00e9\u{1f600}', status: 502, bytesIn: 12, bytesOut: 0, durationMs: 3, routeName: 'r "x"', serviceName: 's\ty', upstreamAddress: '127.0.0.1:1', upstreamStatus: 0, upstreamMs: 2.5, retries: 1, errorCode: 'upstream_reset', clientAddress: '2001:db8::1', userAgent: 'Mozilla "q" \u00e9', httpProtocol: 'HTTP/2', tlsVersion: 'TLSv1.3' }),
  request({ requestId: 'id-3', traceId: 'bad"trace', status: 502, bytesOut: 0, durationMs: Number.NaN, upstreamStatus: 0, upstreamMs: 0, errorCode: 'upstream_reset', upstreamError: Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }), clientAddress: '::ffff:10.0.0.1', httpProtocol: 'HTTP/1.0' }),
  request({ requestId: 'id-4', target: '/tls', status: 502, bytesOut: 0, upstreamStatus: 0, errorCode: 'upstream_tls_failed', upstreamError: Object.assign(new Error('self-signed certificate'), { code: 'DEPTH_ZERO_SELF_SIGNED_CERT', cert: circular }), clientAddress: '198.51.100.4', userAgent: 'x\\y', tlsVersion: 'TLSv1.3' }),
  request({ requestId: 'id-5', target: '/ms', bytesOut: 10, durationMs: 0.05, upstreamMs: 12.3, userAgent: 'ua', tlsVersion: 'TLSv1.2' }),
  request({ requestId: 'id-6', target: '/ms', bytesOut: 10, durationMs: 1.005, upstreamMs: 0.007 }),
  request({ requestId: 'id-7', durationMs: 1.0004, upstreamMs: 2.0005 }),
  // Every optional field present, all ASCII without escapes (written as bytes).
  request({ requestId: 'id-9', traceId: '4bf92f3577b34da6a3ce929d0e0e4736', method: 'DELETE', host: 'h:8080', target: '/x?y=1', status: 504, bytesIn: 7, durationMs: 30000.001, upstreamStatus: 0, upstreamMs: 29999.999, retries: 2, errorCode: 'upstream_timeout', clientAddress: '::1', userAgent: 'ua/1 (x; y)', httpProtocol: 'HTTP/1.0', tlsVersion: 'TLSv1.2' }),
  // Unusual values: no method or path, text outside ASCII, huge byte counts, infinite time, empty strings.
  request({ requestId: 'id-8', method: undefined, host: 'h\u00ff', target: undefined, status: 499, bytesIn: 2 ** 40, bytesOut: 2 ** 33, upstreamMs: Number.POSITIVE_INFINITY, errorCode: 'client_closed' }),
  request({ requestId: '', host: '', target: '/caf\u00e9', routeName: 'route-\u00e9', retries: 2 }),
  // Answered by the proxy itself: a route matched but nothing was sent upstream, or no route matched.
  request({ requestId: 'rej-1', status: 503, durationMs: 0.1234, upstreamAddress: null, errorCode: 'breaker_requests', userAgent: 'ua\u00ff', httpProtocol: 'HTTP/2', tlsVersion: 'TLSv1.3' }),
  request({ requestId: 'rej-2', target: '/nowhere', status: 404, durationMs: 0.02, routeName: null, serviceName: null, upstreamAddress: null, errorCode: 'no_route' }),
];

function tunnel(fields: Partial<TunnelLogRecord> = {}): TunnelLogRecord {
  return { requestId: 't', method: 'GET', host: 'h', target: '/ws', protocol: 'websocket', bytesFromClient: 10, bytesToClient: 20, durationMs: 1500.25, tunnelMs: 1499.5, routeName: 'r', serviceName: 's', upstreamAddress: 'e', clientAddress: '127.0.0.1', userAgent: undefined, tlsVersion: undefined, ...fields };
}

function pinoTunnelFields(t: TunnelLogRecord): Record<string, unknown> {
  return {
    requestId: t.requestId,
    method: t.method,
    host: t.host,
    path: t.target,
    status: 101,
    protocol: t.protocol,
    bytesIn: t.bytesFromClient,
    bytesOut: t.bytesToClient,
    durationMs: round(t.durationMs),
    tunnelMs: round(t.tunnelMs),
    route: t.routeName,
    service: t.serviceName,
    upstream: t.upstreamAddress,
    clientAddress: t.clientAddress,
    userAgent: t.userAgent,
    tls: t.tlsVersion,
  };
}

const opened: AccessLog[] = [];
function accessLog(log: ProcessLog, bindings: Record<string, string> = { component: 'access' }): AccessLog {
  const a = new AccessLog(log, bindings);
  opened.push(a);
  return a;
}
afterEach(() => {
  for (const a of opened.splice(0)) a.close();
});

describe('access log lines', () => {
  it('are exactly the lines pino writes for the same fields, rejections included', async () => {
    const { lines, log } = capture();
    const pinoAccess = log.logger.child({ component: 'access' }, { level: 'info' });
    const a = accessLog(log);
    for (const r of RECORDS) {
      a.request(r);
      a.flush();
      pinoAccess.info(pinoFields(r), 'request');
    }
    await settle();
    expect(lines).toHaveLength(RECORDS.length * 2);
    for (let i = 0; i < lines.length; i += 2) {
      expect(withoutTime(lines[i]!)).toBe(withoutTime(lines[i + 1]!));
      expect(() => JSON.parse(lines[i]!) as unknown).not.toThrow();
    }
    expect(JSON.parse(lines[0]!)).toMatchObject({ level: 'info', component: 'access', name: 'switchyard', pid: process.pid, requestId: 'id-1', msg: 'request' });
    expect(JSON.parse(lines[0]!)).toMatchObject({ clientAddress: '203.0.113.9', userAgent: 'curl/8.5.0', protocol: 'HTTP/1.1' });
    expect(JSON.parse(lines[0]!)).not.toHaveProperty('tls');
    expect(JSON.parse(lines[2]!)).toMatchObject({ clientAddress: '2001:db8::1', protocol: 'HTTP/2', tls: 'TLSv1.3' });
    expect(JSON.parse(lines.at(-2)!)).toMatchObject({ route: null, service: null, upstream: null, error: 'no_route' });
    expect(JSON.parse(lines.at(-2)!)).not.toHaveProperty('upstreamStatus');
  });

  it('write numbers as pino does: whole, fractional, huge, negative, not finite (lines written as bytes and as strings alike)', async () => {
    const { lines, log } = capture();
    const pinoAccess = log.logger.child({ component: 'access' }, { level: 'info' });
    const a = accessLog(log);
    const values = [0, 1, 9, 10, 99, 100, 101, 999, 1000, 123456789, 2 ** 31, 2 ** 53 - 1, 999_999_999_999_999, 1e15, 1e21, 1e22, -1, -0.5, 0.5, 1.5, 0.0004, 0.0005, 0.001, 0.01, 0.0104, 0.012, 0.1, 0.12, 0.123, 0.1234, 12.3456789, 999_999_999.9996, 1e9, 1e9 + 0.5, Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, Number.MIN_VALUE];
    const records: RequestLogRecord[] = [];
    for (const v of values) {
      // ASCII strings (the byte path) and a non-ASCII path (the string path) for every value.
      for (const target of ['/n', '/n\u00e9']) {
        records.push(request({ target, status: Number.isInteger(v) && v >= 0 && v < 1000 ? v : 200, bytesIn: v, bytesOut: v, durationMs: v, upstreamMs: v, upstreamStatus: v, retries: v }));
      }
    }
    for (const r of records) a.request(r);
    a.flush();
    for (const r of records) pinoAccess.info(pinoFields(r), 'request');
    await settle();
    expect(lines).toHaveLength(records.length * 2);
    for (let i = 0; i < records.length; i++) expect(withoutTime(lines[i]!)).toBe(withoutTime(lines[i + records.length]!));
  });

  it('write a tunnel line as pino does, at once', async () => {
    const { lines, log } = capture();
    const tunnels = [
      tunnel({ requestId: 'tun-"1"', host: undefined, protocol: 'chat\u00e9' }),
      tunnel({ requestId: 'tun-2', clientAddress: '2001:db8::7', userAgent: 'ws "client"', tlsVersion: 'TLSv1.3' }),
    ];
    for (const t of tunnels) {
      accessLog(log).tunnel(t);
      log.logger.child({ component: 'access' }, { level: 'info' }).info(pinoTunnelFields(t), 'tunnel');
    }
    await settle();
    expect(lines).toHaveLength(4);
    expect(withoutTime(lines[0]!)).toBe(withoutTime(lines[1]!));
    expect(withoutTime(lines[2]!)).toBe(withoutTime(lines[3]!));
    expect(JSON.parse(lines[2]!)).toMatchObject({ clientAddress: '2001:db8::7', userAgent: 'ws "client"', tls: 'TLSv1.3' });
  });

  it.each<[string, LogFormat]>([
    ['numeric levels, epoch time, another message key', { level: 'number', time: 'epoch', base: { pid: 1, hostname: 'host-a' }, messageKey: 'message' }],
    ['base fields outside ASCII', { level: 'label', time: 'iso', base: { pid: 7, hostname: 'h\u00f4te', name: 'z\u00fcrich' }, messageKey: 'msg' }],
  ])('follow the process log format: %s', async (_, format) => {
    const { lines, log } = capture(format);
    const pinoAccess = log.logger.child({ component: 'acc\u00e8s' }, { level: 'info' });
    const a = accessLog(log, { component: 'acc\u00e8s' });
    for (const r of RECORDS.slice(0, 3)) {
      a.request(r);
      a.flush();
      pinoAccess.info(pinoFields(r), 'request');
    }
    const t = tunnel();
    a.tunnel(t);
    pinoAccess.info(pinoTunnelFields(t), 'tunnel');
    await settle();
    expect(lines).toHaveLength(8);
    for (let i = 0; i < lines.length; i += 2) expect(withoutTime(lines[i]!)).toBe(withoutTime(lines[i + 1]!));
    const first = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(first).toMatchObject({ ...format.base, component: 'acc\u00e8s' });
    expect(first[format.messageKey]).toBe('request');
  });

  it('write a chunk of many lines, ASCII and not, as the same bytes pino writes', async () => {
    const { lines, log } = capture();
    const pinoAccess = log.logger.child({ component: 'access' }, { level: 'info' });
    const a = accessLog(log);
    // A Latin-1 header value as node:http hands it (bytes 0x80-0xff as U+0080-U+00FF), between ASCII lines.
    const targets = ['/plain', '/caf\u00e9', '/plain2', '/\u00ff\u0080', '/last'];
    for (const target of targets) a.request(request({ target }));
    a.flush();
    for (const target of targets) pinoAccess.info(pinoFields(request({ target })), 'request');
    await settle();
    expect(lines).toHaveLength(targets.length * 2);
    for (let i = 0; i < targets.length; i++) {
      expect(withoutTime(lines[i]!)).toBe(withoutTime(lines[i + targets.length]!));
      expect((JSON.parse(lines[i]!) as { path: string }).path).toBe(targets[i]);
    }
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

describe('access log delivery', () => {
  const ids = (lines: string[]): string[] => lines.map((l) => (JSON.parse(l) as { requestId: string }).requestId);

  it('holds request lines for a chunk and writes them without being asked, in order, tunnel lines in their place', async () => {
    const { lines, log } = capture();
    const a = accessLog(log);
    const expected: string[] = [];
    for (let i = 0; i < 30; i++) {
      a.request(request({ requestId: `o-${i}` }));
      expected.push(`o-${i}`);
      if (i % 10 === 9) {
        a.tunnel(tunnel({ requestId: `t-${i}` }));
        expected.push(`t-${i}`);
      }
    }
    a.request(request({ requestId: 'o-last' }));
    expected.push('o-last');
    await settle();
    // Everything up to the last tunnel line went out with it; the line after it waits for its chunk.
    expect(ids(lines)).toEqual(expected.slice(0, -1));
    await until(() => lines.length === expected.length);
    expect(ids(lines)).toEqual(expected);
  });

  it('writes a chunk as soon as it holds 64 KiB of lines', () => {
    const { lines, log } = capture();
    const a = accessLog(log);
    const target = `/${'x'.repeat(1000)}`;
    let n = 0;
    // Synchronously, so the flush timer cannot write a chunk first: the write comes from request() itself.
    while (lines.length === 0 && n < 200) a.request(request({ requestId: `c-${n++}`, target }));
    // About 1.2 KB a line: the first chunk is written once 64 KiB are formed.
    expect(n).toBeGreaterThan(40);
    expect(n).toBeLessThan(60);
    expect(ids(lines)).toEqual(Array.from({ length: n }, (_, i) => `c-${i}`));
  });

  it('writes lines longer than a chunk, ASCII and not, whole and in order with the lines around them', async () => {
    const { lines, log } = capture();
    const pinoAccess = log.logger.child({ component: 'access' }, { level: 'info' });
    const a = accessLog(log);
    // Lines past what a chunk's buffer holds (80 KiB), and a non-ASCII one whose worst case
    // (3 bytes a character) does not fit the room left, between short lines: each starts a new
    // buffer, and the chunk taken holds them all in order.
    const targets = ['/a', `/${'x'.repeat(100_000)}`, '/b', `/${'\u00e9'.repeat(30_000)}`, `/${'\u{1f600}'.repeat(20_000)}`, '/c'];
    for (const target of targets) a.request(request({ target }));
    a.flush();
    for (const target of targets) pinoAccess.info(pinoFields(request({ target })), 'request');
    await settle();
    expect(lines).toHaveLength(targets.length * 2);
    for (let i = 0; i < targets.length; i++) {
      expect(withoutTime(lines[i]!)).toBe(withoutTime(lines[i + targets.length]!));
      expect((JSON.parse(lines[i]!) as { path: string }).path).toBe(targets[i]);
    }
  });

  it('on close, writes every line formed; lines recorded later are written at once', async () => {
    const { lines, log } = capture();
    const a = accessLog(log);
    for (let i = 0; i < 2000; i++) a.request(request({ requestId: `c-${i}` }));
    a.close();
    await settle();
    expect(ids(lines)).toEqual(Array.from({ length: 2000 }, (_, i) => `c-${i}`));
    a.request(request({ requestId: 'late' }));
    await settle();
    expect(lines.at(-1)).toContain('"requestId":"late"');
  });
});

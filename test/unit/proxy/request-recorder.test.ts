import { Writable } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { AccessLog } from '../../../src/observability/access-log.js';
import type { RequestLogRecord } from '../../../src/observability/access-log-record.js';
import { createProcessLog } from '../../../src/observability/logger.js';
import { RequestRecorder } from '../../../src/proxy/request-recorder.js';
import { incoming, response, route, testMetrics as metrics, TestExchange } from '../../support/test-exchange.js';

/** An access log whose lines are parsed into `lines`, and the records handed to it, in order, in `seen`. */
function capture(): { lines: Record<string, unknown>[]; seen: RequestLogRecord[]; accessLog: AccessLog } {
  const lines: Record<string, unknown>[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const accessLog = new AccessLog(createProcessLog({ level: 'warn', destination }), { component: 'access' });
  const seen: RequestLogRecord[] = [];
  const request = accessLog.request.bind(accessLog);
  accessLog.request = (r) => {
    seen.push(r);
    request(r);
  };
  return { lines, seen, accessLog };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('request recorder and the access log', () => {
  const logs: AccessLog[] = [];
  afterEach(() => {
    for (const l of logs.splice(0)) l.close();
  });

  it('hands the exchange itself to the access log, which reads the line from it', async () => {
    const { lines, seen, accessLog } = capture();
    logs.push(accessLog);
    const x = new TestExchange(incoming('POST', '/a?b=1', { host: 'svc.test', 'content-length': '3', 'user-agent': 'client/2' }), response(201), route('api', 'svc'), 'req-1', '198.51.100.7', 'TLSv1.3');
    new RequestRecorder(metrics, accessLog).requestEnded(x);
    expect(seen).toHaveLength(1);
    expect(seen[0]).toBe(x);
    accessLog.flush();
    await settle();
    expect(lines[0]).toMatchObject({ requestId: 'req-1', method: 'POST', host: 'svc.test', path: '/a?b=1', status: 201, bytesIn: 3, bytesOut: 42, durationMs: 12.25, route: 'api', service: 'svc', upstream: '127.0.0.1:9000', upstreamStatus: 200, upstreamMs: 2.5, retries: 0, clientAddress: '198.51.100.7', userAgent: 'client/2', protocol: 'HTTP/1.1', tls: 'TLSv1.3', msg: 'request' });
    expect(lines[0]).not.toHaveProperty('error');
  });

  it('describes every refusal with one reused record', async () => {
    const { lines, seen, accessLog } = capture();
    logs.push(accessLog);
    const recorder = new RequestRecorder(metrics, accessLog);
    const started = performance.now();
    recorder.requestRejected(incoming('GET', '/nowhere', { host: 'h' }), response(404), null, 'rej-1', 'no_route', started, '127.0.0.1');
    recorder.requestRejected(incoming('PUT', '/api/x', { host: 'h', 'content-length': '9', 'user-agent': 'probe/1' }), response(503), route('api', 'svc'), 'rej-2', 'breaker_requests', started, '203.0.113.5');
    expect(seen).toHaveLength(2);
    expect(seen[1]).toBe(seen[0]);
    accessLog.flush();
    await settle();
    expect(lines[0]).toMatchObject({ requestId: 'rej-1', method: 'GET', path: '/nowhere', status: 404, bytesIn: 0, bytesOut: 0, route: null, service: null, upstream: null, retries: 0, error: 'no_route', clientAddress: '127.0.0.1', protocol: 'HTTP/1.1' });
    expect(lines[0]).not.toHaveProperty('userAgent');
    expect(lines[1]).toMatchObject({ requestId: 'rej-2', method: 'PUT', path: '/api/x', status: 503, bytesIn: 9, route: 'api', service: 'svc', upstream: null, error: 'breaker_requests', clientAddress: '203.0.113.5', userAgent: 'probe/1', protocol: 'HTTP/1.1' });
    for (const line of lines) {
      expect(line).not.toHaveProperty('upstreamStatus');
      expect(line.durationMs).toBeGreaterThanOrEqual(0);
    }
  });
});

import type { ClientHttp2Session } from 'node:http2';
import { constants } from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchText } from '../../support/http-client.js';
import { closeHttp2, http2Request, openHttp2 } from '../../support/http2-client.js';
import { parsePrometheusText, samples, value, type Sample } from '../../support/prometheus-text.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

/** An upstream that holds every request until the test answers it, and notes requests whose connection closed first. */
interface HoldingUpstream {
  upstream: TestUpstream;
  held: { req: IncomingMessage; res: ServerResponse }[];
  /** Requests whose client (the proxy) went away before they were answered. */
  abandoned: string[];
  releaseAll(): void;
}

async function startHolding(name: string): Promise<HoldingUpstream> {
  const held: HoldingUpstream['held'] = [];
  const abandoned: string[] = [];
  const upstream = await startUpstream(name, (req, res) => {
    held.push({ req, res });
    res.once('close', () => {
      if (!res.writableEnded) abandoned.push(req.url!);
    });
  });
  return {
    upstream,
    held,
    abandoned,
    releaseAll() {
      for (const { res } of held.splice(0)) {
        if (res.writableEnded || res.destroyed) continue;
        res.writeHead(200, { 'content-length': '8' });
        res.end('released');
      }
    },
  };
}

/** Retries, timeouts, client cancellation, the circuit breaker, metrics and the access log, with HTTP/2 clients. */
describe('HTTP/2 clients: resilience and observability', () => {
  let good: TestUpstream;
  let resetter: TestUpstream;
  let slow: HoldingUpstream;
  let hold: HoldingUpstream;
  let limited: HoldingUpstream;
  let proxy: ProxyHarness;
  let session: ClientHttp2Session;
  let admin: string;

  beforeAll(async () => {
    good = await startUpstream('good');
    resetter = await startUpstream('resetter', (req) => req.socket.destroy());
    slow = await startHolding('slow');
    hold = await startHolding('hold');
    limited = await startHolding('limited');
    proxy = await startProxy({
      services: {
        flaky: [{ port: resetter.port }, { port: good.port }],
        slow: [{ port: slow.upstream.port }],
        hold: [{ port: hold.upstream.port }],
        limited: [{ port: limited.upstream.port }],
        good: [{ port: good.port }],
      },
      config: {
        listeners: [{ name: 'mixed', address: '127.0.0.1', port: 0, protocols: ['http1', 'h2c'] }],
        services: {
          flaky: { balancer: 'weighted_round_robin', outlierDetection: { consecutiveFailures: 100 } },
          limited: { circuitBreaker: { maxRequests: 1 } },
        },
        routes: [
          { name: 'flaky', match: { path: '/flaky' }, service: 'flaky', retries: { bufferBody: '64kib' } },
          { name: 'slow', match: { path: '/slow' }, service: 'slow', timeouts: { total: '300ms' } },
          { name: 'hold', match: { path: '/hold' }, service: 'hold' },
          { name: 'limited', match: { path: '/limited' }, service: 'limited' },
          { name: 'obs', match: { path: '/obs' }, service: 'good' },
        ],
      },
    });
    session = await openHttp2(`http://127.0.0.1:${proxy.port}`);
    admin = `http://127.0.0.1:${proxy.app.adminAddress!.port}`;
  });
  afterAll(async () => {
    for (const h of [slow, hold, limited]) h?.releaseAll();
    await closeHttp2(session);
    await proxy?.close();
    for (const u of [good, resetter, slow?.upstream, hold?.upstream, limited?.upstream]) await u?.close();
  });

  const get = (path: string, extra: Record<string, string> = {}) => http2Request(session, { ':path': path, ':authority': 'svc.test', ...extra });
  const scrape = async (): Promise<Sample[]> => parsePrometheusText((await fetchText(`${admin}/metrics`)).body);
  const accessLine = (requestId: string) => proxy.log.lines.find((l) => l.component === 'access' && l.requestId === requestId);

  it('a GET whose upstream resets the connection is retried on the other instance', async () => {
    for (let i = 0; i < 4; i++) {
      const r = await get(`/flaky/${i}`);
      expect(r.status).toBe(200);
      expect((JSON.parse(r.body.toString()) as EchoReply).instance).toBe('good');
    }
    expect(resetter.requests.length).toBeGreaterThanOrEqual(1);
    expect(value(await scrape(), 'switchyard_upstream_retries_total', { service: 'flaky' })).toBe(resetter.requests.length);
  });

  it('a PUT with a buffered body (Content-Length) is retried after a reset, its body sent again whole', async () => {
    const before = resetter.requests.length;
    for (let i = 0; i < 2; i++) {
      const r = await http2Request(session, { ':method': 'PUT', ':path': `/flaky/put-${i}`, ':authority': 'svc.test', 'content-length': '5' }, 'hello');
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body.toString())).toMatchObject({ instance: 'good', method: 'PUT', bodyBytes: 5 });
    }
    // Round robin over two instances: one of the two PUTs went to the resetter first.
    expect(resetter.requests.length).toBeGreaterThan(before);
  });

  it('the route\'s total timeout → 504 upstream_timeout, and the connection serves on', async () => {
    const r = await get('/slow/x');
    expect(r.status).toBe(504);
    expect(r.headers['x-switchyard-error']).toBe('upstream_timeout');
    expect((await get('/obs/after-504')).status).toBe(200);
    slow.releaseAll();
  });

  it('a stream the client cancels (RST_STREAM CANCEL) aborts the upstream request, logged and counted as 499 client_closed', async () => {
    const stream = session.request({ ':path': '/hold/cancel-me', ':authority': 'svc.test', 'x-request-id': 'h2-cancel-1' });
    stream.on('error', () => undefined);
    await eventually(() => hold.held.length === 1, 5_000, 'the upstream to receive the request');
    stream.close(constants.NGHTTP2_CANCEL);
    await eventually(() => hold.abandoned.includes('/hold/cancel-me'), 5_000, 'the upstream to see the request aborted');
    await eventually(() => accessLine('h2-cancel-1') !== undefined, 5_000, 'the access log line');
    expect(accessLine('h2-cancel-1')).toMatchObject({ status: 499, error: 'client_closed', route: 'hold', method: 'GET', path: '/hold/cancel-me' });
    const m = await scrape();
    expect(value(m, 'switchyard_requests_total', { route: 'hold', method: 'GET', status_class: '4xx' })).toBe(1);
    expect(value(m, 'switchyard_upstream_attempt_duration_seconds_count', { service: 'hold', outcome: 'cancelled' })).toBe(1);
    expect(session.destroyed).toBe(false);
    expect((await get('/obs/after-cancel')).status).toBe(200);
  });

  it('circuit breaker maxRequests → 503 breaker_requests on HTTP/2', async () => {
    const first = get('/limited/first');
    await eventually(() => limited.held.length === 1, 5_000, 'the first request to reach the upstream');
    const second = await get('/limited/second');
    expect(second.status).toBe(503);
    expect(second.headers['x-switchyard-error']).toBe('breaker_requests');
    limited.releaseAll();
    expect((await first).status).toBe(200);
  });

  it('a request over HTTP/2 gives the same metric series and access-log line as over HTTP/1.1', async () => {
    const h1 = await fetchText(`${proxy.url}/obs/same`, { headers: { host: 'svc.test', 'x-request-id': 'obs-h1' } });
    const h2 = await get('/obs/same', { 'x-request-id': 'obs-h2' });
    expect(h1.status).toBe(200);
    expect(h2.status).toBe(200);
    await eventually(() => accessLine('obs-h1') !== undefined && accessLine('obs-h2') !== undefined, 5_000, 'both access log lines');
    const l1 = accessLine('obs-h1')!;
    const l2 = accessLine('obs-h2')!;
    expect(Object.keys(l2).sort()).toEqual(Object.keys(l1).sort());
    const common = { msg: 'request', method: 'GET', host: 'svc.test', path: '/obs/same', status: 200, route: 'obs', service: 'good', upstream: `127.0.0.1:${good.port}`, upstreamStatus: 200, retries: 0 };
    expect(l1).toMatchObject(common);
    expect(l2).toMatchObject({ ...common, bytesOut: h2.body.length });
    const m = await scrape();
    // One series for both protocols (requests to /obs so far: after-504, after-cancel, and these two).
    expect(samples(m, 'switchyard_requests_total', { route: 'obs' })).toHaveLength(1);
    expect(value(m, 'switchyard_requests_total', { route: 'obs', service: 'good', method: 'GET', status_class: '2xx' })).toBe(4);
    expect(value(m, 'switchyard_request_duration_seconds_count', { route: 'obs', method: 'GET', status_class: '2xx' })).toBe(4);
    expect(value(m, 'switchyard_upstream_attempt_duration_seconds_count', { service: 'good', outcome: 'response' })).toBeGreaterThanOrEqual(4);
  });
});

import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { OtlpSpanExporter, unixNanos, type FinishedSpan } from '../../../src/observability/otlp-span-exporter.js';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { parsePrometheusText } from '../../support/prometheus-text.js';
import { captureLog } from '../../support/log-capture.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

interface OtlpSpanJson {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind: number;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes: { key: string; value: Record<string, unknown> }[];
}

/** A collector stand-in: a real HTTP server that keeps what is POSTed to /v1/traces. */
async function startCollector(): Promise<{ url: string; spans: OtlpSpanJson[]; posts: string[]; server: Server }> {
  const spans: OtlpSpanJson[] = [];
  const posts: string[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => (body += c));
    req.on('end', () => {
      posts.push(`${req.method} ${req.url} ${req.headers['content-type']}`);
      const doc = JSON.parse(body) as { resourceSpans: { resource: unknown; scopeSpans: { spans: OtlpSpanJson[] }[] }[] };
      for (const rs of doc.resourceSpans) for (const ss of rs.scopeSpans) spans.push(...ss.spans);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, spans, posts, server };
}

describe('OTLP span export', () => {
  let app: TestUpstream;
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let proxy: ProxyHarness;

  beforeAll(async () => {
    app = await startUpstream('app');
    collector = await startCollector();
    proxy = await startProxy({
      services: { app: [{ port: app.port }] },
      config: {
        routes: [{ name: 'main', match: { path: '/' }, service: 'app' }],
        tracing: { enabled: true, otlp: { endpoint: collector.url, serviceName: 'edge', flushInterval: '50ms' } },
      },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await app.close();
    await new Promise((r) => collector.server.close(r));
  });

  it('exports a server span per sampled request, child of the caller, parent of the upstream call', async () => {
    const incoming = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';
    const r = await fetchJson<EchoReply>(`${proxy.url}/orders?x=1`, { headers: { traceparent: incoming, tracestate: 'v=1' } });
    const sent = String(r.json.headers.traceparent);
    expect(sent).toMatch(/^00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]{16}-01$/);
    expect(sent.slice(36, 52)).not.toBe('00f067aa0ba902b7');
    expect(r.json.headers.tracestate).toBe('v=1');
    await eventually(() => collector.spans.some((s) => s.traceId === '4bf92f3577b34da6a3ce929d0e0e4736'), 5_000, 'the exported span');
    const span = collector.spans.find((s) => s.traceId === '4bf92f3577b34da6a3ce929d0e0e4736')!;
    expect(span).toMatchObject({ spanId: sent.slice(36, 52), parentSpanId: '00f067aa0ba902b7', name: 'GET main', kind: 2 });
    expect(span.attributes).toEqual(
      expect.arrayContaining([
        { key: 'http.request.method', value: { stringValue: 'GET' } },
        { key: 'url.path', value: { stringValue: '/orders?x=1' } },
        { key: 'http.response.status_code', value: { intValue: 200 } },
        { key: 'http.route', value: { stringValue: 'main' } },
      ]),
    );
    expect(BigInt(span.endTimeUnixNano)).toBeGreaterThanOrEqual(BigInt(span.startTimeUnixNano));
    expect(collector.posts[0]).toBe('POST /v1/traces application/json');
  });

  it('exports a root span for a trace it starts, and none for an unsampled trace', async () => {
    const started = await fetchJson<EchoReply>(`${proxy.url}/a`);
    const traceId = String(started.json.headers.traceparent).slice(3, 35);
    await eventually(() => collector.spans.some((s) => s.traceId === traceId), 5_000, 'the root span');
    expect(collector.spans.find((s) => s.traceId === traceId)!.parentSpanId).toBeUndefined();
    await fetchJson(`${proxy.url}/b`, { headers: { traceparent: '00-11111111111111111111111111111111-2222222222222222-00' } });
    await fetchJson(`${proxy.url}/c`);
    const marker = String((await fetchJson<EchoReply>(`${proxy.url}/c`)).json.headers.traceparent).slice(3, 35);
    await eventually(() => collector.spans.some((s) => s.traceId === marker), 5_000, 'a later span');
    expect(collector.spans.some((s) => s.traceId === '11111111111111111111111111111111')).toBe(false);
    const spanCount = async (result: string) =>
      parsePrometheusText((await fetchText(`http://127.0.0.1:${proxy.app.adminAddress!.port}/metrics`)).body).find((m) => m.name === 'switchyard_trace_spans_total' && m.labels.result === result)!.value;
    // The exporter counts a batch once the collector's answer is in, just after the collector has it.
    await eventually(async () => (await spanCount('exported')) === collector.spans.length, 5_000, 'the exported count');
    expect(await spanCount('dropped')).toBe(0);
  });
});

describe('OtlpSpanExporter', () => {
  const span = (i: number): FinishedSpan => ({
    traceId: '4bf92f3577b34da6a3ce929d0e0e4736',
    spanId: `${i}`.padStart(16, '0'),
    parentSpanId: '',
    startMs: 1_700_000_000_000.5,
    endMs: 1_700_000_000_001.25,
    method: 'GET',
    path: '/',
    status: 200,
    route: 'r',
    service: 's',
    upstream: '127.0.0.1:1',
    error: undefined,
  });

  it('keeps at most maxQueue spans while the collector is unreachable, and counts what it drops', async () => {
    const log = captureLog();
    // A port that was just free and is closed again: connection refused.
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    const exporter = new OtlpSpanExporter({ endpoint: `http://127.0.0.1:${port}`, serviceName: 't', maxQueue: 100, batchSize: 50, flushIntervalMs: 10 }, log.logger);
    for (let i = 0; i < 10_000; i++) exporter.add(span(i));
    await exporter.close();
    expect(exporter.exported).toBe(0);
    expect(exporter.dropped).toBe(10_000);
    expect(log.find('span export failed')).toHaveLength(1);
  });

  it('writes Unix nanoseconds exactly to the microsecond', () => {
    expect(unixNanos(1_700_000_000_000.5)).toBe('1700000000000500000');
    expect(unixNanos(1_700_000_000_001.9999)).toBe('1700000000002000000');
    expect(unixNanos(0)).toBe('0');
  });
});

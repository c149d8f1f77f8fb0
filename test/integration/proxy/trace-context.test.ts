import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchJson } from '../../support/http-client.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00';
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-(0[01])$/;

describe('W3C trace context', () => {
  let app: TestUpstream;
  let proxy: ProxyHarness;
  const base = {
    listeners: [{ name: 'test', address: '127.0.0.1', port: 0 }],
    admin: { address: '127.0.0.1', port: 0 },
    registry: { type: 'file', path: 'services.yaml', debounce: '20ms' },
    // A rate limit too, so the route runs two request filters (trace context first).
    routes: [{ name: 'main', match: { path: '/' }, service: 'app', rateLimit: { requests: 1000 } }],
  };
  const accessLine = async (requestId: string) => {
    await eventually(() => proxy.log.lines.some((l) => l.msg === 'request' && l.requestId === requestId), 5_000, 'the access log line');
    return proxy.log.lines.find((l) => l.msg === 'request' && l.requestId === requestId)!;
  };

  beforeAll(async () => {
    app = await startUpstream('app');
    proxy = await startProxy({ services: { app: [{ port: app.port }] }, config: { ...base, tracing: { enabled: true } } });
  });
  afterAll(async () => {
    await proxy.close();
    await app.close();
  });

  it('passes a valid traceparent and its tracestate on unchanged (sampled flag kept) and logs the trace id', async () => {
    const r = await fetchJson<EchoReply>(`${proxy.url}/a`, { headers: { traceparent: VALID, tracestate: 'vendor=abc', 'x-request-id': 'trace-1' } });
    expect(r.json.headers.traceparent).toBe(VALID);
    expect(r.json.headers.tracestate).toBe('vendor=abc');
    expect((await accessLine('trace-1')).traceId).toBe('4bf92f3577b34da6a3ce929d0e0e4736');
  });

  it('starts a sampled trace for a request without one, and logs its id', async () => {
    const r = await fetchJson<EchoReply>(`${proxy.url}/a`, { headers: { 'x-request-id': 'trace-2' } });
    const m = TRACEPARENT.exec(String(r.json.headers.traceparent));
    expect(m).not.toBeNull();
    expect(m![3]).toBe('01');
    expect((await accessLine('trace-2')).traceId).toBe(m![1]);
  });

  it('replaces an invalid traceparent and drops the tracestate that came with it', async () => {
    const r = await fetchJson<EchoReply>(`${proxy.url}/a`, { headers: { traceparent: 'garbage', tracestate: 'vendor=abc' } });
    expect(String(r.json.headers.traceparent)).toMatch(TRACEPARENT);
    expect(r.json.headers.tracestate).toBeUndefined();
    expect(r.json.rawHeaders.filter((h) => h.toLowerCase() === 'traceparent')).toHaveLength(1);
  });

  it('starts unsampled traces with sampled: false, and does nothing when disabled', async () => {
    await writeFile(proxy.configFile, stringify({ ...base, tracing: { enabled: true, sampled: false } }));
    await proxy.app.reload();
    const unsampled = await fetchJson<EchoReply>(`${proxy.url}/a`);
    expect(TRACEPARENT.exec(String(unsampled.json.headers.traceparent))![3]).toBe('00');
    await writeFile(proxy.configFile, stringify(base));
    await proxy.app.reload();
    const off = await fetchJson<EchoReply>(`${proxy.url}/a`, { headers: { 'x-request-id': 'trace-off', traceparent: 'garbage' } });
    expect(off.json.headers.traceparent).toBe('garbage');
    expect((await accessLine('trace-off')).traceId).toBeUndefined();
  });

  it('rejects a bad tracing setting with the field named', async () => {
    await writeFile(proxy.configFile, stringify({ ...base, tracing: { enabled: 'yes' } }));
    await expect(proxy.app.reload()).rejects.toThrow(/tracing\.enabled/);
    await writeFile(proxy.configFile, stringify({ ...base, tracing: { enabeld: true } }));
    await expect(proxy.app.reload()).rejects.toThrow(/tracing/);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load-config.js';
import { fetchText } from '../../support/http-client.js';
import { parsePrometheusText, samples } from '../../support/prometheus-text.js';
import { startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';

const WRITE = 'write-token-0123456789abcdef';
const READ = 'read-token-0123456789abcdef';

describe('metrics-and-health listener (admin.metricsListener)', () => {
  let up: TestUpstream;
  let proxy: ProxyHarness;
  let metrics: string;
  let admin: string;

  beforeAll(async () => {
    up = await startUpstream('web');
    proxy = await startProxy({
      services: { web: [{ port: up.port }] },
      config: {
        admin: { address: '127.0.0.1', port: 0, token: WRITE, readToken: READ, metricsListener: { address: '127.0.0.1', port: 0 } },
        routes: [{ name: 'web', match: { path: '/' }, service: 'web' }],
      },
    });
    metrics = `http://127.0.0.1:${proxy.app.metricsAddress!.port}`;
    admin = `http://127.0.0.1:${proxy.app.adminAddress!.port}`;
  });
  afterAll(async () => {
    await proxy.close();
    await up.close();
  });

  it('serves /metrics without a token while the admin listener wants one, with the same counters', async () => {
    expect((await fetchText(`${proxy.url}/x`)).status).toBe(200);
    const scraped = await fetchText(`${metrics}/metrics`);
    expect(scraped.status).toBe(200);
    expect(scraped.headers['content-type']).toMatch(/^text\/plain/);
    const requests = samples(parsePrometheusText(scraped.body), 'switchyard_requests_total');
    expect(requests.reduce((n, s) => n + s.value, 0)).toBe(1);
    expect((await fetchText(`${admin}/metrics`)).status).toBe(401);
    expect((await fetchText(`${admin}/metrics`, { headers: { authorization: `Bearer ${READ}` } })).body).toContain('switchyard_requests_total');
  });

  it('serves /healthz and /readyz, HEAD too', async () => {
    expect(JSON.parse((await fetchText(`${metrics}/healthz`)).body)).toEqual({ status: 'ok' });
    const ready = await fetchText(`${metrics}/readyz`);
    expect(ready.status).toBe(200);
    expect(JSON.parse(ready.body)).toEqual({ status: 'ready' });
    const head = await fetchText(`${metrics}/metrics`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.body).toBe('');
  });

  it('answers 404 to everything of the admin API and 405 to other methods, whatever the token', async () => {
    for (const path of ['/', '/status.js', '/api/v1/config', '/api/v1/status', '/api/v1/reload', '/metrics/x', '/healthz/']) {
      for (const headers of [{}, { authorization: `Bearer ${WRITE}` }]) {
        const r = await fetchText(`${metrics}${path}`, { headers });
        expect(r.status, path).toBe(404);
        expect(JSON.parse(r.body)).toMatchObject({ error: 'not_found', message: expect.stringContaining('/metrics, /healthz and /readyz') });
      }
    }
    const post = await fetchText(`${metrics}/api/v1/reload`, { method: 'POST', headers: { authorization: `Bearer ${WRITE}` } });
    expect(post.status).toBe(404);
    const postMetrics = await fetchText(`${metrics}/metrics`, { method: 'POST' });
    expect(postMetrics.status).toBe(405);
    expect(postMetrics.headers.allow).toBe('GET, HEAD');
  });

  it('opens even with the admin listener disabled, and closes with the router', async () => {
    const other = await startProxy({ config: { admin: { enabled: false, metricsListener: { address: '127.0.0.1', port: 0 } } } });
    const port = other.app.metricsAddress!.port;
    expect(other.app.adminAddress).toBeNull();
    expect((await fetchText(`http://127.0.0.1:${port}/metrics`)).body).toContain('switchyard_');
    await other.close();
    await expect(fetchText(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow(/ECONNREFUSED/);
  });

  it('is off by default', async () => {
    const other = await startProxy();
    try {
      expect(other.app.metricsAddress).toBeNull();
    } finally {
      await other.close();
    }
  });
});

describe('metrics listener configuration', () => {
  it('may bind a non-loopback address without any token (the admin listener may not)', () => {
    const config = parseConfigText('c.yaml', 'admin:\n  metricsListener: { address: 0.0.0.0, port: 9102 }\n');
    expect(config.admin.metricsListener).toEqual({ address: '0.0.0.0', port: 9102 });
    expect(config.admin.token).toBeUndefined();
    expect(parseConfigText('c.yaml', 'admin:\n  metricsListener: { port: 9102 }\n').admin.metricsListener).toEqual({ address: '0.0.0.0', port: 9102 });
    expect(() => parseConfigText('c.yaml', 'admin:\n  address: 0.0.0.0\n  metricsListener: { port: 9102 }\n')).toThrow(/admin\.token: is required when the admin listener is not on a loopback address/);
  });

  it('rejects a port the admin listener or a client listener already has, and a missing port', () => {
    expect(() => parseConfigText('c.yaml', 'admin:\n  metricsListener: { address: 127.0.0.1, port: 9901 }\n')).toThrow(/admin\.metricsListener\.port: 127\.0\.0\.1:9901 is also the admin listener/);
    expect(() => parseConfigText('c.yaml', 'listeners: [{ port: 8080 }]\nadmin:\n  metricsListener: { address: 127.0.0.1, port: 8080 }\n')).toThrow(/admin\.metricsListener\.port: .*is also listeners\[0\]/);
    expect(() => parseConfigText('c.yaml', 'admin:\n  metricsListener: { address: 0.0.0.0 }\n')).toThrow(/admin\.metricsListener\.port: is required/);
    expect(() => parseConfigText('c.yaml', 'admin:\n  metricsListener: { port: 9102, path: /m }\n')).toThrow(/admin\.metricsListener\.path: unknown field/);
    // Another address, or the admin listener turned off: no clash.
    expect(parseConfigText('c.yaml', 'admin:\n  metricsListener: { address: 127.0.0.2, port: 9901 }\n').admin.metricsListener!.port).toBe(9901);
    expect(parseConfigText('c.yaml', 'admin:\n  enabled: false\n  metricsListener: { address: 127.0.0.1, port: 9901 }\n').admin.metricsListener!.port).toBe(9901);
  });
});

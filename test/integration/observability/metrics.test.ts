import { writeFile, readFile } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { parsePrometheusText, samples, value, type Sample } from '../../support/prometheus-text.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';
import { freePort } from '../../support/free-port.js';

describe('/metrics after known traffic', () => {
  let api: TestUpstream;
  let failing: TestUpstream;
  let proxy: ProxyHarness;
  let admin: string;
  let deadPort: number;

  beforeAll(async () => {
    api = await startUpstream('api');
    failing = await startUpstream('failing', (_req, res) => {
      res.writeHead(503, { 'content-length': '4' });
      res.end('down');
    });
    deadPort = await freePort(); // refuses connections
    proxy = await startProxy({
      services: { api: [{ port: api.port }], failing: [{ port: failing.port }], dead: [{ port: deadPort }] },
      config: {
        routes: [
          { name: 'api', match: { path: '/api' }, service: 'api' },
          { name: 'failing', match: { path: '/failing' }, service: 'failing' },
          { name: 'dead', match: { path: '/dead' }, service: 'dead' },
        ],
      },
    });
    const a = proxy.app.adminAddress!;
    admin = `http://127.0.0.1:${a.port}`;
  });
  afterAll(async () => {
    await proxy.close();
    await api.close();
    await failing.close();
  });

  async function scrape(): Promise<Sample[]> {
    const r = await fetchText(`${admin}/metrics`);
    expect(r.status).toBe(200);
    expect(r.headers['content-type']).toContain('text/plain');
    return parsePrometheusText(r.body);
  }

  it('counts requests by route, service, method and status class, with matching histograms', async () => {
    for (let i = 0; i < 3; i++) expect((await fetchText(`${proxy.url}/api/get`)).status).toBe(200);
    for (let i = 0; i < 2; i++) expect((await fetchText(`${proxy.url}/api/post`, { method: 'POST', body: 'hello' })).status).toBe(200);
    expect((await fetchText(`${proxy.url}/api/odd`, { method: 'PROPFIND' })).status).toBe(200);
    expect((await fetchText(`${proxy.url}/failing`)).status).toBe(503);
    expect((await fetchText(`${proxy.url}/nowhere`)).status).toBe(404);
    expect((await fetchText(`${proxy.url}/dead`)).status).toBe(502);

    const m = await scrape();
    const req = (labels: Record<string, string>) => value(m, 'switchyard_requests_total', labels);
    expect(req({ route: 'api', service: 'api', method: 'GET', status_class: '2xx' })).toBe(3);
    expect(req({ route: 'api', service: 'api', method: 'POST', status_class: '2xx' })).toBe(2);
    expect(req({ route: 'api', service: 'api', method: 'OTHER', status_class: '2xx' })).toBe(1);
    expect(req({ route: 'failing', service: 'failing', method: 'GET', status_class: '5xx' })).toBe(1);
    expect(req({ route: '', service: '', method: 'GET', status_class: '4xx' })).toBe(1);
    expect(req({ route: 'dead', service: 'dead', method: 'GET', status_class: '5xx' })).toBe(1);
    // Exactly these series exist: nothing for combinations that saw no traffic, no raw paths.
    expect(samples(m, 'switchyard_requests_total')).toHaveLength(6);
    expect(samples(m, 'switchyard_requests_total').reduce((n, s) => n + s.value, 0)).toBe(9);
    expect(samples(m, 'switchyard_requests_total').every((s) => !s.labels.route!.includes('/'))).toBe(true);

    expect(value(m, 'switchyard_request_duration_seconds_count', { route: 'api', method: 'GET', status_class: '2xx' })).toBe(3);
    expect(value(m, 'switchyard_request_duration_seconds_bucket', { route: 'api', method: 'GET', status_class: '2xx', le: '+Inf' })).toBe(3);
    expect(value(m, 'switchyard_request_body_bytes_total', { route: 'api', service: 'api' })).toBe(10);
    expect(value(m, 'switchyard_response_body_bytes_total', { route: 'failing', service: 'failing' })).toBe(4);

    expect(value(m, 'switchyard_upstream_attempt_duration_seconds_count', { service: 'api', outcome: 'response' })).toBe(6);
    // The 503 is retried (retryOn gateway-error, maxRetries 2) on the only instance: three attempts, each counted.
    expect(value(m, 'switchyard_upstream_attempt_duration_seconds_count', { service: 'failing', outcome: 'response' })).toBe(3);
    expect(value(m, 'switchyard_upstream_retries_total', { service: 'failing' })).toBe(2);
    // The refused connection is retried twice on the same (only) instance: three failed attempts.
    expect(value(m, 'switchyard_upstream_attempt_duration_seconds_count', { service: 'dead', outcome: 'connect_failed' })).toBe(3);
    expect(value(m, 'switchyard_upstream_connect_errors_total', { service: 'dead' })).toBe(3);
    expect(value(m, 'switchyard_upstream_retries_total', { service: 'dead' })).toBe(2);
    expect(value(m, 'switchyard_upstream_connect_errors_total', { service: 'api' })).toBe(0);
    expect(value(m, 'switchyard_upstream_timeouts_total', { service: 'api' })).toBe(0);
    expect(value(m, 'switchyard_upstream_retries_total', { service: 'api' })).toBe(0);
    expect(value(m, 'switchyard_proxy_errors_total', { code: 'no_route' })).toBe(1);
    expect(value(m, 'switchyard_proxy_errors_total', { code: 'upstream_connect_failed' })).toBe(1);
  });

  it('reports endpoints per service, registry state, build info and process metrics', async () => {
    await proxy.writeServices({ api: [{ port: api.port }, { port: api.port + 0, address: '127.0.0.2', health: 'critical' }], failing: [{ port: failing.port }], dead: [{ port: deadPort }] });
    await eventually(async () => value(await scrape(), 'switchyard_service_endpoints', { service: 'api' }) === 2, 5_000, 'registry update');
    const m = await scrape();
    expect(value(m, 'switchyard_service_endpoints_healthy', { service: 'api' })).toBe(1);
    expect(value(m, 'switchyard_service_endpoints', { service: 'dead' })).toBe(1);
    expect(value(m, 'switchyard_registry_synced')).toBe(1);
    expect(value(m, 'switchyard_registry_sync_age_seconds')).toBeGreaterThanOrEqual(0);
    expect(value(m, 'switchyard_registry_sync_errors_total')).toBe(0);
    expect(value(m, 'switchyard_client_connections_open', { listener: 'test' })).toBeGreaterThanOrEqual(0);
    const build = samples(m, 'switchyard_build_info');
    expect(build).toHaveLength(1);
    expect(build[0]!.labels.node_version).toBe(process.version);
    expect(value(m, 'process_cpu_user_seconds_total')).toBeGreaterThan(0);
    expect(samples(m, 'nodejs_eventloop_lag_seconds')).toHaveLength(1);

    await writeFile(proxy.servicesFile, 'services: [not, a, mapping');
    await eventually(async () => value(await scrape(), 'switchyard_registry_sync_errors_total') === 1, 5_000, 'registry error counted');
  });

  it('counts rejected and accepted reloads and shows the rejection in the API', async () => {
    const good = await readFile(proxy.configFile, 'utf8');
    await writeFile(proxy.configFile, `${good}\nroutez: []\n`);
    const rejected = await fetchJson<{ error: string; message: string }>(`${admin}/api/v1/reload`, { method: 'POST' });
    expect(rejected.status).toBe(422);
    expect(rejected.json.message).toContain('routez');
    let m = await scrape();
    expect(value(m, 'switchyard_config_reloads_total', { result: 'failure' })).toBe(1);
    expect(value(m, 'switchyard_config_reloads_total', { result: 'success' })).toBe(0);
    expect(value(m, 'switchyard_config_last_reload_successful')).toBe(0);
    const status = await fetchJson<{ reload: { ok: boolean; error: string } }>(`${admin}/api/v1/status`);
    expect(status.json.reload.ok).toBe(false);
    expect(status.json.reload.error).toContain('routez: unknown field');
    // The old configuration keeps serving.
    expect((await fetchText(`${proxy.url}/api/still`)).status).toBe(200);

    await writeFile(proxy.configFile, good);
    expect((await fetchJson(`${admin}/api/v1/reload`, { method: 'POST' })).status).toBe(200);
    m = await scrape();
    expect(value(m, 'switchyard_config_reloads_total', { result: 'success' })).toBe(1);
    expect(value(m, 'switchyard_config_last_reload_successful')).toBe(1);
    expect(value(m, 'switchyard_config_last_reload_success_timestamp_seconds')).toBeGreaterThan(Date.now() / 1000 - 60);
  });

  it('writes one access log line per request with the request fields', async () => {
    const r = await fetchText(`${proxy.url}/api/logged?x=1`, { method: 'POST', body: 'abc', headers: { 'x-request-id': 'req-log-1', host: 'svc.test' } });
    expect(r.status).toBe(200);
    // Access lines reach the log in batches (at most 100 ms later): wait for this request's line.
    await eventually(() => proxy.log.lines.some((l) => l.requestId === 'req-log-1' && l.component === 'access'), 5_000, 'access line');
    await new Promise((r) => setTimeout(r, 250));
    const line = proxy.log.lines.filter((l) => l.requestId === 'req-log-1' && l.component === 'access');
    expect(line).toHaveLength(1);
    expect(line[0]).toMatchObject({
      msg: 'request',
      method: 'POST',
      host: 'svc.test',
      path: '/api/logged?x=1',
      status: 200,
      bytesIn: 3,
      bytesOut: Buffer.byteLength(r.body),
      route: 'api',
      service: 'api',
      upstream: `127.0.0.1:${api.port}`,
      upstreamStatus: 200,
      retries: 0,
    });
    expect(typeof line[0]!.durationMs).toBe('number');
    expect(typeof line[0]!.upstreamMs).toBe('number');
    expect(line[0]!.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  });

  it('logs upstream failures in the access line with their cause', async () => {
    const r = await fetchText(`${proxy.url}/dead`, { headers: { 'x-request-id': 'req-dead-1' } });
    expect(r.status).toBe(502);
    await eventually(() => proxy.log.lines.some((l) => l.requestId === 'req-dead-1' && l.component === 'access'), 5_000, 'access line');
    const line = proxy.log.lines.find((l) => l.requestId === 'req-dead-1' && l.component === 'access')!;
    expect(line.error).toBe('upstream_connect_failed');
    expect(line.status).toBe(502);
    expect((line.err as { message: string; code?: string }).code).toBe('ECONNREFUSED');
  });
});

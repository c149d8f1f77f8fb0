import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { freePort } from '../../support/free-port.js';
import { fetchText, type ClientResponse } from '../../support/http-client.js';
import { parsePrometheusText, samples } from '../../support/prometheus-text.js';
import { eventually, servicesYaml } from '../../support/proxy-harness.js';
import { startRouterProcess, type RouterProcess } from '../../support/router-process.js';
import { MARKER, secretValue } from '../../support/secret-config.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';

const READ = secretValue('admin-readToken');
const WRITE = secretValue('admin-token');

describe('cluster mode (workers: 2): tokens, the metrics listener and no secret in any answer or log line', () => {
  let upstream: TestUpstream;
  let dir: string;
  let router: RouterProcess;
  let metrics: string;
  const answers: { what: string; r: ClientResponse }[] = [];

  const get = async (base: string, path: string, token?: string) => {
    const r = await fetchText(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    answers.push({ what: `GET ${base}${path}${token ? ' (token)' : ''}`, r });
    return r;
  };
  const post = async (path: string, token?: string) => {
    const r = await fetchText(`${router.adminUrl}${path}`, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {} });
    answers.push({ what: `POST ${path}`, r });
    return r;
  };

  beforeAll(async () => {
    upstream = await startUpstream('app');
    dir = await mkdtemp(join(tmpdir(), 'switchyard-cluster-secrets-'));
    const configFile = join(dir, 'config.yaml');
    await writeFile(join(dir, 'services.yaml'), servicesYaml({ app: [{ port: upstream.port }] }));
    const metricsPort = await freePort();
    await writeFile(
      configFile,
      stringify({
        workers: 2,
        listeners: [{ name: 'test', address: '127.0.0.1', port: await freePort() }],
        admin: { address: '127.0.0.1', port: await freePort(), token: WRITE, readToken: READ, metricsListener: { address: '127.0.0.1', port: metricsPort } },
        registry: { type: 'file', path: 'services.yaml', watch: false },
        routes: [{ name: 'app', match: { path: '/', headers: { 'x-api-key': secretValue('match-api-key') } }, service: 'app' }],
        tracing: { enabled: true, otlp: { endpoint: `http://127.0.0.1:${await freePort()}`, headers: { authorization: `Bearer ${secretValue('otlp-authorization')}` }, flushInterval: '50ms' } },
        sidecar: { service: 'orders', port: 8081, app: { command: ['node', 'app.js'], port: 3000, env: { DB_PASSWORD: secretValue('env-db') } }, consul: { token: secretValue('sidecar-consul-token') } },
        logging: { level: 'debug' },
        shutdown: { gracePeriod: '2s', drainDelay: '0s' },
      }),
    );
    router = await startRouterProcess(configFile);
    metrics = `http://127.0.0.1:${metricsPort}`;
    await eventually(() => router.stderr().includes(`metrics:          ${metrics}/metrics`), 5_000, 'the metrics listener in the banner');
  });
  afterAll(async () => {
    if (router && router.child.exitCode === null) await router.stop('SIGTERM');
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('guards what the primary answers itself (/metrics, the merged traffic) and what it relays with the read token', async () => {
    // A request with the route's header: a span to export (to a closed port: the failure is logged).
    expect((await fetchText(`${router.url}/x`, { headers: { 'x-api-key': secretValue('match-api-key') } })).status).toBe(200);
    for (const path of ['/metrics', '/api/v1/traffic', '/api/v1/status', '/api/v1/config', '/api/v1/routes', '/api/v1/services', '/api/v1/registry', '/api/v1/overrides']) {
      expect((await get(router.adminUrl, path)).status, path).toBe(401);
      expect((await get(router.adminUrl, path, READ)).status, path).toBe(200);
      expect((await get(router.adminUrl, path, WRITE)).status, path).toBe(200);
    }
    for (const path of ['/healthz', '/readyz', '/', '/status.js']) expect((await get(router.adminUrl, path)).status, path).toBe(200);
    const config = JSON.parse(answers.find((a) => a.what === `GET ${router.adminUrl}/api/v1/config (token)`)!.r.body) as Record<string, any>;
    expect(config.admin).toMatchObject({ token: '(redacted)', readToken: '(redacted)' });
  });

  it('refuses a mutation with the read token at the primary (403), applies it with the admin token', async () => {
    expect((await post('/api/v1/reload', READ)).status).toBe(403);
    expect((await post('/api/v1/reload')).status).toBe(401);
    expect((await post('/api/v1/reload', WRITE)).status).toBe(200);
  });

  it('serves the metrics listener from the primary: metrics summed over the workers, probes, nothing else', async () => {
    const m = await get(metrics, '/metrics');
    expect(m.status).toBe(200);
    expect(samples(parsePrometheusText(m.body), 'switchyard_requests_total').reduce((n, s) => n + s.value, 0)).toBe(1);
    expect((await get(metrics, '/healthz')).status).toBe(200);
    expect(JSON.parse((await get(metrics, '/readyz')).body)).toEqual({ status: 'ready' });
    for (const path of ['/api/v1/config', '/api/v1/status', '/']) expect((await get(metrics, path, WRITE)).status, path).toBe(404);
  });

  it('wrote no secret in any answer, nor in the primary\'s or the workers\' log lines', async () => {
    await eventually(() => router.stdout().includes('span export failed'), 10_000, 'a logged span export failure');
    expect(answers.length).toBeGreaterThan(30);
    for (const { what, r } of answers) expect(r.body, what).not.toContain(MARKER);
    expect(router.stdout()).toContain('configuration reloaded');
    expect(router.stdout()).not.toContain(MARKER);
    expect(router.stderr()).not.toContain(MARKER);
    expect(await router.stop('SIGTERM')).toBe(0);
    expect(router.stdout()).toContain('cluster stopped');
    expect(router.stdout()).not.toContain(MARKER);
  });
});

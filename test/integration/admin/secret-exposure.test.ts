import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { Switchyard } from '../../../src/main.js';
import { createProcessLog } from '../../../src/observability/logger.js';
import { createSelfSigned, createTestCa } from '../../support/certificates.js';
import { ConsulEmulator } from '../../support/consul-emulator.js';
import { fetchText, type ClientResponse } from '../../support/http-client.js';
import { eventually } from '../../support/proxy-harness.js';
import { MARKER, secretBearingConfig, secretValue } from '../../support/secret-config.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';

/** Every GET the admin listener answers (the status page, probes, metrics and the whole /api/v1). */
const ADMIN_READS = [
  '/',
  '/status.js',
  '/status.css',
  '/favicon.svg',
  '/healthz',
  '/readyz',
  '/metrics',
  '/api/v1/status',
  '/api/v1/routes',
  '/api/v1/services',
  '/api/v1/services/api',
  '/api/v1/services/other',
  '/api/v1/config',
  '/api/v1/registry',
  '/api/v1/overrides',
  '/api/v1/traffic',
  '/api/v1/traffic?raw=1',
  '/api/v1/no-such-endpoint',
];

/** What the metrics listener answers (and a path it does not). */
const METRICS_READS = ['/metrics', '/healthz', '/readyz', '/api/v1/config', '/'];

/** A collector stand-in that keeps the headers of each export request. */
async function startCollector(): Promise<{ url: string; exports: IncomingHttpHeaders[]; server: Server }> {
  const exports: IncomingHttpHeaders[] = [];
  const server = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      exports.push(req.headers);
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, exports, server };
}

describe('no secret in any admin answer or log line (router with every secret-bearing field set)', () => {
  let dir: string;
  let configFile: string;
  let consul: ConsulEmulator;
  let collector: Awaited<ReturnType<typeof startCollector>>;
  let upstream: TestUpstream;
  let app: Switchyard;
  let admin: string;
  let metrics: string;
  let doc: Record<string, unknown>;
  let keyPem: string;
  const log: string[] = [];
  /** Every answer fetched, for the final check. */
  const answers: { what: string; r: ClientResponse }[] = [];
  const readToken = secretValue('admin-readToken');
  const writeToken = secretValue('admin-token');

  const get = async (base: string, path: string, token?: string) => {
    const r = await fetchText(`${base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });
    answers.push({ what: `GET ${base}${path}${token ? ' (token)' : ''}`, r });
    return r;
  };
  const send = async (method: string, path: string, body?: unknown, token = writeToken) => {
    const r = await fetchText(`${admin}${path}`, { method, headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    answers.push({ what: `${method} ${path}`, r });
    return r;
  };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-secrets-'));
    const ca = await createTestCa(dir);
    const site = await createSelfSigned(dir, 'site', 'localhost', ['DNS:localhost']);
    keyPem = await readFile(site.key, 'utf8');
    upstream = await startUpstream('api');
    collector = await startCollector();
    consul = await ConsulEmulator.start({ acl: { [secretValue('registry-token')]: { serviceRead: '*', write: true } } });
    consul.register({ ID: 'api-1', Name: 'api', Address: '127.0.0.1', Port: upstream.port });
    consul.register({ ID: 'other-1', Name: 'other', Address: '127.0.0.1', Port: upstream.port });
    doc = secretBearingConfig({ consulAddress: consul.address, otlpEndpoint: collector.url, cert: site.cert, key: site.key, ca: ca.cert });
    configFile = join(dir, 'config.yaml');
    await writeFile(configFile, stringify(doc));
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        log.push(chunk.toString('utf8'));
        done();
      },
    });
    // The product's logger (its redaction included), at the most talkative level.
    app = await Switchyard.start(configFile, { log: createProcessLog({ level: 'trace', destination: sink }) });
    admin = `http://127.0.0.1:${app.adminAddress!.port}`;
    metrics = `http://127.0.0.1:${app.metricsAddress!.port}`;
  });
  afterAll(async () => {
    await app?.close(1_000);
    await consul?.close();
    await upstream?.close();
    await new Promise<void>((resolve) => collector?.server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });

  it('used every secret for real: Consul saw the token, the collector the export headers', async () => {
    expect(app.ready).toBe(true);
    // The route matches only with its headers (Authorization among them); the span is exported with the OTLP headers.
    const proxied = await fetchText(`${app.addresses[0]!.url}/api/x`, { headers: { authorization: `Bearer ${secretValue('match-authorization')}`, 'x-tenant': 'acme' } });
    // services.api speaks TLS (its tls section) to a plain-HTTP instance: 502, logged with the request.
    expect(proxied.status).toBe(502);
    await eventually(() => collector.exports.length > 0, 5_000, 'a span export');
    expect(collector.exports[0]).toMatchObject({ authorization: `Bearer ${secretValue('otlp-authorization')}`, 'x-honeycomb-team': secretValue('otlp-team'), 'content-type': 'application/json' });
  });

  it('answers every admin read (with and without the read token) and every metrics listener read without a secret', async () => {
    for (const path of ADMIN_READS) {
      const open = await get(admin, path);
      const withToken = await get(admin, path, readToken);
      if (['/', '/status.js', '/status.css', '/favicon.svg', '/healthz', '/readyz'].includes(path)) expect(open.status, path).toBe(200);
      else expect(open.status, path).toBe(401);
      expect(withToken.status, path).toBe(path === '/api/v1/no-such-endpoint' ? 404 : 200);
    }
    for (const path of METRICS_READS) await get(metrics, path);
    // The configuration is there, secrets replaced.
    const config = JSON.parse(answers.find((a) => a.what === `GET ${admin}/api/v1/config (token)`)!.r.body) as Record<string, any>;
    expect(config.admin.token).toBe('(redacted)');
    expect(config.registry).toMatchObject({ token: '(redacted)', address: consul.address, stateKey: 'switchyard/secret-test' });
    expect(config.routes[0].match.headers).toEqual({ authorization: '(redacted)', 'x-tenant': 'acme' });
    expect(config.listeners[1].tls.key).toBe(join(dir, 'site.key'));
    const routes = JSON.parse(answers.find((a) => a.what === `GET ${admin}/api/v1/routes (token)`)!.r.body) as { name: string; headers: Record<string, string> }[];
    expect(routes.find((r) => r.name === 'api')!.headers).toEqual({ authorization: '(redacted)', 'x-tenant': 'acme' });
  });

  it('answers mutations (override with a credential header, reload, a rejected reload) without a secret', async () => {
    const added = await send('POST', '/api/v1/overrides', {
      op: 'add',
      route: { name: 'extra', match: { path: '/extra', headers: { authorization: `Bearer ${secretValue('override-authorization')}` } }, service: 'api', headerRules: { request: { set: { 'x-api-key': secretValue('override-api-key') } } } },
    });
    expect(added.status).toBe(201);
    expect((await get(admin, '/api/v1/overrides', readToken)).status).toBe(200);
    expect((await get(admin, '/api/v1/routes', readToken)).status).toBe(200);
    expect((await send('POST', '/api/v1/overrides', {}, readToken)).status).toBe(403);

    expect((await send('POST', '/api/v1/reload')).status).toBe(200);
    // A file whose secret is of the wrong type: the rejection names the field, not the value.
    const bad = structuredClone(doc) as any;
    bad.tracing.otlp.headers.authorization = 4242424242424242;
    bad.admin.readToken = [secretValue('bad-readToken')];
    await writeFile(configFile, stringify(bad));
    const rejected = await send('POST', '/api/v1/reload');
    expect(rejected.status).toBe(422);
    expect(rejected.body).toContain('tracing.otlp.headers.authorization');
    const status = await get(admin, '/api/v1/status', readToken);
    expect(JSON.parse(status.body).reload.ok).toBe(false);
    expect(status.body).not.toContain('4242424242424242');
    expect(rejected.body).not.toContain('4242424242424242');
    await writeFile(configFile, stringify(doc));
    expect((await send('POST', '/api/v1/reload')).status).toBe(200);
    expect((await send('DELETE', '/api/v1/overrides')).status).toBe(200);
  });

  it('logs Consul refusing the token without the token', async () => {
    consul.setFault({ kind: 'status', status: 403, body: 'ACL not found' });
    const before = log.length;
    // The stored operator state is written to Consul KV: the refused write is logged and answered 503.
    const drained = await send('POST', '/api/v1/endpoints/drain', { endpoint: `127.0.0.1:${upstream.port}`, service: 'api' });
    expect(drained.status).toBe(503);
    await eventually(() => log.slice(before).some((l) => l.includes('refused the ACL token')), 10_000, 'a logged Consul refusal');
    consul.clearFaults();
    expect((await send('POST', '/api/v1/endpoints/undrain', { endpoint: `127.0.0.1:${upstream.port}`, service: 'api' })).status).toBe(200);
  });

  it('wrote no secret in any answer or log line (start, reads, reloads, Consul errors)', async () => {
    expect(answers.length).toBeGreaterThan(40);
    for (const { what, r } of answers) {
      expect(r.body, what).not.toContain(MARKER);
      expect(r.body, what).not.toContain('4242424242424242');
      expect(r.body, what).not.toContain(keyPem.split('\n')[1]);
      expect(JSON.stringify(r.headers), what).not.toContain(MARKER);
    }
    const text = log.join('');
    expect(text).toContain('configuration reloaded');
    expect(text).toContain('configuration rejected');
    expect(text).toContain('refused the ACL token');
    expect(text).not.toContain(MARKER);
    expect(text).not.toContain('4242424242424242');
    expect(text).not.toContain(keyPem.split('\n')[1]);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

const TOKEN = 'test-admin-token-0123456789';

describe('admin API', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let other: TestUpstream;
  let proxy: ProxyHarness;
  let admin: string;

  beforeAll(async () => {
    [a, b, other] = await Promise.all([startUpstream('a'), startUpstream('b'), startUpstream('other')]);
    proxy = await startProxy({
      services: { web: [{ id: 'web-a', port: a.port, tags: ['stable'] }, { id: 'web-b', port: b.port, tags: ['canary'] }], other: [{ port: other.port }], unrouted: [{ port: 1 }] },
      config: { routes: [{ name: 'web', match: { path: '/' }, service: 'web' }] },
    });
    admin = `http://127.0.0.1:${proxy.app.adminAddress!.port}`;
  });
  afterAll(async () => {
    await proxy.close();
    await Promise.all([a, b, other].map((u) => u.close()));
  });

  const post = (path: string, body?: unknown) =>
    fetchJson<any>(`${admin}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
  const instancesServed = async (n: number) => {
    const seen: string[] = [];
    for (let i = 0; i < n; i++) seen.push((await fetchJson<EchoReply>(`${proxy.url}/x`)).json.instance);
    return seen;
  };

  it('keeps /healthz and /readyz', async () => {
    expect((await fetchJson(`${admin}/healthz`)).json).toEqual({ status: 'ok' });
    expect((await fetchJson(`${admin}/readyz`)).status).toBe(200);
  });

  it('lists routes and services with endpoints', async () => {
    const routes = (await fetchJson<any[]>(`${admin}/api/v1/routes`)).json;
    expect(routes).toEqual([expect.objectContaining({ name: 'web', source: 'config', path: '/', service: 'web', host: null })]);
    const services = (await fetchJson<any[]>(`${admin}/api/v1/services`)).json;
    expect(services.map((s) => s.name)).toEqual(['other', 'unrouted', 'web']);
    const web = services.find((s) => s.name === 'web');
    expect(web).toMatchObject({ routed: true, total: 2, healthy: 2, balancer: 'weighted_round_robin' });
    expect(web.endpoints[0]).toMatchObject({ endpoint: `127.0.0.1:${a.port}`, id: 'web-a', health: 'passing', drained: false, available: true, inFlight: 0, weight: 1, source: 'file' });
    expect(services.find((s) => s.name === 'unrouted').routed).toBe(false);
    expect((await fetchJson(`${admin}/api/v1/services/web`)).json).toEqual(web);
    expect((await fetchJson(`${admin}/api/v1/services/nope`)).status).toBe(404);
  });

  it('shows the effective config, registry status and overall status', async () => {
    const config = (await fetchJson<any>(`${admin}/api/v1/config`)).json;
    expect(config.routes[0].name).toBe('web');
    expect(config.logging).toEqual({ level: 'info', accessLog: true, maxBuffer: 16 * 1024 * 1024 });
    const registry = (await fetchJson<any>(`${admin}/api/v1/registry`)).json;
    expect(registry).toMatchObject({ source: 'file', synced: true, lastError: null, services: 3 });
    const status = (await fetchJson<any>(`${admin}/api/v1/status`)).json;
    expect(status).toMatchObject({ ready: true, configFile: proxy.configFile, reload: { ok: true, at: null } });
    expect(status.listeners).toEqual([{ name: 'test', address: '127.0.0.1', port: proxy.port, tls: false, protocols: ['http1'], connections: expect.any(Number), http2Connections: 0 }]);
  });

  it('drains an endpoint: the balancer stops picking it until undrained', async () => {
    const drained = await post('/api/v1/endpoints/drain', { endpoint: 'web-a' });
    expect(drained.status).toBe(200);
    expect(drained.json).toEqual([expect.objectContaining({ id: 'web-a', drained: true, available: false })]);
    expect(new Set(await instancesServed(6))).toEqual(new Set(['b']));
    expect((await fetchJson<any>(`${admin}/api/v1/services/web`)).json.healthy).toBe(1);

    // Survives a registry update and a reload.
    await proxy.writeServices({ web: [{ id: 'web-a', port: a.port, tags: ['stable'] }, { id: 'web-b', port: b.port, weight: 2, tags: ['canary'] }], other: [{ port: other.port }], unrouted: [{ port: 1 }] });
    await eventually(
      async () => (await fetchJson<any>(`${admin}/api/v1/services/web`)).json.endpoints.some((e: any) => e.id === 'web-b' && e.registryWeight === 2),
      5_000,
      'the services file change to be applied',
    );
    expect((await post('/api/v1/reload')).status).toBe(200);
    expect(new Set(await instancesServed(6))).toEqual(new Set(['b']));

    expect((await post('/api/v1/endpoints/undrain', { endpoint: `127.0.0.1:${a.port}`, service: 'web' })).status).toBe(200);
    expect(new Set(await instancesServed(6))).toEqual(new Set(['a', 'b']));
    expect((await post('/api/v1/endpoints/drain', { endpoint: '10.9.9.9:1' })).status).toBe(404);
    expect((await post('/api/v1/endpoints/drain', {})).status).toBe(400);
  });

  it('adds, removes and weights routes through overrides', async () => {
    const added = await post('/api/v1/overrides', { op: 'add', route: { name: 'other', match: { path: '/other' }, service: 'other' } });
    expect(added.status).toBe(201);
    expect((await fetchJson<EchoReply>(`${proxy.url}/other/x`)).json.instance).toBe('other');
    const routes = (await fetchJson<any[]>(`${admin}/api/v1/routes`)).json;
    expect(routes.find((r) => r.name === 'other').source).toBe('override');

    const weighted = await post('/api/v1/overrides', { op: 'weight', service: 'web', tags: ['canary'], weight: 3 });
    expect(weighted.status).toBe(201);
    const b2 = (await fetchJson<any>(`${admin}/api/v1/services/web`)).json.endpoints.find((e: any) => e.id === 'web-b');
    expect(b2).toMatchObject({ weight: 3, registryWeight: 2 });
    const served = await instancesServed(8);
    expect(served.filter((i) => i === 'b')).toHaveLength(6);

    const removed = await post('/api/v1/overrides', { op: 'remove', name: 'web' });
    expect(removed.status).toBe(201);
    expect((await fetchText(`${proxy.url}/x`)).status).toBe(404);

    const list = (await fetchJson<any[]>(`${admin}/api/v1/overrides`)).json;
    expect(list.map((o) => o.override.op)).toEqual(['add', 'weight', 'remove']);
    const del = await fetchJson(`${admin}/api/v1/overrides/${list[2].id}`, { method: 'DELETE' });
    expect(del.status).toBe(200);
    expect((await fetchJson<EchoReply>(`${proxy.url}/x`)).json.instance).toMatch(/^[ab]$/);

    const bad = await post('/api/v1/overrides', { op: 'add', route: { name: 'x', match: { path: 'no-slash' } } });
    expect(bad.status).toBe(400);
    expect(bad.json.message).toContain('route.match.path: must start with "/"');
    expect(bad.json.message).toContain('route.service');

    expect((await fetchJson(`${admin}/api/v1/overrides`, { method: 'DELETE' })).status).toBe(200);
    expect((await fetchJson<any[]>(`${admin}/api/v1/overrides`)).json).toEqual([]);
    expect((await fetchJson<any>(`${admin}/api/v1/services/web`)).json.endpoints.find((e: any) => e.id === 'web-b').weight).toBe(2);
  });

  it('refuses mutations from another origin and unknown endpoints', async () => {
    const r = await fetchJson<any>(`${admin}/api/v1/reload`, { method: 'POST', headers: { origin: 'http://evil.example' } });
    expect(r.status).toBe(403);
    expect((await fetchJson(`${admin}/api/v1/nothing`)).status).toBe(404);
    expect((await fetchJson(`${admin}/api/v1/routes`, { method: 'PUT' })).status).toBe(405);
    expect((await fetchJson(`${admin}/api/v1/overrides`, { method: 'POST', body: '{not json' })).status).toBe(400);
  });
});

describe('admin API with a token', () => {
  let proxy: ProxyHarness;
  let admin: string;

  beforeAll(async () => {
    proxy = await startProxy({ services: {}, config: { admin: { address: '127.0.0.1', port: 0, token: TOKEN } } });
    admin = `http://127.0.0.1:${proxy.app.adminAddress!.port}`;
  });
  afterAll(() => proxy.close());

  it('answers mutations without the right bearer token with 401, reads stay open', async () => {
    for (const [method, path] of [
      ['POST', '/api/v1/reload'],
      ['POST', '/api/v1/endpoints/drain'],
      ['POST', '/api/v1/overrides'],
      ['DELETE', '/api/v1/overrides'],
      ['DELETE', '/api/v1/overrides/1'],
    ] as const) {
      const none = await fetchJson<any>(`${admin}${path}`, { method });
      expect(none.status, `${method} ${path}`).toBe(401);
      expect(none.headers['www-authenticate']).toContain('Bearer');
      const wrong = await fetchJson(`${admin}${path}`, { method, headers: { authorization: `Bearer ${TOKEN}x` } });
      expect(wrong.status, `${method} ${path} wrong token`).toBe(401);
    }
    expect((await fetchJson(`${admin}/api/v1/reload`, { method: 'POST', headers: { authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
    expect((await fetchJson(`${admin}/api/v1/routes`)).status).toBe(200);
    expect((await fetchText(`${admin}/metrics`)).status).toBe(200);
  });

  it('redacts the token from the effective config', async () => {
    const config = (await fetchJson<any>(`${admin}/api/v1/config`)).json;
    expect(config.admin.token).toBe('(redacted)');
    expect(JSON.stringify(config)).not.toContain(TOKEN);
  });
});

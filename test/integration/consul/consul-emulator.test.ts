import Consul from 'consul';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ConsulEmulator, type HealthEntry } from '../../support/consul-emulator.js';
import { fetchText } from '../../support/http-client.js';


describe('Consul emulator', () => {
  let consul: ConsulEmulator;

  beforeEach(async () => {
    consul = await ConsulEmulator.start();
  });
  afterEach(async () => {
    await consul.close();
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetchText(`${consul.url}${path}`, { headers });
  const put = (path: string, body?: unknown, headers: Record<string, string> = {}) =>
    fetchText(`${consul.url}${path}`, { method: 'PUT', headers, body: body === undefined ? undefined : JSON.stringify(body) });

  it('serves catalog and health views to the consul npm client', async () => {
    const client = new Consul({ host: '127.0.0.1', port: Number(consul.address.split(':')[1]) });
    await client.agent.service.register({ name: 'web', id: 'web-1', port: 8001, tags: ['a'], check: { ttl: '30s', status: 'passing' } } as never);
    consul.register({ Name: 'web', ID: 'web-2', Port: 8002, Tags: ['b'], Address: '10.0.0.2' });
    expect(await client.catalog.service.list()).toEqual({ web: ['a', 'b'] });
    const entries = (await client.health.service({ service: 'web' })) as unknown as HealthEntry[];
    expect(entries.map((e) => e.Service.ID).sort()).toEqual(['web-1', 'web-2']);
    const web1 = entries.find((e) => e.Service.ID === 'web-1')!;
    expect(web1.Service.Address).toBe('');
    expect(web1.Node.Address).toBe('127.0.0.1');
    expect(web1.Service.Weights).toEqual({ Passing: 1, Warning: 1 });
    expect(web1.Checks.map((c) => c.CheckID).sort()).toEqual(['serfHealth', 'service:web-1']);
    expect(await client.status.leader()).toBe('127.0.0.1:8300');
  });

  it('passing=true drops an entry when any check, node checks included, is not passing', async () => {
    consul.register({ Name: 'api', ID: 'api-1', Port: 1, Check: { TTL: '1m', Status: 'passing' } });
    consul.register({ Name: 'api', ID: 'api-2', Port: 2, Check: { TTL: '1m', Status: 'warning' } });
    consul.addNode('node-2', '10.0.0.9');
    consul.register({ Name: 'api', ID: 'api-3', Port: 3 }, 'node-2');
    const ids = async (q: string) => (JSON.parse((await get(`/v1/health/service/api${q}`)).body) as HealthEntry[]).map((e) => e.Service.ID).sort();
    expect(await ids('')).toEqual(['api-1', 'api-2', 'api-3']);
    expect(await ids('?passing=true')).toEqual(['api-1', 'api-3']);
    consul.setCheckStatus('serfHealth', 'critical', 'Agent not live or unreachable', 'node-2');
    expect(await ids('?passing=true')).toEqual(['api-1']);
  });

  it('filters by tag (repeatable) and rejects another datacenter', async () => {
    consul.register({ Name: 'db', ID: 'db-1', Port: 1, Tags: ['primary', 'v2'] });
    consul.register({ Name: 'db', ID: 'db-2', Port: 2, Tags: ['v2'] });
    const ids = async (q: string) => (JSON.parse((await get(`/v1/health/service/db${q}`)).body) as HealthEntry[]).map((e) => e.Service.ID).sort();
    expect(await ids('?tag=v2')).toEqual(['db-1', 'db-2']);
    expect(await ids('?tag=v2&tag=primary')).toEqual(['db-1']);
    expect(await ids('?dc=dc1&tag=primary')).toEqual(['db-1']);
    expect((await get('/v1/health/service/db?dc=elsewhere')).status).toBe(500);
    const catalog = JSON.parse((await get('/v1/catalog/service/db?tag=primary')).body) as { ServiceID: string; ServiceAddress: string; Address: string }[];
    expect(catalog.map((c) => [c.ServiceID, c.ServiceAddress, c.Address])).toEqual([['db-1', '', '127.0.0.1']]);
  });

  it('holds a blocking query until the index moves, then answers with the new index', async () => {
    const first = await get('/v1/health/state/any');
    const index = Number(first.headers['x-consul-index']);
    expect(index).toBeGreaterThan(0);
    expect(first.headers['x-consul-knownleader']).toBe('true');
    const held = get(`/v1/health/state/any?index=${index}&wait=5s`);
    let settled = false;
    void held.then(() => (settled = true));
    await new Promise((r) => setTimeout(r, 150));
    expect(settled).toBe(false);
    consul.register({ Name: 'x', Port: 1, Check: { TTL: '1m' } });
    const res = await held;
    expect(Number(res.headers['x-consul-index'])).toBeGreaterThan(index);
    expect((JSON.parse(res.body) as { CheckID: string }[]).map((c) => c.CheckID)).toContain('service:x');
  });

  it('answers a timed-out blocking query with the same index', async () => {
    const index = Number((await get('/v1/catalog/services')).headers['x-consul-index']);
    const res = await get(`/v1/catalog/services?index=${index}&wait=100ms`);
    expect(Number(res.headers['x-consul-index'])).toBe(index);
  });

  it('answers indented with ?pretty (Consul: four spaces) or when prettyAnswers is set, compact otherwise, same content', async () => {
    consul.register({ Name: 'p', Port: 1, Tags: ['t'], Check: { TTL: '1m', Status: 'passing' } });
    for (const path of ['/v1/catalog/services', '/v1/health/state/any', '/v1/health/service/p']) {
      const compact = (await get(path)).body;
      const pretty = (await get(`${path}?pretty`)).body;
      expect(compact, path).not.toContain('\n');
      expect(pretty, path).toContain('\n    ');
      expect(JSON.parse(pretty), path).toEqual(JSON.parse(compact));
      consul.prettyAnswers = true;
      expect((await get(path)).body, path).toBe(pretty);
      consul.prettyAnswers = false;
    }
  });

  it('a health change does not move the services index (per-table indexes)', async () => {
    consul.register({ Name: 'y', Port: 1, Check: { TTL: '1m', Status: 'passing' } });
    const before = consul.servicesIndex;
    consul.setCheckStatus('service:y', 'critical');
    expect(consul.servicesIndex).toBe(before);
    const svcIndex = Number((await get('/v1/health/service/y')).headers['x-consul-index']);
    expect(svcIndex).toBeGreaterThan(before);
  });

  it('implements agent register (replace-existing-checks), TTL check updates, maintenance and deregister, logging calls in order', async () => {
    expect((await put('/v1/agent/service/register', { Name: 'svc', ID: 'svc-1', Port: 9, Checks: [{ TTL: '1m' }, { TTL: '1m', CheckID: 'extra' }] })).status).toBe(200);
    let checks = JSON.parse((await get('/v1/health/service/svc')).body) as HealthEntry[];
    expect(checks[0]!.Checks.map((c) => [c.CheckID, c.Status]).sort()).toEqual([
      ['extra', 'critical'],
      ['serfHealth', 'passing'],
      ['service:svc-1:1', 'critical'],
    ]);
    expect((await put('/v1/agent/check/pass/extra?note=ok')).status).toBe(200);
    expect((await put('/v1/agent/check/update/service:svc-1:1', { Status: 'warning', Output: 'slow' })).status).toBe(200);
    expect((await put('/v1/agent/service/register?replace-existing-checks=true', { Name: 'svc', ID: 'svc-1', Port: 9, Check: { TTL: '1m', CheckID: 'extra' } })).status).toBe(200);
    checks = JSON.parse((await get('/v1/health/service/svc')).body) as HealthEntry[];
    expect(checks[0]!.Checks.map((c) => [c.CheckID, c.Status]).sort()).toEqual([
      ['extra', 'passing'],
      ['serfHealth', 'passing'],
    ]);
    expect((await put('/v1/agent/service/maintenance/svc-1?enable=true&reason=deploy')).status).toBe(200);
    checks = JSON.parse((await get('/v1/health/service/svc')).body) as HealthEntry[];
    expect(checks[0]!.Checks.find((c) => c.CheckID === '_service_maintenance:svc-1')?.Status).toBe('critical');
    expect((await put('/v1/agent/service/maintenance/svc-1')).status).toBe(400);
    expect((await put('/v1/agent/service/deregister/svc-1')).status).toBe(200);
    expect(JSON.parse((await get('/v1/health/service/svc')).body)).toEqual([]);
    expect((await put('/v1/agent/service/deregister/svc-1')).status).toBe(404);
    expect(consul.calls.map((c) => [c.op, c.id])).toEqual([
      ['register', 'svc-1'],
      ['check', 'extra'],
      ['check', 'service:svc-1:1'],
      ['register', 'svc-1'],
      ['maintenance', 'svc-1'],
      ['deregister', 'svc-1'],
    ]);
    const self = JSON.parse((await get('/v1/agent/self')).body) as { Config: { Datacenter: string; NodeName: string } };
    expect(self.Config).toMatchObject({ Datacenter: 'dc1', NodeName: 'node-1' });
  });

  it('enforces ACL tokens from X-Consul-Token or Authorization: Bearer', async () => {
    consul.register({ Name: 'secret', Port: 1 });
    consul.register({ Name: 'public', Port: 2 });
    consul.setAcl({ reader: { serviceRead: ['public'], write: false }, admin: { serviceRead: '*', write: true } });
    const bad = await get('/v1/catalog/services', { 'x-consul-token': 'nope' });
    expect([bad.status, bad.body]).toEqual([403, 'ACL not found']);
    expect(JSON.parse((await get('/v1/catalog/services')).body)).toEqual({});
    const reader = await get('/v1/catalog/services', { authorization: 'Bearer reader' });
    expect(JSON.parse(reader.body)).toEqual({ public: [] });
    expect(reader.headers['x-consul-results-filtered-by-acls']).toBe('true');
    // GET /v1/agent/service/<id> needs service:read on that service.
    expect((await get('/v1/agent/service/public', { 'x-consul-token': 'reader' })).status).toBe(200);
    expect((await get('/v1/agent/service/secret', { 'x-consul-token': 'reader' })).status).toBe(403);
    expect((await get('/v1/agent/service/register')).status).toBe(405);
    expect((await put('/v1/agent/service/deregister/public', undefined, { 'x-consul-token': 'reader' })).status).toBe(403);
    expect((await put('/v1/agent/service/deregister/public', undefined, { 'x-consul-token': 'admin' })).status).toBe(200);
  });

  it('runs HTTP checks against a real server', async () => {
    const { startUpstream } = await import('../../support/test-upstream.js');
    const up = await startUpstream('checked');
    try {
      consul.register({ Name: 'checked', Port: up.port, Check: { HTTP: `${up.url}/health`, Interval: '50ms' } });
      const status = async () => (JSON.parse((await get('/v1/health/service/checked')).body) as HealthEntry[])[0]!.Checks.find((c) => c.CheckID === 'service:checked')!.Status;
      for (let i = 0; i < 100 && (await status()) !== 'passing'; i++) await new Promise((r) => setTimeout(r, 20));
      expect(await status()).toBe('passing');
      await up.close();
      for (let i = 0; i < 100 && (await status()) !== 'critical'; i++) await new Promise((r) => setTimeout(r, 20));
      expect(await status()).toBe('critical');
    } finally {
      await up.close();
    }
  });

  describe('fault controls', () => {
    it('returns 500 No cluster leader, 429, garbage, and recovers', async () => {
      consul.noLeader();
      expect(await get('/v1/catalog/services')).toMatchObject({ status: 500, body: 'No cluster leader' });
      expect(JSON.parse((await get('/v1/status/leader')).body)).toBe('');
      consul.setFault({ kind: 'status', status: 429, body: 'rate limit exceeded' });
      expect((await get('/v1/catalog/services')).status).toBe(429);
      consul.setFault({ kind: 'garbage' });
      const garbage = await get('/v1/catalog/services');
      expect(garbage.status).toBe(200);
      expect(() => JSON.parse(garbage.body)).toThrow();
      consul.clearFaults();
      expect((await get('/v1/catalog/services')).status).toBe(200);
    });

    it('hangs requests until cleared, and destroys connections', async () => {
      consul.setFault({ kind: 'hang' });
      const hung = get('/v1/catalog/services').then(
        () => 'answered',
        () => 'dropped',
      );
      await new Promise((r) => setTimeout(r, 100));
      consul.clearFaults();
      expect(await hung).toBe('dropped');
      consul.setFault({ kind: 'destroy' });
      await expect(get('/v1/catalog/services')).rejects.toThrow();
      consul.clearFaults();
    });

    it('stops and listens again on the same port', async () => {
      const address = consul.address;
      await consul.stop();
      await expect(get('/v1/catalog/services')).rejects.toThrow(/ECONNREFUSED/);
      await consul.listen();
      expect(consul.address).toBe(address);
      expect((await get('/v1/catalog/services')).status).toBe(200);
    });

    it('moves the index backwards and can wake held queries', async () => {
      for (let i = 0; i < 5; i++) consul.register({ Name: `s${i}`, Port: 1 });
      const index = Number((await get('/v1/catalog/services')).headers['x-consul-index']);
      const held = get(`/v1/catalog/services?index=${index}&wait=5s`);
      await new Promise((r) => setTimeout(r, 50));
      consul.resetIndex(2, true);
      expect(Number((await held).headers['x-consul-index'])).toBe(2);
    });

    it('logs every request with method, path and query', async () => {
      await get('/v1/health/service/a?passing=true&tag=x');
      const last = consul.requests.at(-1)!;
      expect([last.method, last.path, last.query.get('tag')]).toEqual(['GET', '/v1/health/service/a', 'x']);
      expect(consul.requestsTo('/v1/health/service/')).toHaveLength(1);
    });
  });
});

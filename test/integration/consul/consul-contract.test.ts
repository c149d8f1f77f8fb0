import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load-config.js';
import type { ConsulRegistryConfig } from '../../../src/config/schema.js';
import { ConsulRegistry } from '../../../src/registry/consul/consul-registry.js';
import { ConsulEmulator, type HealthEntry } from '../../support/consul-emulator.js';
import { fetchText } from '../../support/http-client.js';
import { captureLog } from '../../support/log-capture.js';
import { eventually } from '../../support/proxy-harness.js';

/**
 * The Consul behaviour Switchyard relies on, checked over HTTP only, so the same tests run
 * against the emulator and, when CONSUL_HTTP_ADDR is set, against a real Consul agent
 * (CONSUL_HTTP_TOKEN is used when set; the token needs service/node read and agent write).
 */
interface Target {
  name: string;
  url: () => string;
  token: string | undefined;
  setup(): Promise<void>;
  teardown(): Promise<void>;
}

let emulator: ConsulEmulator | null = null;
const realAddress = process.env.CONSUL_HTTP_ADDR;
const targets: Target[] = [
  {
    name: 'emulator',
    url: () => emulator!.url,
    token: undefined,
    setup: async () => {
      emulator = await ConsulEmulator.start();
    },
    teardown: async () => {
      await emulator?.close();
    },
  },
  {
    name: 'real Consul (CONSUL_HTTP_ADDR)',
    url: () => (/^https?:\/\//.test(realAddress ?? '') ? realAddress! : `http://${realAddress}`),
    token: process.env.CONSUL_HTTP_TOKEN || undefined,
    setup: async () => undefined,
    teardown: async () => undefined,
  },
];

if (!realAddress) {
  console.info('Consul contract tests: CONSUL_HTTP_ADDR is not set, so only the emulator is checked; set it to also run them against a real Consul agent.');
}


for (const target of targets) {
  describe.skipIf(target.name !== 'emulator' && !realAddress)(`Consul contract: ${target.name}`, () => {
    const svc = `sy-contract-${process.pid}-${Date.now().toString(36)}`;
    const id = `${svc}-1`;
    const headers = () => (target.token ? { 'x-consul-token': target.token } : {});
    const get = (path: string) => fetchText(`${target.url()}${path}`, { headers: headers() });
    const put = (path: string, body?: unknown) => fetchText(`${target.url()}${path}`, { method: 'PUT', headers: headers(), body: body === undefined ? undefined : JSON.stringify(body) });
    const health = async (q = '') => JSON.parse((await get(`/v1/health/service/${svc}${q}`)).body) as HealthEntry[];

    beforeAll(async () => {
      await target.setup();
      const r = await put('/v1/agent/service/register', { Name: svc, ID: id, Port: 18080, Tags: ['contract', 'urlprefix-/contract'], Weights: { Passing: 4, Warning: 2 }, Check: { CheckID: `${id}-ttl`, TTL: '10m' } });
      expect(r.status).toBe(200);
    });
    afterAll(async () => {
      await put(`/v1/agent/service/deregister/${id}`);
      await target.teardown();
    });

    it('lists the service and its tags in the catalog, with an index', async () => {
      const r = await get('/v1/catalog/services');
      expect(Number(r.headers['x-consul-index'])).toBeGreaterThan(0);
      expect((JSON.parse(r.body) as Record<string, string[]>)[svc]?.sort()).toEqual(['contract', 'urlprefix-/contract']);
    });

    it('starts a TTL check critical, leaves it out with passing=true, and falls back to the node address', async () => {
      const all = await health();
      expect(all).toHaveLength(1);
      expect(all[0]!.Service.Address).toBe('');
      expect(all[0]!.Node.Address).not.toBe('');
      expect(all[0]!.Service.Weights).toEqual({ Passing: 4, Warning: 2 });
      expect(all[0]!.Checks.find((c) => c.CheckID === `${id}-ttl`)?.Status).toBe('critical');
      expect(await health('?passing=true')).toEqual([]);
    });

    it("answers GET /v1/agent/service/<id> with the agent's definition, 404 when unknown", async () => {
      const r = await get(`/v1/agent/service/${id}`);
      expect(r.status).toBe(200);
      const def = JSON.parse(r.body) as { ID: string; Service: string; Port: number; Tags: string[]; Weights: unknown; ContentHash: string };
      expect(def).toMatchObject({ ID: id, Service: svc, Port: 18080, Weights: { Passing: 4, Warning: 2 } });
      expect([...def.Tags].sort()).toEqual(['contract', 'urlprefix-/contract']);
      expect(r.headers['x-consul-contenthash']).toBe(def.ContentHash);
      const missing = await get(`/v1/agent/service/${id}-missing`);
      expect(missing.status).toBe(404);
      expect(missing.body).toContain('unknown service ID');
    });

    it('wakes a blocking query when a check passes, with a higher index', async () => {
      const first = await get(`/v1/health/service/${svc}`);
      const index = Number(first.headers['x-consul-index']);
      const held = get(`/v1/health/service/${svc}?index=${index}&wait=5s`);
      await new Promise((r) => setTimeout(r, 100));
      expect((await put(`/v1/agent/check/pass/${id}-ttl?note=ok`)).status).toBe(200);
      const woken = await held;
      expect(Number(woken.headers['x-consul-index'])).toBeGreaterThan(index);
      expect(await health('?passing=true')).toHaveLength(1);
    });

    it('reports warn as warning and maintenance as a critical _service_maintenance check', async () => {
      expect((await put(`/v1/agent/check/warn/${id}-ttl`)).status).toBe(200);
      expect((await health())[0]!.Checks.find((c) => c.CheckID === `${id}-ttl`)?.Status).toBe('warning');
      expect((await put(`/v1/agent/service/maintenance/${id}?enable=true&reason=contract`)).status).toBe(200);
      expect((await health())[0]!.Checks.find((c) => c.CheckID === `_service_maintenance:${id}`)?.Status).toBe('critical');
      expect((await put(`/v1/agent/service/maintenance/${id}?enable=false`)).status).toBe(200);
      expect((await health())[0]!.Checks.map((c) => c.CheckID)).not.toContain(`_service_maintenance:${id}`);
    });

    it('feeds ConsulRegistry: warning weight, then removal on deregistration', async () => {
      const config = parseConfigText('contract.yaml', JSON.stringify({ registry: { type: 'consul', address: target.url(), token: target.token, wait: '5s' } })).registry as ConsulRegistryConfig;
      const registry = new ConsulRegistry({ config, configFile: 'contract.yaml', logger: captureLog().logger });
      await registry.start();
      try {
        expect(registry.current().services.get(svc)?.instances[0]).toMatchObject({ health: 'warning', weight: 2, port: 18080 });
        expect((await put(`/v1/agent/check/pass/${id}-ttl`)).status).toBe(200);
        await eventually(() => registry.current().services.get(svc)?.instances[0]?.weight === 4, 5_000, 'passing weight');
        expect((await put(`/v1/agent/service/deregister/${id}`)).status).toBe(200);
        await eventually(() => !registry.current().services.has(svc), 5_000, 'service removed');
      } finally {
        await registry.close();
      }
    });
  });
}

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConsulEmulator, type ServiceRegistration } from '../../support/consul-emulator.js';
import { startConsulProxy, type ConsulProxyHarness } from '../../support/consul-proxy-harness.js';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { parsePrometheusText, value } from '../../support/prometheus-text.js';
import { eventually } from '../../support/proxy-harness.js';
import { runCli } from '../../support/router-process.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

const ROUTES = [{ name: 'web', match: { path: '/web' }, service: 'web' }];

interface RegistryJson {
  synced: boolean;
  lastError: string | null;
  persistedView?: { file: string; serving: boolean; savedAt: string | null; error: string | null };
}

describe('starting without Consul', () => {
  let a: TestUpstream;
  let consul: ConsulEmulator;
  let stateDir: string;
  let h: ConsulProxyHarness | null = null;

  beforeAll(async () => {
    a = await startUpstream('a');
  });
  afterAll(async () => {
    await a.close();
  });
  beforeEach(async () => {
    consul = await ConsulEmulator.start();
    stateDir = await mkdtemp(join(tmpdir(), 'switchyard-view-'));
  });
  afterEach(async () => {
    await h?.close();
    h = null;
    await consul.close();
    await rm(stateDir, { recursive: true, force: true });
  });

  const web: ServiceRegistration = { Name: 'web', ID: 'web-a', Address: '127.0.0.1', Port: 0, Check: { TTL: '10m', Status: 'passing' } };
  const start = (registry: Record<string, unknown> = {}) =>
    startConsulProxy({
      consul,
      config: { routes: ROUTES, admin: { address: '127.0.0.1', port: 0, stateFile: join(stateDir, 'state.json') } },
      registry,
    });
  const admin = (path: string) => `http://127.0.0.1:${h!.app.adminAddress!.port}${path}`;
  const hit = async () => {
    const r = await fetchText(`${h!.url}/web`);
    return r.status === 200 ? (JSON.parse(r.body) as EchoReply).instance : `status ${r.status}`;
  };
  const scrape = async () => parsePrometheusText((await fetchText(admin('/metrics'))).body);
  const viewFile = () => join(stateDir, 'config.registry-view.json');

  it('starts with the agent down (admin up, /healthz ok, /readyz 503), then routes as soon as Consul answers', async () => {
    await consul.stop();
    h = await start();
    expect(h.log.find('Consul cannot be reached at start-up; starting without it')).toHaveLength(1);
    expect((await fetchText(admin('/healthz'))).status).toBe(200);
    const ready = await fetchJson(admin('/readyz'));
    expect(ready.status).toBe(503);
    const status = await fetchJson<{ ready: boolean; notReadyReason: string }>(admin('/api/v1/status'));
    expect(status.json.notReadyReason).toMatch(/registry not synced yet \(cannot reach Consul at http:\/\/127\.0\.0\.1:\d+/);
    expect(value(await scrape(), 'switchyard_registry_synced')).toBe(0);
    expect(await hit()).not.toBe('a');

    consul.register({ ...web, Port: a.port });
    await consul.listen();
    await eventually(async () => (await hit()) === 'a', 10_000, 'the route to serve once Consul answers');
    expect((await fetchText(admin('/readyz'))).status).toBe(200);
    expect(h.log.find('Consul reached after start-up; routing from Consul now')).toHaveLength(1);
    expect(value(await scrape(), 'switchyard_registry_synced')).toBe(1);
    // The watches run from here: a later change arrives like any other.
    consul.deregister('web-a');
    await eventually(async () => (await hit()) !== 'a', 10_000, 'the deregistration to be seen');
  });

  it('serves from the persisted view while Consul is down, marked stale, until Consul answers', async () => {
    consul.register({ ...web, Port: a.port });
    h = await start({ persistView: true });
    await eventually(async () => (await readFile(viewFile(), 'utf8').catch(() => '')).includes('"web"'), 5_000, 'the view to be saved');
    await h.close();
    h = null;

    await consul.stop();
    h = await start({ persistView: true });
    expect(h.app.ready).toBe(true);
    expect(await hit()).toBe('a');
    const reg = await fetchJson<RegistryJson>(admin('/api/v1/registry'));
    expect(reg.json).toMatchObject({ synced: false, persistedView: { file: viewFile(), serving: true, error: null } });
    expect(Date.parse(reg.json.persistedView!.savedAt!)).toBeLessThanOrEqual(Date.now());
    expect((await fetchText(admin('/readyz'))).status).toBe(200);
    const m = await scrape();
    expect(value(m, 'switchyard_registry_persisted_view')).toBe(1);
    expect(value(m, 'switchyard_registry_stale_seconds')).toBeGreaterThanOrEqual(0);
    expect(h.log.find('serving the persisted registry view (marked stale)')).toHaveLength(1);

    await consul.listen();
    await eventually(async () => (await fetchJson<RegistryJson>(admin('/api/v1/registry'))).json.persistedView?.serving === false, 10_000, 'Consul to take over from the view');
    expect(value(await scrape(), 'switchyard_registry_persisted_view')).toBe(0);
    expect(await hit()).toBe('a');
  });

  it('a corrupt persisted view is reported (log, /api/v1/registry) and ignored; the next good read replaces it', async () => {
    await writeFile(viewFile(), '{"version":1,"savedAt":');
    await consul.stop();
    h = await start({ persistView: true });
    expect(h.app.ready).toBe(false);
    const logged = h.log.find('persisted registry view ignored; starting without it');
    expect(logged).toHaveLength(1);
    expect(String(logged[0]!.error)).toContain(`the persisted registry view ${viewFile()} is not valid JSON`);
    const reg = await fetchJson<RegistryJson>(admin('/api/v1/registry'));
    expect(reg.json.persistedView).toMatchObject({ serving: false, error: expect.stringMatching(/is not valid JSON .*remove it, the next good registry read writes it again/) });
    expect(value(await scrape(), 'switchyard_registry_persisted_view')).toBe(0);
    expect((await fetchText(admin('/readyz'))).status).toBe(503);

    consul.register({ ...web, Port: a.port });
    await consul.listen();
    await eventually(async () => (await hit()) === 'a', 10_000, 'routing from Consul');
    await eventually(async () => (await fetchJson<RegistryJson>(admin('/api/v1/registry'))).json.persistedView?.error === null, 5_000, 'the view to be rewritten');
    expect(JSON.parse(await readFile(viewFile(), 'utf8'))).toMatchObject({ version: 1, services: [{ name: 'web' }] });
  });

  it('a view of another shape is named by field and ignored', async () => {
    await writeFile(viewFile(), JSON.stringify({ version: 1, savedAt: new Date().toISOString(), scope: 'x', services: [{ name: 'web', tags: [], instances: [{ id: 'i' }] }] }));
    await consul.stop();
    h = await start({ persistView: true });
    expect(h.app.ready).toBe(false);
    const reg = await fetchJson<RegistryJson>(admin('/api/v1/registry'));
    expect(reg.json.persistedView?.error).toMatch(/is not a registry view: services\.0\.instances\.0\.service: /);
  });

  it('without persistView nothing is written', async () => {
    consul.register({ ...web, Port: a.port });
    h = await start();
    expect(await hit()).toBe('a');
    expect((await fetchJson<RegistryJson>(admin('/api/v1/registry'))).json.persistedView).toBeUndefined();
    await expect(readFile(viewFile())).rejects.toThrow(/ENOENT/);
  });
});

describe('switchyard start with waitAtStart: true and Consul unreachable', () => {
  it('exits 1 with one error line that ends with a newline', { timeout: 60_000 }, async () => {
    const down = await ConsulEmulator.start();
    const address = down.address;
    await down.close();
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-wait-'));
    try {
      const file = join(dir, 'config.yaml');
      await writeFile(
        file,
        stringify({
          listeners: [{ address: '127.0.0.1', port: 0 }],
          admin: { address: '127.0.0.1', port: 0 },
          logging: { level: 'error' },
          registry: { type: 'consul', address, waitAtStart: true, startTimeout: '300ms', backoff: { initial: '50ms', max: '100ms' } },
        }),
      );
      const r = await runCli(['start', file]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(new RegExp(`^switchyard: cannot start: Consul registry cannot start: cannot reach Consul at http://${address.replace(/\./g, '\\.')}.*\\n$`));
      expect(r.stderr.split('\n')).toHaveLength(2);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

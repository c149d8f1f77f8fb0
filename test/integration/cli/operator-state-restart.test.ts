import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConsulEmulator } from '../../support/consul-emulator.js';
import { FAST_CONSUL_REGISTRY } from '../../support/consul-proxy-harness.js';
import { fetchJson } from '../../support/http-client.js';
import { eventually, servicesYaml } from '../../support/proxy-harness.js';
import { startRouterProcess, type RouterProcess } from '../../support/router-process.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

/**
 * Drains and route overrides set through the admin API survive a restart of the real CLI
 * process: kept in a state file beside the config (file registry) or in Consul's KV store.
 */

const post = (admin: string, path: string, body: unknown) =>
  fetchJson<any>(`${admin}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });

/** Instances that answered `n` sequential requests to `path`. */
async function instancesServing(url: string, path: string, n: number): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const r = await fetchJson<EchoReply>(`${url}${path}`);
    expect(r.status, JSON.stringify(r.json)).toBe(200);
    seen.add(r.json.instance);
  }
  return seen;
}

function logLines(out: string): { msg?: string; level?: string; err?: { message?: string }; location?: string }[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

describe('operator state across a real restart of the router process', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let dir: string;
  let router: RouterProcess | null = null;

  beforeAll(async () => {
    [a, b] = await Promise.all([startUpstream('a'), startUpstream('b')]);
  });
  afterEach(async () => {
    if (router && router.child.exitCode === null) await router.stop('SIGKILL');
    router = null;
    if (dir) await rm(dir, { recursive: true, force: true });
  });
  afterAll(async () => {
    await Promise.all([a.close(), b.close()]);
  });

  async function fileSetup(admin: Record<string, unknown> = {}): Promise<string> {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-state-'));
    await writeFile(join(dir, 'services.yaml'), servicesYaml({ web: [{ id: 'web-a', port: a.port }, { id: 'web-b', port: b.port }] }));
    const configFile = join(dir, 'edge.yaml');
    await writeFile(
      configFile,
      stringify({
        listeners: [{ name: 'test', address: '127.0.0.1', port: 0 }],
        admin: { address: '127.0.0.1', port: 0, ...admin },
        registry: { type: 'file', path: 'services.yaml', watch: false },
        routes: [{ name: 'web', match: { path: '/' }, service: 'web' }],
      }),
    );
    return configFile;
  }

  it('file registry: drains and overrides are written beside the config and restored after SIGTERM and start', async () => {
    const configFile = await fileSetup();
    router = await startRouterProcess(configFile);
    expect(await instancesServing(router.url, '/x', 4)).toEqual(new Set(['a', 'b']));

    expect((await post(router.adminUrl, '/api/v1/endpoints/drain', { endpoint: 'web-b' })).status).toBe(200);
    const added = await post(router.adminUrl, '/api/v1/overrides', { op: 'add', route: { name: 'extra', match: { path: '/extra' }, service: 'web' } });
    expect(added.status).toBe(201);
    const removed = await post(router.adminUrl, '/api/v1/overrides', { op: 'remove', name: 'gone-anyway' });
    expect(removed.status).toBe(201);
    expect((await fetchJson(`${router.adminUrl}/api/v1/overrides/${removed.json.id}`, { method: 'DELETE' })).status).toBe(200);

    // The state file is beside the config, named after it.
    const stored = JSON.parse(await readFile(join(dir, 'edge.state.json'), 'utf8'));
    expect(stored).toMatchObject({ version: 1, drains: [{ service: 'web', endpoint: `127.0.0.1:${b.port}` }], nextOverrideId: 3 });
    expect(stored.overrides).toEqual([expect.objectContaining({ id: added.json.id, override: expect.objectContaining({ op: 'add' }) })]);

    expect(await router.stop('SIGTERM')).toBe(0);
    router = await startRouterProcess(configFile);
    // Before any admin call: the restarted router already keeps traffic off web-b and serves /extra.
    expect(await instancesServing(router.url, '/x', 6)).toEqual(new Set(['a']));
    expect(await instancesServing(router.url, '/extra/1', 2)).toEqual(new Set(['a']));
    const web = (await fetchJson<any>(`${router.adminUrl}/api/v1/services/web`)).json;
    expect(web.endpoints.find((e: any) => e.id === 'web-b')).toMatchObject({ drained: true, available: false });
    const overrides = (await fetchJson<any[]>(`${router.adminUrl}/api/v1/overrides`)).json;
    expect(overrides).toEqual([expect.objectContaining({ id: added.json.id, createdAt: added.json.createdAt })]);
    expect(logLines(router.stdout()).some((l) => l.msg === 'operator state restored')).toBe(true);
    const status = (await fetchJson<any>(`${router.adminUrl}/api/v1/status`)).json;
    expect(status.operatorState).toMatchObject({ store: 'file', location: join(dir, 'edge.state.json'), drains: 1, overrides: 1, lastError: null });

    // Ids continue after the restored ones; undrain is stored too.
    expect((await post(router.adminUrl, '/api/v1/overrides', { op: 'weight', service: 'web', weight: 3 })).json.id).toBe(3);
    expect((await post(router.adminUrl, '/api/v1/endpoints/undrain', { endpoint: 'web-b' })).status).toBe(200);
    expect(JSON.parse(await readFile(join(dir, 'edge.state.json'), 'utf8')).drains).toEqual([]);
  });

  it('a corrupt state file is logged with its path and the router starts without drains; the next change rewrites it', async () => {
    const configFile = await fileSetup({ stateFile: 'state/operator.json' });
    await mkdir(join(dir, 'state'));
    const stateFile = join(dir, 'state', 'operator.json');
    await writeFile(stateFile, '{"version": 1, "drains": [{"service": "web"');
    router = await startRouterProcess(configFile);
    // The log is written asynchronously: the line may reach stdout after the start banner (stderr).
    const r = router;
    await eventually(() => logLines(r.stdout()).some((l) => l.msg?.startsWith('cannot load the operator state')), 5_000, 'the operator-state error line');
    const error = logLines(r.stdout()).find((l) => l.msg?.startsWith('cannot load the operator state'));
    expect(error?.level).toBe('error');
    expect(error?.err?.message).toContain(`the operator state in ${stateFile} is not JSON`);
    expect(await instancesServing(router.url, '/x', 4)).toEqual(new Set(['a', 'b']));
    expect((await fetchJson<any>(`${router.adminUrl}/api/v1/status`)).json.operatorState.lastError).toContain('is not JSON');

    expect((await post(router.adminUrl, '/api/v1/endpoints/drain', { endpoint: 'web-a' })).status).toBe(200);
    expect(JSON.parse(await readFile(stateFile, 'utf8')).drains).toEqual([{ service: 'web', endpoint: `127.0.0.1:${a.port}` }]);
    expect((await fetchJson<any>(`${router.adminUrl}/api/v1/status`)).json.operatorState.lastError).toBeNull();
  });

  it('a state file of the wrong shape is refused field by field; an unwritable location answers 503 state_not_saved', async () => {
    const configFile = await fileSetup({ stateFile: 'missing-folder/state.json' });
    router = await startRouterProcess(configFile);
    const res = await post(router.adminUrl, '/api/v1/endpoints/drain', { endpoint: 'web-b' });
    expect(res.status).toBe(503);
    expect(res.json).toMatchObject({ error: 'state_not_saved' });
    expect(res.json.message).toContain('a restart would lose it');
    expect(res.json.message).toContain(join(dir, 'missing-folder', 'state.json'));
    // Applied to the running router all the same.
    expect(await instancesServing(router.url, '/x', 4)).toEqual(new Set(['a']));
    await router.stop('SIGTERM');

    await writeFile(join(dir, 'edge.yaml'), (await readFile(configFile, 'utf8')).replace('missing-folder/state.json', 'state.json'));
    await writeFile(join(dir, 'state.json'), JSON.stringify({ version: 2, drains: 'web-b', overrides: [], nextOverrideId: 1 }));
    router = await startRouterProcess(configFile);
    // The log is written asynchronously: the line may reach stdout after the start banner (stderr).
    const r = router;
    await eventually(() => logLines(r.stdout()).some((l) => l.msg?.startsWith('cannot load the operator state')), 5_000, 'the operator-state error line');
    const error = logLines(r.stdout()).find((l) => l.msg?.startsWith('cannot load the operator state'));
    expect(error?.err?.message).toContain('is not valid: version: must be 1');
    expect(error?.err?.message).toContain('drains:');
    expect(await instancesServing(router.url, '/x', 4)).toEqual(new Set(['a', 'b']));
  });

  it('undrain forgets a stored drain of an instance that is no longer in the registry', async () => {
    const configFile = await fileSetup();
    const stateFile = join(dir, 'edge.state.json');
    await writeFile(stateFile, JSON.stringify({ version: 1, writer: 'earlier-run', drains: [{ service: 'web', endpoint: '127.0.0.1:1' }], overrides: [], nextOverrideId: 1 }));
    router = await startRouterProcess(configFile);
    expect((await fetchJson<any>(`${router.adminUrl}/api/v1/status`)).json.operatorState).toMatchObject({ drains: 1, lastError: null });
    expect((await post(router.adminUrl, '/api/v1/endpoints/undrain', { endpoint: '127.0.0.1:2' })).status).toBe(404);
    const res = await post(router.adminUrl, '/api/v1/endpoints/undrain', { endpoint: '127.0.0.1:1', service: 'web' });
    expect(res.status).toBe(200);
    expect(res.json).toEqual([]);
    expect(JSON.parse(await readFile(stateFile, 'utf8')).drains).toEqual([]);
  });

  it('Consul registry: the state lives in the KV store, survives a restart, and a change written by another router is applied', async () => {
    const consul = await ConsulEmulator.start({ runChecks: false });
    try {
      consul.addNode('node-1', '127.0.0.1');
      consul.register({ ID: 'web-a', Name: 'web', Port: a.port, Address: '127.0.0.1' }, 'node-1');
      consul.register({ ID: 'web-b', Name: 'web', Port: b.port, Address: '127.0.0.1' }, 'node-1');
      dir = await mkdtemp(join(tmpdir(), 'switchyard-state-'));
      const configFile = join(dir, 'edge.yaml');
      await writeFile(
        configFile,
        stringify({
          listeners: [{ name: 'test', address: '127.0.0.1', port: 0 }],
          admin: { address: '127.0.0.1', port: 0 },
          registry: { type: 'consul', address: consul.address, ...FAST_CONSUL_REGISTRY, stateKey: 'edge/operator-state' },
          routes: [{ name: 'web', match: { path: '/' }, service: 'web' }],
        }),
      );
      router = await startRouterProcess(configFile);
      expect(await instancesServing(router.url, '/x', 4)).toEqual(new Set(['a', 'b']));
      expect((await post(router.adminUrl, '/api/v1/endpoints/drain', { endpoint: `127.0.0.1:${b.port}` })).status).toBe(200);
      const stored = JSON.parse(consul.kvGet('edge/operator-state')!);
      expect(stored.drains).toEqual([{ service: 'web', endpoint: `127.0.0.1:${b.port}` }]);

      expect(await router.stop('SIGTERM')).toBe(0);
      router = await startRouterProcess(configFile);
      expect(await instancesServing(router.url, '/x', 6)).toEqual(new Set(['a']));
      expect((await fetchJson<any>(`${router.adminUrl}/api/v1/status`)).json.operatorState).toMatchObject({ store: 'consul', drains: 1, lastError: null });

      // Another router (or `consul kv put`) moves the drain from web-b to web-a: this router follows the key.
      consul.kvPut('edge/operator-state', JSON.stringify({ ...stored, writer: 'another-router', drains: [{ service: 'web', endpoint: `127.0.0.1:${a.port}` }] }));
      await eventually(async () => (await instancesServing(router!.url, '/x', 2)).has('b'), 10_000, 'the router to apply the state written by another router');
      expect(await instancesServing(router.url, '/x', 6)).toEqual(new Set(['b']));
      expect(logLines(router.stdout()).some((l) => l.msg === 'operator state changed in the store; applied')).toBe(true);

      // A value that is not a state document is reported, and the current drains stay.
      consul.kvPut('edge/operator-state', 'not json');
      await eventually(() => logLines(router!.stdout()).some((l) => l.msg === 'cannot read the operator state from the store; keeping the current drains and overrides'), 10_000, 'the bad value to be logged');
      expect(await instancesServing(router.url, '/x', 4)).toEqual(new Set(['b']));
    } finally {
      if (router && router.child.exitCode === null) await router.stop('SIGKILL');
      router = null;
      await consul.close();
    }
  });
});

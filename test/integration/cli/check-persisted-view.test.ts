import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCheck } from '../../../src/cli/check-command.js';
import { PersistedView } from '../../../src/registry/persisted-view.js';
import type { ServiceEntry } from '../../../src/registry/service-instance.js';
import { ConsulEmulator } from '../../support/consul-emulator.js';
import { FAST_CONSUL_REGISTRY } from '../../support/consul-proxy-harness.js';

/**
 * `switchyard check` with registry.persistView: it reports the view start would serve from
 * while Consul cannot be reached (or that none is saved yet), and warns about one start would
 * ignore, without writing it. In process, against the Consul emulator.
 */
describe('switchyard check reports the persisted registry view', () => {
  let dir: string;
  let consul: ConsulEmulator;
  const env = { ...process.env, STATE_DIRECTORY: '', CONSUL_HTTP_TOKEN: '' };

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-check-view-'));
    consul = await ConsulEmulator.start();
    consul.register({ Name: 'web', ID: 'web-a', Address: '127.0.0.1', Port: 8081, Check: { TTL: '10m', Status: 'passing' } });
  });
  afterAll(async () => {
    await consul?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  /** Writes config `name` (the view is then `<name>.registry-view.json` in `dir`) and runs check on it. */
  async function check(name: string, registry: Record<string, unknown>): Promise<{ code: number; out: string; err: string; view: string }> {
    const file = join(dir, `${name}.yaml`);
    await writeFile(
      file,
      stringify({
        listeners: [{ name: 'edge', address: '127.0.0.1', port: 0 }],
        admin: { address: '127.0.0.1', port: 0, stateFile: `${name}.state.json` },
        registry: { type: 'consul', address: consul.address, ...FAST_CONSUL_REGISTRY, ...registry },
        routes: [{ name: 'web', match: { path: '/' }, service: 'web' }],
      }),
    );
    let out = '';
    let err = '';
    const code = await runCheck(file, env, { out: (t) => (out += t), err: (t) => (err += t) });
    return { code, out, err, view: join(dir, `${name}.registry-view.json`) };
  }
  const scope = () => `http://${consul.address} dc=(agent) tags=`;
  const webEntry = (ports: number[]): ServiceEntry => ({
    name: 'web',
    tags: [],
    instances: ports.map((port, i) => ({ id: `web-${i}`, service: 'web', address: '127.0.0.1', port, weight: 1, tags: [], meta: {}, health: 'passing' as const })),
  });

  it('persistView off: no registry view line', async () => {
    const r = await check('off', {});
    expect(r.code, r.err).toBe(0);
    expect(r.out).not.toContain('registry view');
    expect(r.err).toBe('');
  });

  it('persistView on, nothing saved yet: says so, names the file, writes nothing', async () => {
    const r = await check('none', { persistView: true });
    expect(r.code, r.err).toBe(0);
    expect(r.out).toContain(`  registry view: none yet at ${r.view} (written after the first good Consul read)\n`);
    expect(r.err).toBe('');
    // Checking reads the registry but does not save a view (start does, after its first good read).
    const again = await check('none', { persistView: true });
    expect(again.out).toContain('registry view: none yet at');
  });

  it('a saved view: when it was saved and what it holds', async () => {
    const path = join(dir, 'saved.registry-view.json');
    await new PersistedView(path, scope(), (e) => {
      throw e;
    }).save({ services: new Map([['web', webEntry([8081, 8082])]]) });
    const r = await check('saved', { persistView: true });
    expect(r.code, r.err).toBe(0);
    const { savedAt } = JSON.parse(await readFile(path, 'utf8')) as { savedAt: string };
    expect(r.out).toContain(`  registry view: ${path} (saved ${savedAt}: 1 service(s), 2 instance(s); served only while Consul cannot be reached at start)\n`);
    expect(r.err).toBe('');
  });

  it('a view that is not JSON: a warning naming the file (start ignores it), exit 0', async () => {
    const path = join(dir, 'garbage.registry-view.json');
    await writeFile(path, '{ not json\n');
    const r = await check('garbage', { persistView: true });
    expect(r.code).toBe(0);
    expect(r.out).toContain(`  registry view: ${path} (unusable: start ignores it)\n`);
    expect(r.err).toMatch(new RegExp(`^.*garbage\\.yaml: warning: the persisted registry view ${path.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is not valid JSON .*remove it, the next good registry read writes it again \\(start logs this and starts without the view\\)\n$`));
  });

  it('a view saved for another Consul or tag filter: a warning naming both scopes', async () => {
    const path = join(dir, 'other.registry-view.json');
    await new PersistedView(path, 'http://127.0.0.1:1 dc=(agent) tags=', (e) => {
      throw e;
    }).save({ services: new Map([['web', webEntry([8081])]]) });
    const r = await check('other', { persistView: true });
    expect(r.code).toBe(0);
    expect(r.err).toContain(`the persisted registry view ${path} was saved for another registry (http://127.0.0.1:1 dc=(agent) tags=, not ${scope()})`);
  });
});

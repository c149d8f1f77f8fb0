import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { PersistedView, PersistedViewUnusable, persistedViewPath } from '../../../src/registry/persisted-view.js';
import type { RegistrySnapshot, ServiceEntry } from '../../../src/registry/service-instance.js';

const entry: ServiceEntry = {
  name: 'web',
  tags: ['urlprefix-/web'],
  instances: [{ id: 'web-1', service: 'web', address: '127.0.0.1', port: 9001, weight: 2, tags: ['urlprefix-/web'], meta: { zone: 'a' }, health: 'warning' }],
};
const snapshot: RegistrySnapshot = { services: new Map([['web', entry]]) };

describe('PersistedView', () => {
  let dir: string;
  let file: string;
  const saveErrors: Error[] = [];
  const view = (scope = 'consul-a') => new PersistedView(file, scope, (err) => saveErrors.push(err));

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-view-unit-'));
    file = join(dir, 'router.registry-view.json');
    saveErrors.length = 0;
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('lives beside the state file, named after the config', () => {
    expect(persistedViewPath('/var/lib/switchyard/state.json', '/etc/switchyard/edge.yaml')).toBe('/var/lib/switchyard/edge.registry-view.json');
  });

  it('saves and loads a snapshot as it was; no file is no view', async () => {
    expect(await view().load()).toBeNull();
    const before = Date.now();
    await view().save(snapshot);
    const loaded = await view().load();
    expect([...loaded!.snapshot.services.values()]).toEqual([entry]);
    expect(loaded!.savedAt).toBeGreaterThanOrEqual(before - 1_000);
    expect(saveErrors).toEqual([]);
  });

  it('writes only the newest of saves asked for while one is running', async () => {
    const v = view();
    const later: RegistrySnapshot = { services: new Map() };
    const first = v.save(snapshot);
    void v.save({ services: new Map([['x', { ...entry, name: 'x' }]]) });
    await v.save(later);
    await first;
    expect(JSON.parse(await readFile(file, 'utf8'))).toMatchObject({ services: [] });
  });

  it('reports a save that fails (with the path) and keeps going', async () => {
    const v = new PersistedView(join(dir, 'not-a-dir.json', 'view.json'), 's', (err) => saveErrors.push(err));
    await writeFile(join(dir, 'not-a-dir.json'), 'a file');
    await v.save(snapshot);
    expect(saveErrors).toHaveLength(1);
    expect(v.lastSaveError).toMatch(/cannot save the registry view to .*not-a-dir\.json\/view\.json/);
  });

  const unusable = async (text: string, message: RegExp) => {
    await writeFile(file, text);
    const err = await view().load().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PersistedViewUnusable);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).toContain(file);
  };

  it('refuses a file that is not JSON, not a view, of another version or of another registry', async () => {
    await unusable('{"version":1,', /is not valid JSON .*remove it, the next good registry read writes it again/);
    await unusable('[]', /is not a registry view: \(top level\): /);
    await unusable(JSON.stringify({ version: 2, savedAt: new Date().toISOString(), scope: 'consul-a', services: [] }), /is not a registry view: version: /);
    await unusable(JSON.stringify({ version: 1, savedAt: 'yesterday', scope: 'consul-a', services: [] }), /savedAt: /);
    const bad = { ...entry.instances[0], port: 70_000 };
    await unusable(JSON.stringify({ version: 1, savedAt: new Date().toISOString(), scope: 'consul-a', services: [{ ...entry, instances: [bad] }] }), /services\.0\.instances\.0\.port: /);
    await unusable(JSON.stringify({ version: 1, savedAt: new Date().toISOString(), scope: 'consul-b', services: [] }), /was saved for another registry \(consul-b, not consul-a\)/);
  });

  it('reports a file it cannot read', async () => {
    const v = new PersistedView(dir, 's', () => undefined);
    await expect(v.load()).rejects.toThrow(/cannot read the persisted registry view .*EISDIR/);
  });
});

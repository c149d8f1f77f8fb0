import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

describe('configuration reload', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let proxy: ProxyHarness;
  const base = {
    listeners: [{ name: 'test', address: '127.0.0.1', port: 0 }],
    admin: { address: '127.0.0.1', port: 0 },
    registry: { type: 'file', path: 'services.yaml', debounce: '20ms' },
  };

  beforeAll(async () => {
    a = await startUpstream('a');
    b = await startUpstream('b');
    proxy = await startProxy({
      services: { a: [{ port: a.port }], b: [{ port: b.port }] },
      config: { routes: [{ name: 'main', match: { path: '/' }, service: 'a' }] },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await a.close();
    await b.close();
  });

  it('applies new routes atomically', async () => {
    expect((await fetchJson<EchoReply>(`${proxy.url}/x`)).json.instance).toBe('a');
    await writeFile(
      proxy.configFile,
      stringify({ ...base, routes: [{ name: 'main', match: { path: '/' }, service: 'b' }, { name: 'gone', match: { path: '/gone' }, service: 'nothing' }] }),
    );
    await proxy.app.reload();
    expect((await fetchJson<EchoReply>(`${proxy.url}/x`)).json.instance).toBe('b');
    expect((await fetchText(`${proxy.url}/gone`)).status).toBe(503);
  });

  it('rejects a broken config with its error and keeps serving the running one', async () => {
    await writeFile(proxy.configFile, stringify({ ...base, routes: [{ name: 'main', match: { path: 'no-slash' }, service: 'a' }] }));
    await expect(proxy.app.reload()).rejects.toThrow(/config\.yaml:\d+:\d+: routes\[0\]\.match\.path: must start with "\/"/);
    expect(proxy.log.find('configuration rejected')).toHaveLength(1);
    expect((await fetchJson<EchoReply>(`${proxy.url}/x`)).json.instance).toBe('b');
  });
});

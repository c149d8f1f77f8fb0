import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';
import { Switchyard } from '../../src/main.js';
import { fetchJson } from '../support/http-client.js';
import { captureLog } from '../support/log-capture.js';
import { eventually, startProxy, type ProxyHarness } from '../support/proxy-harness.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../support/test-upstream.js';

/** Registry and configuration faults: the running configuration keeps serving. */
describe('registry and configuration faults', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let proxy: ProxyHarness;

  beforeAll(async () => {
    a = await startUpstream('a');
    b = await startUpstream('b');
    proxy = await startProxy({ services: { app: [{ port: a.port }] }, config: { routes: [{ name: 'all', match: { path: '/' }, service: 'app' }] } });
  });
  afterAll(async () => {
    await proxy.close();
    await Promise.all([a.close(), b.close()]);
  });

  const instance = async () => (await fetchJson<EchoReply>(`${proxy.url}/`)).json.instance;

  it('keeps the last good services when the services file is corrupted, and picks up the repair', async () => {
    await writeFile(proxy.servicesFile, 'services: [unclosed\n  - : :');
    await eventually(() => proxy.log.find('services file rejected').length > 0, 5_000, 'the rejection to be logged');
    expect(await instance()).toBe('a');
    await writeFile(proxy.servicesFile, '\0\x01binary garbage\xff');
    await new Promise((r) => setTimeout(r, 100));
    expect(await instance()).toBe('a');
    await proxy.writeServices({ app: [{ port: b.port }] });
    await eventually(async () => (await instance()) === 'b', 5_000, 'the repaired services file');
  });

  it('rejects a corrupted configuration on reload and keeps serving the running one', async () => {
    await writeFile(proxy.configFile, 'routes: [{ name: x, service: ');
    await expect(proxy.app.reload()).rejects.toBeInstanceOf(ConfigError);
    await writeFile(proxy.configFile, stringify({ routes: [{ name: 'x', service: 'app', match: { path: 'no-slash' } }] }));
    await expect(proxy.app.reload()).rejects.toBeInstanceOf(ConfigError);
    expect((await fetchJson(`${proxy.url}/`)).status).toBe(200);
  });

  it('refuses to start with a certificate file that cannot be read, naming the field', async () => {
    const configFile = join(proxy.dir, 'missing-cert.yaml');
    await writeFile(
      configFile,
      stringify({ listeners: [{ address: '127.0.0.1', port: 0, tls: { cert: 'nope.pem', key: 'nope.key' } }], admin: { enabled: false }, registry: { type: 'file', path: 'services.yaml' } }),
    );
    const err = await Switchyard.start(configFile, { log: captureLog().log }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(String((err as Error).message)).toContain('listeners[0].tls.cert');
  });

  it('refuses to start an admin listener off loopback without a token', async () => {
    const configFile = join(proxy.dir, 'open-admin.yaml');
    await writeFile(configFile, stringify({ listeners: [{ address: '127.0.0.1', port: 0 }], admin: { address: '0.0.0.0', port: 0 }, registry: { type: 'file', path: 'services.yaml' } }));
    const err = await Switchyard.start(configFile, { log: captureLog().log }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ConfigError);
    expect(String((err as Error).message)).toContain('admin.token');
  });
});

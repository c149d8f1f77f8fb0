import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load-config.js';
import type { ConsulRegistryConfig } from '../../../src/config/schema.js';
import { ConsulRegistry } from '../../../src/registry/consul/consul-registry.js';
import { createTestCa, readPair, type CertificateFiles, type TestCa } from '../../support/certificates.js';
import { ConsulEmulator } from '../../support/consul-emulator.js';
import { captureLog } from '../../support/log-capture.js';

/**
 * The registry client against Consul over HTTPS with verify_incoming (a client certificate is
 * required), configured from Consul's own environment variables, from the config, or both.
 */
describe('Consul over TLS', () => {
  let dir: string;
  let ca: TestCa;
  let otherCa: TestCa;
  let client: CertificateFiles;
  let consul: ConsulEmulator;
  const configFile = () => join(dir, 'switchyard.yaml');

  const registryConfig = (registry: Record<string, unknown>) =>
    parseConfigText(configFile(), JSON.stringify({ registry: { type: 'consul', wait: '5s', waitAtStart: true, startTimeout: '1s', backoff: { initial: '50ms', max: '100ms' }, ...registry } })).registry as ConsulRegistryConfig;

  /** Starts a registry (waiting for Consul at start, so a TLS failure is the start error), returns the services it saw (or the start error's message), and closes it. */
  async function services(registry: Record<string, unknown>, env: NodeJS.ProcessEnv): Promise<string[] | string> {
    const r = new ConsulRegistry({ config: registryConfig(registry), configFile: configFile(), logger: captureLog().logger, env });
    try {
      await r.start();
    } catch (err) {
      return (err as Error).message;
    }
    try {
      return [...r.current().services.keys()];
    } finally {
      await r.close();
    }
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-consul-tls-'));
    ca = await createTestCa(dir, 'Consul CA');
    otherCa = await createTestCa(dir, 'Other CA');
    const server = await readPair(await ca.issue('consul-server', 'server.dc1.consul', ['DNS:server.dc1.consul', 'IP:127.0.0.1']));
    client = await ca.issue('consul-client', 'switchyard', ['DNS:switchyard.internal'], 'client');
    consul = await ConsulEmulator.start({ tls: { ...server, ca: (await readPair(ca)).cert } });
    consul.register({ ID: 'web-1', Name: 'web', Address: '127.0.0.1', Port: 18080 });
  });
  afterAll(async () => {
    await consul.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('takes the address, CONSUL_HTTP_SSL, the CA and the client certificate from the environment', async () => {
    expect(consul.url.startsWith('https://')).toBe(true);
    const env = { CONSUL_HTTP_ADDR: consul.address, CONSUL_HTTP_SSL: 'true', CONSUL_CACERT: ca.cert, CONSUL_CLIENT_CERT: client.cert, CONSUL_CLIENT_KEY: client.key };
    expect(await services({}, env)).toContain('web');
  });

  it('fails without a client certificate when Consul verifies incoming connections', async () => {
    const env = { CONSUL_HTTP_ADDR: consul.address, CONSUL_HTTP_SSL: 'true', CONSUL_CACERT: ca.cert };
    expect(await services({}, env)).toMatch(/Consul registry cannot start/);
  });

  it('speaks plain HTTP to a schemeless address without CONSUL_HTTP_SSL (and so fails against the TLS port)', async () => {
    const env = { CONSUL_HTTP_ADDR: consul.address, CONSUL_CACERT: ca.cert, CONSUL_CLIENT_CERT: client.cert, CONSUL_CLIENT_KEY: client.key };
    expect(await services({}, env)).toMatch(/Consul registry cannot start/);
  });

  it('lets the config win over the environment, field by field', async () => {
    const env = { CONSUL_HTTP_SSL: 'true', CONSUL_CACERT: otherCa.cert, CONSUL_CLIENT_CERT: client.cert, CONSUL_CLIENT_KEY: client.key };
    // The environment's CA does not sign Consul's certificate: the config's does.
    expect(await services({ address: consul.address }, env)).toMatch(/Consul registry cannot start/);
    expect(await services({ address: consul.address, tls: { ca: ca.cert } }, env)).toContain('web');
    // The environment names no client certificate: the config's pair is used.
    expect(await services({ address: consul.url, tls: { ca: ca.cert, cert: client.cert, key: client.key } }, { CONSUL_CACERT: otherCa.cert })).toContain('web');
    // verify: false in the config wins over a CA that cannot verify.
    expect(await services({ address: consul.url, tls: { verify: false } }, env)).toContain('web');
  });

  it('accepts the deprecated insecureSkipVerify as verify: false', async () => {
    const env = { CONSUL_CACERT: otherCa.cert, CONSUL_CLIENT_CERT: client.cert, CONSUL_CLIENT_KEY: client.key };
    expect(await services({ address: consul.url, tls: { insecureSkipVerify: true } }, env)).toContain('web');
    expect(await services({ address: consul.url }, { ...env, CONSUL_HTTP_SSL_VERIFY: 'false' })).toContain('web');
  });

  it('names the variable that is wrong', async () => {
    const base = { CONSUL_HTTP_ADDR: consul.address, CONSUL_CACERT: ca.cert };
    expect(await services({}, { ...base, CONSUL_HTTP_SSL: 'yes please' })).toMatch(/CONSUL_HTTP_SSL="yes please" is not a boolean: set it to true or false/);
    expect(await services({}, { ...base, CONSUL_HTTP_SSL: 'true', CONSUL_CLIENT_CERT: client.cert })).toMatch(/CONSUL_CLIENT_KEY is not set/);
    expect(await services({}, { ...base, CONSUL_HTTP_SSL: 'true', CONSUL_CACERT: join(dir, 'missing.pem') })).toMatch(/\$CONSUL_CACERT: cannot read .*missing\.pem.*Fix or unset CONSUL_CACERT/);
    expect(await services({ tls: { ca: 'nowhere.pem' } }, { ...base, CONSUL_HTTP_SSL: 'true' })).toMatch(/registry\.tls\.ca: cannot read .*nowhere\.pem.*Fix the path/);
  });
});

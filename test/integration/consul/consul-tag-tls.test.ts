import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createSelfSigned, createTestCa, readPair, type CertificateFiles, type TestCa } from '../../support/certificates.js';
import { ConsulEmulator, type ServiceRegistration } from '../../support/consul-emulator.js';
import { FAST_CONSUL_REGISTRY, startConsulProxy, type ConsulProxyHarness } from '../../support/consul-proxy-harness.js';
import { fetchText } from '../../support/http-client.js';
import { eventually } from '../../support/proxy-harness.js';
import { startRouterProcess, type RouterProcess } from '../../support/router-process.js';

async function startHttpsUpstream(files: CertificateFiles, name: string): Promise<HttpsServer> {
  const server = createHttpsServer(await readPair(files), (req, res) => {
    const body = JSON.stringify({ instance: name, url: req.url });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return server;
}

const portOf = (s: HttpsServer) => (s.address() as AddressInfo).port;

describe('urlprefix- tags with proto=https', () => {
  let dir: string;
  let ca: TestCa;
  let signed: HttpsServer;
  let selfSigned: HttpsServer;
  let h: ConsulProxyHarness | null = null;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-tag-tls-'));
    ca = await createTestCa(dir);
    signed = await startHttpsUpstream(await ca.issue('upstream-ip', 'upstream', ['IP:127.0.0.1']), 'signed');
    selfSigned = await startHttpsUpstream(await createSelfSigned(dir, 'self', 'upstream', ['IP:127.0.0.1']), 'self-signed');
  });
  afterAll(async () => {
    await new Promise((r) => signed.close(r));
    await new Promise((r) => selfSigned.close(r));
    await rm(dir, { recursive: true, force: true });
  });
  afterEach(async () => {
    await h?.close();
    h = null;
  });

  const instance = (name: string, server: HttpsServer, tag: string): ServiceRegistration => ({
    Name: name,
    ID: `${name}-1`,
    Address: '127.0.0.1',
    Port: portOf(server),
    Tags: [tag],
    Check: { TTL: '10m', Status: 'passing' },
  });
  const get = (path: string) => fetchText(`${h!.url}${path}`);

  it('reaches tagged instances over TLS, verified by default, and follows tag changes live', async () => {
    h = await startConsulProxy({ config: { services: { trusted: { tls: { ca: ca.cert } } } } });
    // No CA configured: the system CAs do not trust the test CA, so verification refuses it.
    h.consul.register(instance('verified', signed, 'urlprefix-/verified proto=https'));
    // tlsskipverify=true: TLS without verification (a self-signed certificate is accepted).
    h.consul.register(instance('skip', selfSigned, 'urlprefix-/skip proto=https tlsskipverify=true'));
    // The service's tls.ca names the CA: verified TLS succeeds.
    h.consul.register(instance('trusted', signed, 'urlprefix-/trusted proto=https'));
    // A plain tag to an https port: the proxy speaks HTTP and the upstream cannot answer it.
    h.consul.register(instance('plain', selfSigned, 'urlprefix-/plain'));

    await eventually(async () => (await get('/skip')).status === 200, 5_000, '/skip routed');
    const skip = await get('/skip');
    expect(JSON.parse(skip.body)).toMatchObject({ instance: 'self-signed', url: '/skip' });
    const trusted = await get('/trusted');
    expect(trusted.status).toBe(200);
    expect(JSON.parse(trusted.body)).toMatchObject({ instance: 'signed' });

    const verified = await get('/verified');
    expect(verified.status).toBe(502);
    expect(verified.headers['x-switchyard-error']).toBe('upstream_tls_failed');
    const plain = await get('/plain');
    expect(plain.status).toBe(502);
    expect(plain.headers['x-switchyard-error']).not.toBe('upstream_tls_failed');

    // Re-tagging the same instance https: its pool is rebuilt for TLS.
    h.consul.register(instance('plain', selfSigned, 'urlprefix-/plain proto=https tlsskipverify=true'));
    await eventually(async () => (await get('/plain')).status === 200, 5_000, '/plain over TLS after the tag change');
    // And back to plain HTTP.
    h.consul.register(instance('plain', selfSigned, 'urlprefix-/plain'));
    await eventually(async () => (await get('/plain')).status === 502, 5_000, '/plain over HTTP again');
  });

  it('rejects tlsskipverify without proto=https (the tag is ignored, with a warning)', async () => {
    h = await startConsulProxy();
    h.consul.register(instance('odd', selfSigned, 'urlprefix-/odd tlsskipverify=true'));
    await eventually(() => h!.log.find('route tag ignored').length > 0, 5_000, 'the warning');
    expect(JSON.stringify(h.log.find('route tag ignored'))).toContain('only applies with proto=https');
    expect((await get('/odd')).status).toBe(404);
  });

  it('verifies against NODE_EXTRA_CA_CERTS when no service tls section is given', async () => {
    const consul = await ConsulEmulator.start();
    let router: RouterProcess | null = null;
    try {
      consul.register(instance('verified', signed, 'urlprefix-/verified proto=https'));
      const configFile = join(dir, 'extra-ca.yaml');
      await writeFile(
        configFile,
        stringify({
          listeners: [{ name: 'main', address: '127.0.0.1', port: 0 }],
          admin: { address: '127.0.0.1', port: 0 },
          registry: { type: 'consul', address: consul.address, ...FAST_CONSUL_REGISTRY },
        }),
      );
      router = await startRouterProcess(configFile, { ...process.env, NODE_EXTRA_CA_CERTS: ca.cert });
      let last = { status: 0, body: '' };
      await eventually(async () => {
        last = await fetchText(`${router!.url}/verified`);
        return last.status === 200;
      }, 10_000, '/verified over verified TLS');
      expect(JSON.parse(last.body)).toMatchObject({ instance: 'signed' });
    } finally {
      await router?.stop('SIGTERM');
      await consul.close();
    }
  });
});

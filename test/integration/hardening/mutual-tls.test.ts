import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { connect as http2Connect } from 'node:http2';
import { createServer as createHttpsServer, request as httpsRequest, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, readPair, type CertificateFiles, type TestCa } from '../../support/certificates.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

interface ClientIdentity {
  cert: Buffer;
  key: Buffer;
}

/** GET over HTTPS (HTTP/1.1), optionally presenting a client certificate; rejects when the connection fails. */
function httpsGet(port: number, path: string, ca: Buffer, identity?: ClientIdentity): Promise<{ status: number; body: string; headers: Record<string, unknown> }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, servername: 'proxy.test', headers: { host: 'proxy.test' }, ca, agent: false, ...identity }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, headers: res.headers }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The same over HTTP/2 (ALPN h2). */
function http2Get(port: number, path: string, ca: Buffer, identity: ClientIdentity): Promise<number> {
  return new Promise((resolve, reject) => {
    const session = http2Connect(`https://127.0.0.1:${port}`, { ca, servername: 'proxy.test', ...identity });
    session.on('error', reject);
    session.on('close', () => reject(new Error('HTTP/2 session closed before a response')));
    const stream = session.request({ ':path': path, ':authority': 'proxy.test' });
    stream.on('response', (headers) => {
      stream.resume();
      stream.on('end', () => {
        session.close();
        resolve(Number(headers[':status']));
      });
    });
    stream.on('error', reject);
    stream.end();
  });
}

/** The handshake as a TLS 1.2 client sees it: Node's server refuses a bad client certificate inside the handshake. */
function tls12Handshake(port: number, ca: Buffer, identity?: ClientIdentity): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'proxy.test', maxVersion: 'TLSv1.2', ...identity }, () => resolve(socket));
    socket.once('error', reject);
  });
}

describe('mutual TLS', () => {
  let dir: string;
  let serverCa: TestCa;
  let clientCa: TestCa;
  let otherCa: TestCa;
  let serverCaPem: Buffer;
  let web: ClientIdentity;
  let batch: ClientIdentity;
  let stranger: ClientIdentity;
  let webFiles: CertificateFiles;
  let up: TestUpstream;
  let mtlsUpstream: HttpsServer;
  let proxy: ProxyHarness;
  let anyClientPort: number;
  let namedClientPort: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-mtls-'));
    serverCa = await createTestCa(dir, 'Server CA');
    clientCa = await createTestCa(dir, 'Client CA');
    otherCa = await createTestCa(dir, 'Other CA');
    serverCaPem = (await readPair(serverCa)).cert;
    const site = await serverCa.issue('proxy', 'proxy.test', ['DNS:proxy.test']);
    webFiles = await clientCa.issue('web', 'web', ['DNS:web.internal', 'URI:spiffe://example.org/web'], 'client');
    web = await readPair(webFiles);
    batch = await readPair(await clientCa.issue('batch', 'batch', ['DNS:batch.internal'], 'client'));
    stranger = await readPair(await otherCa.issue('stranger', 'web', ['DNS:web.internal'], 'client'));
    up = await startUpstream('plain');
    // An upstream that asks every client for a certificate the client CA signs.
    mtlsUpstream = createHttpsServer({ ...(await readPair(await serverCa.issue('upstream', 'upstream', ['IP:127.0.0.1']))), ca: (await readPair(clientCa)).cert, requestCert: true, rejectUnauthorized: true }, (req, res) => {
      const peer = (req.socket as TLSSocket).getPeerCertificate();
      const body = JSON.stringify({ instance: 'mtls-upstream', url: req.url, clientCn: peer.subject?.CN });
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
      res.end(body);
    });
    await new Promise<void>((r) => mtlsUpstream.listen(0, '127.0.0.1', () => r()));
    const mtlsPort = (mtlsUpstream.address() as AddressInfo).port;
    proxy = await startProxy({
      services: { plain: [{ port: up.port }], mtls: [{ port: mtlsPort }], nocert: [{ port: mtlsPort }] },
      config: {
        listeners: [
          // watch: false, so that only a reload (SIGHUP or the admin API) reads the files again.
          { name: 'any-client', address: '127.0.0.1', port: 0, tls: { cert: site.cert, key: site.key, watch: false, clientCertificate: { ca: clientCa.cert } } },
          {
            name: 'named-client',
            address: '127.0.0.1',
            port: 0,
            tls: { cert: site.cert, key: site.key, clientCertificate: { ca: clientCa.cert, subjectAltNames: ['URI:spiffe://example.org/web'], commonNames: ['ops'] } },
          },
        ],
        services: {
          mtls: { tls: { ca: serverCa.cert, cert: webFiles.cert, key: webFiles.key } },
          nocert: { tls: { ca: serverCa.cert } },
        },
        routes: [
          { name: 'mtls', match: { path: '/mtls' }, service: 'mtls' },
          { name: 'nocert', match: { path: '/nocert' }, service: 'nocert' },
          { name: 'plain', match: { path: '/' }, service: 'plain' },
        ],
      },
    });
    anyClientPort = proxy.app.addresses[0]!.port;
    namedClientPort = proxy.app.addresses[1]!.port;
  });
  afterAll(async () => {
    await proxy.close();
    await up.close();
    mtlsUpstream.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('accepts a client certificate the configured CA signs', async () => {
    const r = await httpsGet(anyClientPort, '/hello', serverCaPem, web);
    expect(r.status).toBe(200);
    expect((JSON.parse(r.body) as EchoReply).url).toBe('/hello');
  });

  it('refuses a client without a certificate, and one signed by another CA, in the handshake', async () => {
    const before = up.requests.length;
    await expect(httpsGet(anyClientPort, '/hello', serverCaPem)).rejects.toThrow();
    await expect(httpsGet(anyClientPort, '/hello', serverCaPem, stranger)).rejects.toThrow();
    // Over TLS 1.2 the client sees the handshake itself fail (with TLS 1.3 it fails on its first read).
    await expect(tls12Handshake(anyClientPort, serverCaPem)).rejects.toThrow(/handshake failure|certificate required|alert/i);
    await expect(tls12Handshake(anyClientPort, serverCaPem, stranger)).rejects.toThrow();
    const ok = await tls12Handshake(anyClientPort, serverCaPem, web);
    ok.destroy();
    expect(up.requests.length).toBe(before);
  });

  it('accepts a certificate carrying a listed subjectAltName, over HTTP/1.1 and HTTP/2', async () => {
    expect((await httpsGet(namedClientPort, '/named', serverCaPem, web)).status).toBe(200);
    expect(await http2Get(namedClientPort, '/named-h2', serverCaPem, web)).toBe(200);
  });

  it('closes the connection of a CA-signed certificate whose names are not listed, before any request is read', async () => {
    const before = up.requests.length;
    await expect(httpsGet(namedClientPort, '/named', serverCaPem, batch)).rejects.toThrow(/socket hang up|ECONNRESET|closed/i);
    await expect(http2Get(namedClientPort, '/named-h2', serverCaPem, batch)).rejects.toThrow();
    expect(up.requests.length).toBe(before);
    await eventually(() => proxy.log.find('client certificate refused').length > 0, 2_000, 'the refusal log line');
    expect(proxy.log.find('client certificate refused')[0]!.certificateNames).toEqual(expect.arrayContaining(['DNS:batch.internal', 'CN:batch']));
  });

  it('accepts a certificate by its subject common name', async () => {
    const ops = await readPair(await clientCa.issue('ops', 'ops', ['DNS:ops.internal'], 'client'));
    expect((await httpsGet(namedClientPort, '/cn', serverCaPem, ops)).status).toBe(200);
  });

  it('presents the service\'s client certificate to an upstream that requires one', async () => {
    const r = await httpsGet(anyClientPort, '/mtls', serverCaPem, web);
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toMatchObject({ instance: 'mtls-upstream', clientCn: 'web' });
  });

  it('answers 502 when the upstream requires a client certificate and the service has none', async () => {
    const r = await httpsGet(anyClientPort, '/nocert', serverCaPem, web);
    expect(r.status).toBe(502);
    // Over TLS 1.3 the instance's alert comes after the handshake; the client library sees the connection closed.
    expect(r.headers['x-switchyard-error']).toBe('upstream_reset');
  });

  it('verifies against a replaced client CA after a reload (SIGHUP path)', async () => {
    // The any-client listener's CA file now holds another CA: its certificates pass, the old ones fail.
    const caFile = join(proxy.dir, 'client-ca.pem');
    await copyFile(clientCa.cert, caFile);
    expect((await httpsGet(anyClientPort, '/before', serverCaPem, web)).status).toBe(200);
    await copyFile(otherCa.cert, clientCa.cert);
    await proxy.app.reload();
    await eventually(async () => (await httpsGet(anyClientPort, '/after', serverCaPem, stranger).then((r) => r.status, () => 0)) === 200, 5_000, 'the new client CA');
    await expect(httpsGet(anyClientPort, '/after', serverCaPem, web)).rejects.toThrow();
    await copyFile(caFile, clientCa.cert);
    await proxy.app.reload();
    await eventually(async () => (await httpsGet(anyClientPort, '/back', serverCaPem, web).then((r) => r.status, () => 0)) === 200, 5_000, 'the first client CA again');
  });
});

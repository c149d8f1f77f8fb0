import { X509Certificate } from 'node:crypto';
import { copyFile, mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpsServer, request as httpsRequest, type Server as HttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSelfSigned, createTestCa, readPair, type CertificateFiles, type TestCa } from '../../support/certificates.js';
import { parseResponses, sendRaw } from '../../support/raw-http-client.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

/** The certificate a TLS client gets for `servername` (undefined: no SNI). */
function peerCertificate(port: number, ca: Buffer, servername?: string): Promise<X509Certificate> {
  return new Promise((resolve, reject) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername, rejectUnauthorized: false }, () => {
      const raw = socket.getPeerX509Certificate();
      socket.destroy();
      if (raw) resolve(raw);
      else reject(new Error('no peer certificate'));
    });
    socket.once('error', reject);
  });
}

function httpsGet(port: number, path: string, host: string, ca: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest({ host: '127.0.0.1', port, path, servername: host, headers: { host }, ca, agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

async function startHttpsUpstream(files: CertificateFiles): Promise<HttpsServer> {
  const server = createHttpsServer(await readPair(files), (req, res) => {
    const body = JSON.stringify({ instance: 'tls-upstream', url: req.url, headers: req.headers });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return server;
}

describe('TLS', () => {
  let dir: string;
  let ca: TestCa;
  let caPem: Buffer;
  let siteA: CertificateFiles;
  let siteB: CertificateFiles;
  let wild: CertificateFiles;
  let up: TestUpstream;
  let goodTls: HttpsServer;
  let namedTls: HttpsServer;
  let selfSignedTls: HttpsServer;
  let proxy: ProxyHarness;
  let httpsPort: number;
  let redirectPort: number;
  let plainPort: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-tls-'));
    ca = await createTestCa(dir);
    caPem = (await readPair(ca)).cert;
    siteA = await ca.issue('site-a', 'a.test', ['DNS:a.test']);
    siteB = await ca.issue('site-b', 'b.test', ['DNS:b.test', 'DNS:www.b.test']);
    wild = await ca.issue('wild', 'wild.test', ['DNS:*.wild.test']);
    up = await startUpstream('plain');
    goodTls = await startHttpsUpstream(await ca.issue('upstream-ip', 'upstream', ['IP:127.0.0.1']));
    namedTls = await startHttpsUpstream(await ca.issue('upstream-named', 'upstream.internal', ['DNS:upstream.internal']));
    selfSignedTls = await startHttpsUpstream(await createSelfSigned(dir, 'self', 'upstream', ['IP:127.0.0.1']));
    const port = (s: HttpsServer) => (s.address() as AddressInfo).port;
    proxy = await startProxy({
      services: {
        plain: [{ port: up.port }],
        good: [{ port: port(goodTls) }],
        named: [{ port: port(namedTls) }],
        misnamed: [{ port: port(namedTls) }],
        untrusted: [{ port: port(selfSignedTls) }],
        metaHttps: [{ port: port(selfSignedTls), meta: { proto: 'https' } }],
      },
      config: {
        listeners: [
          { name: 'https', address: '127.0.0.1', port: 0, tls: { cert: siteA.cert, key: siteA.key, certificates: [siteB, wild] } },
          { name: 'redirect', address: '127.0.0.1', port: 0, redirectToHttps: 8443 },
          { name: 'plain', address: '127.0.0.1', port: 0 },
        ],
        services: {
          good: { tls: { ca: ca.cert } },
          named: { tls: { ca: ca.cert, serverName: 'upstream.internal' } },
          misnamed: { tls: { ca: ca.cert } },
          untrusted: { tls: { ca: ca.cert } },
        },
        routes: [
          { name: 'good', match: { path: '/good' }, service: 'good' },
          { name: 'named', match: { path: '/named' }, service: 'named' },
          { name: 'misnamed', match: { path: '/misnamed' }, service: 'misnamed' },
          { name: 'untrusted', match: { path: '/untrusted' }, service: 'untrusted' },
          { name: 'meta', match: { path: '/meta' }, service: 'metaHttps' },
          { name: 'plain', match: { path: '/' }, service: 'plain' },
        ],
      },
    });
    httpsPort = proxy.app.addresses[0]!.port;
    redirectPort = proxy.app.addresses[1]!.port;
    plainPort = proxy.app.addresses[2]!.port;
  });
  afterAll(async () => {
    await proxy.close();
    await up.close();
    for (const s of [goodTls, namedTls, selfSignedTls]) s.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('picks the certificate by SNI, with the first one as default', async () => {
    expect((await peerCertificate(httpsPort, caPem, 'a.test')).subject).toContain('CN=a.test');
    expect((await peerCertificate(httpsPort, caPem, 'b.test')).subject).toContain('CN=b.test');
    expect((await peerCertificate(httpsPort, caPem, 'WWW.B.test')).subject).toContain('CN=b.test');
    expect((await peerCertificate(httpsPort, caPem, 'x.wild.test')).subject).toContain('CN=wild.test');
    expect((await peerCertificate(httpsPort, caPem, 'unknown.test')).subject).toContain('CN=a.test');
    expect((await peerCertificate(httpsPort, caPem)).subject).toContain('CN=a.test');
  });

  it('proxies HTTPS requests with X-Forwarded-Proto https', async () => {
    const r = await httpsGet(httpsPort, '/hello', 'b.test', caPem);
    expect(r.status).toBe(200);
    const echo = JSON.parse(r.body) as EchoReply;
    expect(echo.instance).toBe('plain');
    expect(echo.headers['x-forwarded-proto']).toBe('https');
  });

  it('redirects plain HTTP to https with 308, keeping host and target', async () => {
    const r = await sendRaw(redirectPort, 'POST /a/b?c=1 HTTP/1.1\r\nHost: Shop.Example:8080\r\nContent-Length: 0\r\n\r\n');
    expect(r.responses[0]!.statusLine).toBe('HTTP/1.1 308 Permanent Redirect');
    expect(r.responses[0]!.headers.location).toBe('https://shop.example:8443/a/b?c=1');
    const bad = await sendRaw(redirectPort, 'GET / HTTP/1.1\r\nHost: a/b\r\n\r\n');
    expect(bad.responses[0]!.status).toBe(400);
    expect(up.requests.length).toBe(1);
  });

  it('forwards to a TLS upstream whose certificate the configured CA signs', async () => {
    const r = await sendRaw(plainPort, 'GET /good/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expect(r.responses[0]!.status, JSON.stringify(proxy.log.find('upstream request failed'))).toBe(200);
    expect(JSON.parse(r.responses[0]!.body).instance).toBe('tls-upstream');
    // The name checked is the configured one (here the IP address), never the client's Host.
    for (const host of ['upstream.internal', 'other.example']) {
      const again = await sendRaw(plainPort, `GET /good/y HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
      expect(again.responses[0]!.status, host).toBe(200);
    }
    const misnamed = await sendRaw(plainPort, 'GET /misnamed HTTP/1.1\r\nHost: upstream.internal\r\nConnection: close\r\n\r\n');
    expect(misnamed.responses[0]!.status).toBe(502);
  });

  it('sends the configured servername and checks the certificate against it', async () => {
    const named = await sendRaw(plainPort, 'GET /named HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expect(named.responses[0]!.status).toBe(200);
    const misnamed = await sendRaw(plainPort, 'GET /misnamed HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expect(misnamed.responses[0]!.statusLine).toBe('HTTP/1.1 502 Bad Gateway');
    expect(misnamed.responses[0]!.headers['x-switchyard-error']).toBe('upstream_tls_failed');
  });

  it('answers 502 when the upstream certificate is not trusted (verification on by default)', async () => {
    for (const path of ['/untrusted', '/meta']) {
      const r = await sendRaw(plainPort, `GET ${path} HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n`);
      expect(r.responses[0]!.statusLine, path).toBe('HTTP/1.1 502 Bad Gateway');
      expect(r.responses[0]!.headers['x-switchyard-error'], path).toBe('upstream_tls_failed');
    }
  });

  it('serves a renewed certificate after its files change', async () => {
    const before = await peerCertificate(httpsPort, caPem, 'b.test');
    const renewed = await ca.issue('site-b-renewed', 'b.test', ['DNS:b.test', 'DNS:www.b.test']);
    await copyFile(renewed.key, siteB.key);
    await copyFile(renewed.cert, siteB.cert);
    await eventually(async () => (await peerCertificate(httpsPort, caPem, 'b.test')).fingerprint256 !== before.fingerprint256, 10_000, 'the renewed certificate');
    expect((await peerCertificate(httpsPort, caPem, 'b.test')).subject).toContain('CN=b.test');
  });

  it('serves an h2c upgrade over TLS as a plain request and parses the next request on the same connection', async () => {
    const socket = tlsConnect({ host: '127.0.0.1', port: httpsPort, ca: caPem, servername: 'a.test' });
    await new Promise<void>((resolve, reject) => socket.once('secureConnect', resolve).once('error', reject));
    let text = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (text += d));
    socket.write(
      'GET /one HTTP/1.1\r\nHost: a.test\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n' +
        'GET /two HTTP/1.1\r\nHost: a.test\r\n\r\n',
    );
    await eventually(() => parseResponses(text).length >= 2, 5_000, 'two responses');
    socket.destroy();
    const [one, two] = parseResponses(text).map((r) => JSON.parse(r.body) as EchoReply);
    expect(one!.url).toBe('/one');
    expect(one!.headers.upgrade).toBeUndefined();
    expect(one!.headers['http2-settings']).toBeUndefined();
    expect(one!.headers['x-forwarded-proto']).toBe('https');
    expect(two!.url).toBe('/two');
  });
});

import { mkdtemp, rm } from 'node:fs/promises';
import { request as httpsRequest, type RequestOptions } from 'node:https';
import { connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, readPair, type CertificateFiles } from '../../support/certificates.js';
import { fetchJson } from '../../support/http-client.js';
import { closeHttp2, http2Request, openHttp2 } from '../../support/http2-client.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { RawConnection } from '../../support/raw-http-client.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

/** A TLS handshake offering `alpn`: what the server negotiated, or the handshake error. */
function tlsHandshake(port: number, ca: Buffer, alpn: string[] | undefined): Promise<{ alpn: string | false; error: null } | { alpn: null; error: Error & { code?: string } }> {
  return new Promise((resolve) => {
    const socket = tlsConnect({ host: '127.0.0.1', port, ca, servername: 'a.test', ALPNProtocols: alpn }, () => {
      const negotiated = socket.alpnProtocol ?? false;
      socket.destroy();
      resolve({ alpn: negotiated, error: null });
    });
    socket.once('error', (error: Error & { code?: string }) => resolve({ alpn: null, error }));
  });
}

/** An HTTP/1.1 GET over TLS; `alpn` undefined offers no ALPN at all. */
function httpsGet(port: number, path: string, ca: Buffer, alpn?: string[]): Promise<{ status: number; body: string; httpVersion: string }> {
  return new Promise((resolve, reject) => {
    // node:https passes ALPNProtocols on to tls.connect; its RequestOptions type does not list it.
    const options: RequestOptions & { ALPNProtocols?: string[] } = { host: '127.0.0.1', port, path, servername: 'a.test', headers: { host: 'a.test' }, ca, agent: false, ALPNProtocols: alpn };
    const req = httpsRequest(options, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, body, httpVersion: res.httpVersion }));
    });
    req.on('error', reject);
    req.end();
  });
}

/** Writes `bytes` one byte per write, each after the previous one left (Nagle off). */
async function writeByteByByte(conn: RawConnection, bytes: Buffer): Promise<void> {
  conn.socket.setNoDelay(true);
  for (const b of bytes) {
    await new Promise<void>((resolve) => conn.socket.write(Buffer.of(b), () => resolve()));
    await new Promise((r) => setTimeout(r, 2));
  }
}

const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');
/** An empty SETTINGS frame: length 0, type 4, flags 0, stream 0. */
const EMPTY_SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);

describe('listener protocols', () => {
  let dir: string;
  let caPem: Buffer;
  let site: CertificateFiles;
  let up: TestUpstream;
  let proxy: ProxyHarness;
  const port = (name: string) => proxy.app.addresses.find((a) => a.name === name)!.port;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-h2-'));
    const ca = await createTestCa(dir);
    caPem = (await readPair(ca)).cert;
    site = await ca.issue('site-a', 'a.test', ['DNS:a.test']);
    up = await startUpstream('plain');
    const tls = { cert: site.cert, key: site.key };
    proxy = await startProxy({
      services: { plain: [{ port: up.port }] },
      config: {
        listeners: [
          { name: 'tls-default', address: '127.0.0.1', port: 0, tls },
          { name: 'tls-h2', address: '127.0.0.1', port: 0, tls, protocols: ['h2'] },
          { name: 'tls-http1', address: '127.0.0.1', port: 0, tls, protocols: ['http1'] },
          { name: 'mixed', address: '127.0.0.1', port: 0, protocols: ['http1', 'h2c'] },
          { name: 'h2c', address: '127.0.0.1', port: 0, protocols: ['h2c'] },
        ],
        routes: [{ name: 'plain', match: { path: '/' }, service: 'plain' }],
      },
    });
  });
  afterAll(async () => {
    await proxy?.close();
    await up?.close();
    await rm(dir, { recursive: true, force: true });
  });

  describe('TLS, default protocols [h2, http1]', () => {
    it('an ALPN h2 client is proxied over HTTP/2 and sees the :status and the headers', async () => {
      const session = await openHttp2(`https://127.0.0.1:${port('tls-default')}`, { ca: caPem, servername: 'a.test' });
      try {
        expect(session.alpnProtocol).toBe('h2');
        const r = await http2Request(session, { ':method': 'GET', ':path': '/over-h2', ':authority': 'a.test', 'x-request-id': 'h2-tls-1' });
        expect(r.status).toBe(200);
        expect(r.headers['x-instance']).toBe('plain');
        expect(r.headers['content-type']).toBe('application/json');
        expect(r.headers['x-request-id']).toBe('h2-tls-1');
        const reply = JSON.parse(r.body.toString()) as EchoReply;
        expect(reply.url).toBe('/over-h2');
        expect(reply.headers['x-forwarded-proto']).toBe('https');
        expect(reply.headers.via).toBe('2 switchyard');
      } finally {
        await closeHttp2(session);
      }
    });

    it('an HTTP/1.1 client on the same port is proxied too (with and without ALPN)', async () => {
      const noAlpn = await httpsGet(port('tls-default'), '/over-h1', caPem);
      expect(noAlpn.status).toBe(200);
      expect(noAlpn.httpVersion).toBe('1.1');
      expect((JSON.parse(noAlpn.body) as EchoReply).headers.via).toBe('1.1 switchyard');
      const offered = await httpsGet(port('tls-default'), '/over-h1', caPem, ['http/1.1']);
      expect(offered.status).toBe(200);
      expect((JSON.parse(offered.body) as EchoReply).url).toBe('/over-h1');
      expect(await tlsHandshake(port('tls-default'), caPem, ['h2', 'http/1.1'])).toEqual({ alpn: 'h2', error: null });
      expect(await tlsHandshake(port('tls-default'), caPem, ['http/1.1'])).toEqual({ alpn: 'http/1.1', error: null });
    });
  });

  describe('TLS, protocols [h2]', () => {
    it('serves HTTP/2', async () => {
      const session = await openHttp2(`https://127.0.0.1:${port('tls-h2')}`, { ca: caPem, servername: 'a.test' });
      try {
        expect((await http2Request(session, { ':path': '/only-h2', ':authority': 'a.test' })).status).toBe(200);
      } finally {
        await closeHttp2(session);
      }
    });

    it('refuses an HTTP/1.1-only client: a client offering http/1.1 fails the handshake (no_application_protocol)', async () => {
      const r = await tlsHandshake(port('tls-h2'), caPem, ['http/1.1']);
      expect(r.alpn).toBeNull();
      expect(r.error?.code).toBe('ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL');
      await expect(httpsGet(port('tls-h2'), '/', caPem, ['http/1.1'])).rejects.toThrow(/no application protocol/i);
    });

    it('refuses a client offering no ALPN: the handshake completes, then the connection is closed without a response', async () => {
      expect(await tlsHandshake(port('tls-h2'), caPem, undefined)).toEqual({ alpn: false, error: null });
      await expect(httpsGet(port('tls-h2'), '/', caPem)).rejects.toMatchObject({ code: 'ECONNRESET' });
    });
  });

  describe('TLS, protocols [http1]', () => {
    it('does not offer h2 by ALPN: an h2-only client fails the handshake, node:http2 cannot connect', async () => {
      const r = await tlsHandshake(port('tls-http1'), caPem, ['h2']);
      expect(r.alpn).toBeNull();
      expect(r.error?.code).toBe('ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL');
      await expect(openHttp2(`https://127.0.0.1:${port('tls-http1')}`, { ca: caPem, servername: 'a.test' })).rejects.toThrow();
      expect(await tlsHandshake(port('tls-http1'), caPem, ['h2', 'http/1.1'])).toEqual({ alpn: 'http/1.1', error: null });
      expect((await httpsGet(port('tls-http1'), '/h1', caPem)).status).toBe(200);
    });
  });

  describe('cleartext, protocols [http1, h2c] on one port', () => {
    it('an h2c client with prior knowledge and an HTTP/1.1 client are both proxied', async () => {
      const session = await openHttp2(`http://127.0.0.1:${port('mixed')}`);
      try {
        const r = await http2Request(session, { ':path': '/h2c', ':authority': 'svc.test' });
        expect(r.status).toBe(200);
        const reply = JSON.parse(r.body.toString()) as EchoReply;
        expect(reply.headers.via).toBe('2 switchyard');
        expect(reply.headers['x-forwarded-proto']).toBe('http');
      } finally {
        await closeHttp2(session);
      }
      const h1 = await fetchJson<EchoReply>(`http://127.0.0.1:${port('mixed')}/h1`);
      expect(h1.status).toBe(200);
      expect(h1.json.headers.via).toBe('1.1 switchyard');
    });

    it('pipelined HTTP/1.1 requests on one raw socket are answered in order', async () => {
      const conn = await RawConnection.open(port('mixed'));
      try {
        conn.write('GET /p1 HTTP/1.1\r\nHost: a\r\n\r\nGET /p2 HTTP/1.1\r\nHost: a\r\n\r\nPOST /p3 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc');
        const responses = await conn.waitForResponses(3);
        expect(responses.map((r) => r.status)).toEqual([200, 200, 200]);
        expect(responses.map((r) => (JSON.parse(r.body) as EchoReply).url)).toEqual(['/p1', '/p2', '/p3']);
        expect((JSON.parse(responses[2]!.body) as EchoReply).bodyBytes).toBe(3);
      } finally {
        conn.destroy();
      }
    });

    it('an HTTP/1.x request line naming version 2.0 is not HTTP/2: 505', async () => {
      const conn = await RawConnection.open(port('mixed'));
      try {
        conn.write('GET / HTTP/2.0\r\nHost: a\r\n\r\n');
        const [r] = await conn.waitForResponses(1);
        expect(r!.statusLine).toBe('HTTP/1.1 505 HTTP Version Not Supported');
        expect(r!.headers['x-switchyard-error']).toBe('version_not_supported');
      } finally {
        conn.destroy();
      }
    });

    it('an HTTP/1.1 request that arrives one byte at a time (starting with "P" like the preface) is served', async () => {
      const conn = await RawConnection.open(port('mixed'));
      try {
        await writeByteByByte(conn, Buffer.from('POST /slow HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi', 'latin1'));
        const [r] = await conn.waitForResponses(1);
        expect(r!.status).toBe(200);
        expect(JSON.parse(r!.body)).toMatchObject({ url: '/slow', method: 'POST', bodyBytes: 2 });
      } finally {
        conn.destroy();
      }
    });

    it('the HTTP/2 preface that arrives one byte at a time goes to HTTP/2 (the server answers with SETTINGS)', async () => {
      const conn = await RawConnection.open(port('mixed'));
      try {
        await writeByteByByte(conn, Buffer.concat([PREFACE, EMPTY_SETTINGS]));
        const deadline = Date.now() + 5_000;
        while (conn.text.length < 9 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
        const frame = Buffer.from(conn.text, 'latin1');
        // The first frame the server sends is its SETTINGS (type 4) on stream 0.
        expect(frame[3]).toBe(4);
        expect(frame.readUInt32BE(5)).toBe(0);
        expect(conn.text).not.toContain('HTTP/1.1');
      } finally {
        conn.destroy();
      }
    });
  });

  describe('cleartext, protocols [h2c]', () => {
    it('serves h2c and refuses HTTP/1.1 without an HTTP response (GOAWAY, connection closed)', async () => {
      const session = await openHttp2(`http://127.0.0.1:${port('h2c')}`);
      try {
        expect((await http2Request(session, { ':path': '/only-h2c', ':authority': 'svc.test' })).status).toBe(200);
      } finally {
        await closeHttp2(session);
      }
      const conn = await RawConnection.open(port('h2c'));
      conn.write('GET / HTTP/1.1\r\nHost: a\r\n\r\n');
      await conn.waitForClose();
      expect(conn.text).not.toContain('HTTP/1.1');
      // What came back, if anything, is HTTP/2 framing: SETTINGS first, then GOAWAY (type 7).
      if (conn.text.length > 0) expect(Buffer.from(conn.text, 'latin1')[3]).toBe(4);
    });
  });

  it('the admin API lists each listener with its protocols and open HTTP/2 connections', async () => {
    const session = await openHttp2(`https://127.0.0.1:${port('tls-default')}`, { ca: caPem, servername: 'a.test' });
    try {
      expect((await http2Request(session, { ':path': '/counted', ':authority': 'a.test' })).status).toBe(200);
      const status = (await fetchJson<{ listeners: unknown[] }>(`http://127.0.0.1:${proxy.app.adminAddress!.port}/api/v1/status`)).json;
      const h2 = expect.any(Number);
      expect(status.listeners).toEqual([
        { name: 'tls-default', address: '127.0.0.1', port: port('tls-default'), tls: true, protocols: ['h2', 'http1'], connections: expect.any(Number), http2Connections: 1 },
        { name: 'tls-h2', address: '127.0.0.1', port: port('tls-h2'), tls: true, protocols: ['h2'], connections: expect.any(Number), http2Connections: h2 },
        { name: 'tls-http1', address: '127.0.0.1', port: port('tls-http1'), tls: true, protocols: ['http1'], connections: expect.any(Number), http2Connections: 0 },
        { name: 'mixed', address: '127.0.0.1', port: port('mixed'), tls: false, protocols: ['http1', 'h2c'], connections: expect.any(Number), http2Connections: h2 },
        { name: 'h2c', address: '127.0.0.1', port: port('h2c'), tls: false, protocols: ['h2c'], connections: expect.any(Number), http2Connections: h2 },
      ]);
    } finally {
      await closeHttp2(session);
    }
    await eventually(() => proxy.app.proxyListeners[0]!.http2Sessions === 0, 5_000, 'the closed HTTP/2 connection to be uncounted');
  });

  it('a plain listener without protocols serves HTTP/1.1 only: the HTTP/2 preface gets a 400', async () => {
    const plain = await startProxy({ services: { plain: [{ port: up.port }] }, config: { routes: [{ name: 'plain', match: { path: '/' }, service: 'plain' }] } });
    try {
      const socket = netConnect(plain.port, '127.0.0.1');
      let text = '';
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => (text += d));
      socket.on('error', () => undefined);
      socket.write(Buffer.concat([PREFACE, EMPTY_SETTINGS]));
      await new Promise<void>((resolve) => socket.once('close', () => resolve()));
      expect(text).toMatch(/^HTTP\/1\.1 (400|505) /);
    } finally {
      await plain.close();
    }
  });
});

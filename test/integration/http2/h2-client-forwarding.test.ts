import { createHash } from 'node:crypto';
import type { ClientHttp2Session } from 'node:http2';
import { constants } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeHttp2, http2Request, openHttp2 } from '../../support/http2-client.js';
import { startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { RawConnection } from '../../support/raw-http-client.js';
import { echoHandler, startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

const MiB = 1024 * 1024;

/** Deterministic bytes: a large body that a test can check byte for byte through its hash. */
function pattern(size: number): Buffer {
  const b = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) b[i] = (i * 31 + (i >> 10)) & 0xff;
  return b;
}
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

const DOWNLOAD = pattern(8 * MiB);

/**
 * An HTTP/2 client (h2c, prior knowledge) in front of an HTTP/1.1 upstream: what the upstream
 * receives, bodies both ways, proxy errors on HTTP/2 and trailers.
 */
describe('HTTP/2 client → HTTP/1.1 upstream', () => {
  let up: TestUpstream;
  let proxy: ProxyHarness;
  let session: ClientHttp2Session;
  const echo = echoHandler('h1');

  beforeAll(async () => {
    up = await startUpstream('h1', (req, res) => {
      if (req.url === '/hash') {
        const h = createHash('sha256');
        let n = 0;
        req.on('data', (c: Buffer) => {
          h.update(c);
          n += c.length;
        });
        req.on('end', () => {
          const body = JSON.stringify({ sha256: h.digest('hex'), bytes: n, transferEncoding: req.headers['transfer-encoding'] ?? null, contentLength: req.headers['content-length'] ?? null });
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
          res.end(body);
        });
        return;
      }
      if (req.url === '/download') {
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': DOWNLOAD.length });
        res.end(DOWNLOAD);
        return;
      }
      if (req.url === '/hints') {
        res.writeEarlyHints({ link: '</style.css>; rel=preload; as=style' });
        setTimeout(() => {
          res.writeHead(200, { 'content-length': '5' });
          res.end('final');
        }, 20);
        return;
      }
      if (req.url === '/trailers') {
        req.resume();
        req.on('end', () => {
          res.writeHead(200, { 'content-type': 'text/plain', trailer: 'x-checksum' });
          res.write('part1,');
          res.write('part2');
          res.addTrailers({ 'x-checksum': 'abc123' });
          res.end();
        });
        return;
      }
      echo(req, res);
    });
    proxy = await startProxy({
      services: { h1: [{ port: up.port }] },
      config: {
        listeners: [{ name: 'mixed', address: '127.0.0.1', port: 0, protocols: ['http1', 'h2c'] }],
        routes: [
          { name: 'rewrite', match: { path: '/rewrite' }, service: 'h1', hostRewrite: 'internal.svc' },
          { name: 'small', match: { path: '/small' }, service: 'h1', maxBodySize: 1024 },
          { name: 'big', match: { path: '/hash' }, service: 'h1', maxBodySize: 64 * MiB },
          { name: 'h1', match: { path: '/' }, service: 'h1' },
        ],
      },
    });
    session = await openHttp2(`http://127.0.0.1:${proxy.port}`);
  });
  afterAll(async () => {
    await closeHttp2(session);
    await proxy?.close();
    await up?.close();
  });

  const get = (path: string, extra: Record<string, string | string[]> = {}) => http2Request(session, { ':path': path, ':authority': 'svc.test:8080', ...extra });
  const echoOf = (body: Buffer) => JSON.parse(body.toString()) as EchoReply;

  describe('what the upstream receives', () => {
    it('Host from :authority, no pseudo-headers, Via "2 switchyard", X-Forwarded-*, the request id', async () => {
      const r = await get('/echo/x?q=1', { 'x-request-id': 'h2-fwd-1', 'x-custom': 'yes' });
      expect(r.status).toBe(200);
      const seen = echoOf(r.body);
      expect(seen.method).toBe('GET');
      expect(seen.url).toBe('/echo/x?q=1');
      expect(seen.headers.host).toBe('svc.test:8080');
      expect(seen.rawHeaders.filter((_, i) => i % 2 === 0).some((name) => name.startsWith(':'))).toBe(false);
      expect(seen.rawHeaders.filter((name, i) => i % 2 === 0 && name.toLowerCase() === 'host')).toHaveLength(1);
      expect(seen.headers.via).toBe('2 switchyard');
      expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
      expect(seen.headers['x-forwarded-proto']).toBe('http');
      expect(seen.headers['x-forwarded-host']).toBe('svc.test:8080');
      expect(seen.headers['x-request-id']).toBe('h2-fwd-1');
      expect(seen.headers['x-custom']).toBe('yes');
      expect(r.headers['x-request-id']).toBe('h2-fwd-1');
    });

    it('a Host that agrees with :authority is sent once', async () => {
      const seen = echoOf((await get('/echo/host', { host: 'svc.test:8080' })).body);
      expect(seen.rawHeaders.filter((name, i) => i % 2 === 0 && name.toLowerCase() === 'host')).toHaveLength(1);
      expect(seen.headers.host).toBe('svc.test:8080');
    });

    it('hostRewrite replaces the Host; the client\'s :authority goes in X-Forwarded-Host', async () => {
      const seen = echoOf((await get('/rewrite/a')).body);
      expect(seen.headers.host).toBe('internal.svc');
      expect(seen.headers['x-forwarded-host']).toBe('svc.test:8080');
    });

    it('cookies split into several fields are joined with "; " into one Cookie header', async () => {
      const seen = echoOf((await get('/echo/cookies', { cookie: ['a=1', 'b=2', 'c=3'] })).body);
      expect(seen.rawHeaders.filter((name, i) => i % 2 === 0 && name.toLowerCase() === 'cookie')).toHaveLength(1);
      expect(seen.headers.cookie).toBe('a=1; b=2; c=3');
    });

    it('TE: trailers is forwarded only when the client sent it', async () => {
      expect(echoOf((await get('/echo/te', { te: 'trailers' })).body).headers.te).toBe('trailers');
      expect(echoOf((await get('/echo/no-te')).body).headers.te).toBeUndefined();
    });

    it('a body without Content-Length arrives whole, chunked to the HTTP/1.1 upstream', async () => {
      const body = await new Promise<Buffer>((resolve, reject) => {
        const stream = session.request({ ':method': 'POST', ':path': '/hash', ':authority': 'svc.test' });
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', () => resolve(Buffer.concat(chunks)));
        stream.on('error', reject);
        stream.write('hello, ');
        setTimeout(() => stream.end('world'), 20);
      });
      expect(JSON.parse(body.toString())).toEqual({ sha256: sha256(Buffer.from('hello, world')), bytes: 12, transferEncoding: 'chunked', contentLength: null });
    });

    it('a body with Content-Length is forwarded with it', async () => {
      const r = await http2Request(session, { ':method': 'POST', ':path': '/hash', ':authority': 'svc.test', 'content-length': '5' }, 'abcde');
      expect(JSON.parse(r.body.toString())).toEqual({ sha256: sha256(Buffer.from('abcde')), bytes: 5, transferEncoding: null, contentLength: '5' });
    });

    it('a 5 MiB upload and an 8 MiB download pass intact through flow control', async () => {
      const upload = pattern(5 * MiB);
      const r = await http2Request(session, { ':method': 'POST', ':path': '/hash', ':authority': 'svc.test' }, upload);
      expect(r.status).toBe(200);
      expect(JSON.parse(r.body.toString())).toMatchObject({ sha256: sha256(upload), bytes: upload.length });
      const d = await get('/download');
      expect(d.status).toBe(200);
      expect(d.body.length).toBe(DOWNLOAD.length);
      expect(sha256(d.body)).toBe(sha256(DOWNLOAD));
    });

    it('103 Early Hints from the upstream reach the HTTP/2 client before the final response', async () => {
      const interim: Record<string, unknown>[] = [];
      const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
        const stream = session.request({ ':path': '/hints', ':authority': 'svc.test' });
        let status = 0;
        let body = '';
        stream.on('headers', (h) => interim.push(h));
        stream.on('response', (h) => (status = Number(h[':status'])));
        stream.setEncoding('utf8');
        stream.on('data', (c: string) => (body += c));
        stream.on('error', reject);
        stream.on('close', () => resolve({ status, body }));
      });
      expect(r).toEqual({ status: 200, body: 'final' });
      expect(interim).toHaveLength(1);
      expect(interim[0]).toMatchObject({ ':status': 103, link: '</style.css>; rel=preload; as=style' });
    });

    it('HEAD gets the head of the GET response and no body', async () => {
      const r = await http2Request(session, { ':method': 'HEAD', ':path': '/download', ':authority': 'svc.test' });
      expect(r.status).toBe(200);
      expect(r.headers['content-length']).toBe(String(DOWNLOAD.length));
      expect(r.body.length).toBe(0);
    });
  });

  describe('proxy errors on HTTP/2', () => {
    /**
     * A request with a malformed :authority: Switchyard's 400, or 'reset' where nghttp2 refuses it
     * before any handler (Node ≥ 22 bundles an nghttp2 that resets such a stream with
     * PROTOCOL_ERROR, RFC 9113 §8.3.1); either way nothing is forwarded and the connection serves on.
     */
    const malformedAuthority = async (authority: string) => {
      try {
        return await http2Request(session, { ':path': '/x', ':authority': authority });
      } catch (err) {
        expect(NODE_MAJOR, `only Node ≥ 22 resets a malformed :authority itself: ${(err as Error).message}`).toBeGreaterThanOrEqual(22);
        expect((err as Error).message).toContain('NGHTTP2_PROTOCOL_ERROR');
        return 'reset' as const;
      }
    };

    it('a body over the route\'s maxBodySize without Content-Length → 413, the stream is reset, the connection serves on', async () => {
      const r = await new Promise<{ status: number; headers: Record<string, unknown>; body: string; rstCode: number }>((resolve, reject) => {
        const stream = session.request({ ':method': 'POST', ':path': '/small', ':authority': 'svc.test' });
        let status = 0;
        let headers: Record<string, unknown> = {};
        let body = '';
        stream.on('response', (h) => {
          status = Number(h[':status']);
          headers = h;
        });
        stream.setEncoding('utf8');
        stream.on('data', (c: string) => (body += c));
        stream.on('error', () => undefined);
        stream.on('close', () => (status === 0 ? reject(new Error(`no response, rst ${stream.rstCode}`)) : resolve({ status, headers, body, rstCode: stream.rstCode })));
        // 4 KiB in 1 KiB writes, never ended: the proxy must answer before the body ends.
        for (let i = 0; i < 4; i++) stream.write(Buffer.alloc(1024, 0x61));
      });
      expect(r.status).toBe(413);
      expect(r.headers['x-switchyard-error']).toBe('body_too_large');
      expect(r.rstCode).toBe(constants.NGHTTP2_NO_ERROR);
      expect(session.destroyed).toBe(false);
      expect((await get('/echo/after-413')).status).toBe(200);
    });

    it('Content-Length over the route\'s limit → 413 before the body is read', async () => {
      const r = await http2Request(session, { ':method': 'POST', ':path': '/small', ':authority': 'svc.test', 'content-length': '4096' }, Buffer.alloc(4096));
      expect(r.status).toBe(413);
      expect(r.headers['x-switchyard-error']).toBe('body_too_large');
      expect(JSON.parse(r.body.toString())).toMatchObject({ error: 'body_too_large' });
      expect((await get('/echo/after-413-length')).status).toBe(200);
    });

    it('a malformed :authority → 400 (or, on Node ≥ 22, RST_STREAM PROTOCOL_ERROR from nghttp2 itself)', async () => {
      const r = await malformedAuthority('user@svc.test');
      if (r === 'reset') return;
      expect(r.status).toBe(400);
      expect(r.headers['x-switchyard-error']).toBe('bad_request');
      expect(JSON.parse(r.body.toString()).message).toContain(':authority is not a valid host');
    });

    it(':authority and Host naming different hosts → 400', async () => {
      const r = await http2Request(session, { ':path': '/x', ':authority': 'svc.test', host: 'other.test' });
      expect(r.status).toBe(400);
      expect(JSON.parse(r.body.toString()).message).toContain(':authority and Host name different hosts');
    });

    it('CONNECT → 501', async () => {
      const r = await http2Request(session, { ':method': 'CONNECT', ':authority': 'svc.test:443' }, null, { endStream: false });
      expect(r.status).toBe(501);
      expect(r.headers['x-switchyard-error']).toBe('method_not_supported');
    });

    it('one stream\'s error never ends the connection: streams after errors, and alongside them, are served', async () => {
      const results = await Promise.all([
        malformedAuthority('user@bad'),
        get('/echo/concurrent-1'),
        http2Request(session, { ':method': 'CONNECT', ':authority': 'svc.test:443' }, null, { endStream: false }),
        get('/echo/concurrent-2'),
      ]);
      expect(results.map((r) => (r === 'reset' ? 400 : r.status))).toEqual([400, 200, 501, 200]);
      expect((await get('/echo/afterwards')).status).toBe(200);
      expect(session.destroyed).toBe(false);
    });
  });

  describe('trailers from an HTTP/1.1 upstream', () => {
    it('reach an HTTP/2 client', async () => {
      const r = await get('/trailers');
      expect(r.status).toBe(200);
      expect(r.body.toString()).toBe('part1,part2');
      expect(r.trailers['x-checksum']).toBe('abc123');
    });

    it('reach an HTTP/1.1 client that sent TE: trailers, as a chunked trailer section', async () => {
      const conn = await RawConnection.open(proxy.port);
      try {
        conn.write('GET /trailers HTTP/1.1\r\nHost: svc.test\r\nTE: trailers\r\nConnection: te\r\n\r\n');
        await conn.waitForResponses(1);
        const text = conn.text;
        expect(text).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
        expect(text.toLowerCase()).toContain('\r\ntransfer-encoding: chunked\r\n');
        const body = text.slice(text.indexOf('\r\n\r\n') + 4);
        expect(body).toBe('6\r\npart1,\r\n5\r\npart2\r\n0\r\nx-checksum: abc123\r\n\r\n');
      } finally {
        conn.destroy();
      }
    });

    it('are dropped for an HTTP/1.1 client without TE: trailers', async () => {
      const conn = await RawConnection.open(proxy.port);
      try {
        conn.write('GET /trailers HTTP/1.1\r\nHost: svc.test\r\n\r\n');
        await conn.waitForResponses(1);
        const text = conn.text;
        const body = text.slice(text.indexOf('\r\n\r\n') + 4);
        expect(body).toBe('6\r\npart1,\r\n5\r\npart2\r\n0\r\n\r\n');
      } finally {
        conn.destroy();
      }
    });
  });
});

describe('HTTP/2 client, no route', () => {
  let up: TestUpstream;
  let proxy: ProxyHarness;
  beforeAll(async () => {
    up = await startUpstream('h1');
    proxy = await startProxy({
      services: { h1: [{ port: up.port }] },
      config: {
        listeners: [{ name: 'h2c', address: '127.0.0.1', port: 0, protocols: ['h2c'] }],
        routes: [{ name: 'api', match: { path: '/api' }, service: 'h1' }],
      },
    });
  });
  afterAll(async () => {
    await proxy?.close();
    await up?.close();
  });

  it('→ 404 JSON with x-switchyard-error, and the connection serves the next stream', async () => {
    const session = await openHttp2(`http://127.0.0.1:${proxy.port}`);
    try {
      const r = await http2Request(session, { ':path': '/nowhere', ':authority': 'svc.test', 'x-request-id': 'h2-404' });
      expect(r.status).toBe(404);
      expect(r.headers['x-switchyard-error']).toBe('no_route');
      expect(r.headers['content-type']).toBe('application/json');
      expect(JSON.parse(r.body.toString())).toEqual({ error: 'no_route', message: 'no route matches this request: GET /nowhere', requestId: 'h2-404' });
      expect((await http2Request(session, { ':path': '/api/ok', ':authority': 'svc.test' })).status).toBe(200);
    } finally {
      await closeHttp2(session);
    }
  });
});

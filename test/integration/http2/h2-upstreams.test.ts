import { mkdtemp, rm } from 'node:fs/promises';
import type { ClientHttp2Session } from 'node:http2';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa, readPair } from '../../support/certificates.js';
import { fetchJson } from '../../support/http-client.js';
import { closeHttp2, http2Request, openHttp2 } from '../../support/http2-client.js';
import { http2EchoHandler, startHttp2Upstream, type Http2EchoReply, type Http2Upstream } from '../../support/http2-upstream.js';
import { startProxy, type ProxyHarness } from '../../support/proxy-harness.js';

/** services.<name>.protocol h2c (prior knowledge) and h2 (TLS, ALPN) towards node:http2 upstreams. */
describe('HTTP/2 upstreams', () => {
  let dir: string;
  let h2c: Http2Upstream;
  let h2: Http2Upstream;
  let proxy: ProxyHarness;
  let session: ClientHttp2Session;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-h2-up-'));
    const ca = await createTestCa(dir);
    const leaf = await ca.issue('upstream', 'upstream', ['IP:127.0.0.1']);
    const withTrailers = (name: string) => {
      const echo = http2EchoHandler(name);
      return (req: Parameters<typeof echo>[0], res: Parameters<typeof echo>[1]) => {
        if (req.url.endsWith('/trailers')) {
          req.resume();
          req.on('end', () => {
            res.writeHead(200, { 'content-type': 'text/plain' });
            res.write('streamed body');
            res.addTrailers({ 'x-checksum': `sum-${name}`, 'x-count': '2' });
            res.end();
          });
          return;
        }
        echo(req, res);
      };
    };
    h2c = await startHttp2Upstream('h2c', withTrailers('h2c'));
    h2 = await startHttp2Upstream('h2', withTrailers('h2'), await readPair(leaf));
    proxy = await startProxy({
      services: { cleartext: [{ port: h2c.port }], secure: [{ port: h2.port }] },
      config: {
        listeners: [{ name: 'mixed', address: '127.0.0.1', port: 0, protocols: ['http1', 'h2c'] }],
        services: { cleartext: { protocol: 'h2c' }, secure: { protocol: 'h2', tls: { ca: ca.cert } } },
        routes: [
          { name: 'cleartext', match: { path: '/c' }, service: 'cleartext' },
          { name: 'secure', match: { path: '/s' }, service: 'secure' },
        ],
      },
    });
    session = await openHttp2(`http://127.0.0.1:${proxy.port}`);
  });
  afterAll(async () => {
    await closeHttp2(session);
    await proxy?.close();
    await h2c?.close();
    await h2?.close();
    await rm(dir, { recursive: true, force: true });
  });

  for (const [name, instance, prefix] of [['h2c', 'h2c', '/c'], ['h2 (TLS, test CA)', 'h2', '/s']] as const) {
    describe(name, () => {
      it('GET from an HTTP/2 client reaches the upstream over HTTP/2 with the forwarding headers', async () => {
        const r = await http2Request(session, { ':path': `${prefix}/get?x=1`, ':authority': 'svc.test', cookie: ['a=1', 'b=2'] });
        expect(r.status).toBe(200);
        const seen = JSON.parse(r.body.toString()) as Http2EchoReply;
        expect(seen.httpVersion).toBe('2.0');
        expect(seen.method).toBe('GET');
        expect(seen.url).toBe(`${prefix}/get?x=1`);
        expect(seen.headers[':authority'] ?? seen.headers.host).toBe('svc.test');
        expect(seen.headers.via).toBe('2 switchyard');
        expect(seen.headers['x-forwarded-host']).toBe('svc.test');
        expect(seen.headers.cookie).toBe('a=1; b=2');
      });

      it('POST bodies from HTTP/2 and HTTP/1.1 clients arrive whole', async () => {
        const body = Buffer.alloc(300_000, 0x62);
        const r = await http2Request(session, { ':method': 'POST', ':path': `${prefix}/post`, ':authority': 'svc.test' }, body);
        expect(r.status).toBe(200);
        expect(JSON.parse(r.body.toString())).toMatchObject({ method: 'POST', bodyBytes: body.length });
        const h1 = await fetchJson<Http2EchoReply>(`${proxy.url}${prefix}/post-h1`, { method: 'POST', body: 'hello' });
        expect(h1.status).toBe(200);
        expect(h1.json).toMatchObject({ httpVersion: '2.0', method: 'POST', bodyBytes: 5 });
        expect(h1.json.headers.via).toBe('1.1 switchyard');
      });

      it('the upstream\'s trailers reach an HTTP/2 client', async () => {
        const r = await http2Request(session, { ':path': `${prefix}/trailers`, ':authority': 'svc.test' });
        expect(r.status).toBe(200);
        expect(r.body.toString()).toBe('streamed body');
        expect(r.trailers['x-checksum']).toBe(`sum-${instance}`);
        expect(r.trailers['x-count']).toBe('2');
      });
    });
  }
});

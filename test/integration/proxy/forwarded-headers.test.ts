import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

describe('header handling', () => {
  let echo: TestUpstream;
  let hopResponder: TestUpstream;
  let proxy: ProxyHarness;

  beforeAll(async () => {
    echo = await startUpstream('echo');
    hopResponder = await startUpstream('hop', (req, res) => {
      req.resume();
      res.writeHead(200, [
        'content-type', 'text/plain',
        'connection', 'x-upstream-private, keep-alive',
        'x-upstream-private', 'secret',
        'keep-alive', 'timeout=5',
        'proxy-authenticate', 'Basic',
        'trailer', 'x-checksum',
        'set-cookie', 'a=1',
        'set-cookie', 'b=2',
        'x-kept', 'yes',
      ]);
      res.end('ok');
    });
    proxy = await startProxy({
      services: { echo: [{ port: echo.port }], hop: [{ port: hopResponder.port }] },
      config: { routes: [{ name: 'hop', match: { path: '/hop' }, service: 'hop' }, { name: 'echo', match: { path: '/' }, service: 'echo' }] },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await echo.close();
    await hopResponder.close();
  });

  const echoed = async (headers: Record<string, string | string[]>) => (await fetchJson<EchoReply>(`${proxy.url}/x`, { headers })).json;

  it('removes hop-by-hop request headers, including those named in Connection', async () => {
    const seen = await echoed({
      connection: 'keep-alive, X-Private-Hop, x-other-hop',
      'keep-alive': 'timeout=10',
      'x-private-hop': 'drop me',
      'x-other-hop': 'drop me too',
      'proxy-connection': 'keep-alive',
      'proxy-authorization': 'Basic Zm9vOmJhcg==',
      te: 'trailers, deflate',
      'x-end-to-end': 'keep me',
    });
    for (const h of ['keep-alive', 'x-private-hop', 'x-other-hop', 'proxy-connection', 'proxy-authorization', 'trailer', 'upgrade']) {
      expect(seen.headers[h], h).toBeUndefined();
    }
    // TE is hop-by-hop: only "trailers" goes on, because the proxy forwards trailers itself.
    expect(seen.headers.te).toBe('trailers');
    expect(seen.headers['x-end-to-end']).toBe('keep me');
    // The proxy's own upstream connection header is its business (keep-alive), never the client's tokens.
    expect(String(seen.headers.connection ?? '')).not.toMatch(/private|other/i);
  });

  it('removes hop-by-hop response headers, including those named in Connection, and keeps repeated ones', async () => {
    const r = await fetchText(`${proxy.url}/hop`);
    expect(r.status).toBe(200);
    expect(r.body).toBe('ok');
    expect(r.headers['x-upstream-private']).toBeUndefined();
    expect(r.headers['proxy-authenticate']).toBeUndefined();
    expect(r.headers.trailer).toBeUndefined();
    expect(r.headers['x-kept']).toBe('yes');
    expect(r.headers['set-cookie']).toEqual(['a=1', 'b=2']);
  });

  it('appends the client address to X-Forwarded-For and sets X-Forwarded-Proto/-Host and Via', async () => {
    const seen = await echoed({ host: 'app.example.com', 'x-forwarded-for': '203.0.113.7', via: '1.1 edge' });
    expect(seen.headers['x-forwarded-for']).toBe('203.0.113.7, 127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe('app.example.com');
    expect(seen.headers.via).toBe('1.1 edge, 1.1 switchyard');
    expect(seen.headers.host).toBe('app.example.com');
  });

  it('does not trust client-supplied X-Forwarded-Proto/-Host by default', async () => {
    const seen = await echoed({ host: 'real.example.com', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'spoofed.example.com' });
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe('real.example.com');
  });

  it('propagates a client request id and generates one otherwise, echoing it to the client', async () => {
    const given = await fetchJson<EchoReply>(`${proxy.url}/x`, { headers: { 'x-request-id': 'abc-123' } });
    expect(given.json.headers['x-request-id']).toBe('abc-123');
    expect(given.headers['x-request-id']).toBe('abc-123');
    const made = await fetchJson<EchoReply>(`${proxy.url}/x`);
    expect(made.json.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
    expect(made.headers['x-request-id']).toBe(made.json.headers['x-request-id']);
    const bad = await fetchJson<EchoReply>(`${proxy.url}/x`, { headers: { 'x-request-id': 'x'.repeat(500) } });
    expect(bad.json.headers['x-request-id']).toMatch(/^[0-9a-f-]{36}$/);
  });
});

describe('trusted forwarding headers', () => {
  it('keeps client X-Forwarded-Proto/-Host when proxy.trustForwardedHeaders is true', async () => {
    const echo = await startUpstream('echo');
    const proxy = await startProxy({
      services: { echo: [{ port: echo.port }] },
      config: { proxy: { trustForwardedHeaders: true }, routes: [{ name: 'echo', match: { path: '/' }, service: 'echo' }] },
    });
    try {
      const r = await fetchJson<EchoReply>(`${proxy.url}/`, { headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'outer.example.com' } });
      expect(r.json.headers['x-forwarded-proto']).toBe('https');
      expect(r.json.headers['x-forwarded-host']).toBe('outer.example.com');
    } finally {
      await proxy.close();
      await echo.close();
    }
  });
});

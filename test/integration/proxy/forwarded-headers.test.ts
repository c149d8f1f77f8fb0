import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
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

  it('replaces an untrusted client\'s X-Forwarded-For with its address, and sets X-Forwarded-Proto/-Host and Via', async () => {
    const seen = await echoed({ host: 'app.example.com', 'x-forwarded-for': '203.0.113.7', via: '1.1 edge' });
    expect(seen.headers['x-forwarded-for']).toBe('127.0.0.1');
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe('app.example.com');
    expect(seen.headers.via).toBe('1.1 edge, 1.1 switchyard');
    expect(seen.headers.host).toBe('app.example.com');
  });

  it('does not trust client-supplied forwarding headers by default: X-Forwarded-Proto/-Host replaced, -Port, X-Real-IP and Forwarded dropped', async () => {
    const seen = await echoed({
      host: 'real.example.com',
      'x-forwarded-proto': 'https',
      'x-forwarded-host': 'spoofed.example.com',
      'x-forwarded-port': '443',
      'x-real-ip': '198.51.100.1',
      forwarded: 'for=198.51.100.1;proto=https',
    });
    expect(seen.headers['x-forwarded-proto']).toBe('http');
    expect(seen.headers['x-forwarded-host']).toBe('real.example.com');
    for (const h of ['x-forwarded-port', 'x-real-ip', 'forwarded']) expect(seen.headers[h], h).toBeUndefined();
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
  it('trusts every peer with proxy.trustForwardedHeaders: true (X-Forwarded-* kept and appended to)', async () => {
    const echo = await startUpstream('echo');
    const proxy = await startProxy({
      services: { echo: [{ port: echo.port }] },
      config: { proxy: { trustForwardedHeaders: true }, routes: [{ name: 'echo', match: { path: '/' }, service: 'echo' }] },
    });
    try {
      const r = await fetchJson<EchoReply>(`${proxy.url}/`, { headers: { 'x-forwarded-proto': 'https', 'x-forwarded-host': 'outer.example.com', 'x-forwarded-for': '198.51.100.1', forwarded: 'for=198.51.100.1' } });
      expect(r.json.headers['x-forwarded-proto']).toBe('https');
      expect(r.json.headers['x-forwarded-host']).toBe('outer.example.com');
      expect(r.json.headers['x-forwarded-for']).toBe('198.51.100.1, 127.0.0.1');
      expect(r.json.headers.forwarded).toBe('for=198.51.100.1');
    } finally {
      await proxy.close();
      await echo.close();
    }
  });
});

describe('behind trusted proxies (proxy.trustedProxies)', () => {
  // 127.0.0.1 plays the load balancer; 127.0.0.2 (also this host) a client that reaches the router directly.
  const LB = '127.0.0.1';
  const DIRECT = '127.0.0.2';
  let echo: TestUpstream;
  let sticky: TestUpstream[];
  let proxy: ProxyHarness;

  beforeAll(async () => {
    echo = await startUpstream('echo');
    sticky = await Promise.all(['s1', 's2', 's3'].map((name) => startUpstream(name)));
    proxy = await startProxy({
      services: { echo: [{ port: echo.port }], sticky: sticky.map((u, i) => ({ id: `s${i + 1}`, port: u.port })) },
      config: {
        proxy: { trustedProxies: ['127.0.0.1/32', '10.0.0.0/8'] },
        services: { sticky: { balancer: 'consistent_hash', hashOn: { clientAddress: true } } },
        routes: [
          { name: 'sticky', match: { path: '/sticky' }, service: 'sticky' },
          { name: 'echo', match: { path: '/' }, service: 'echo', headerRules: { request: { set: { 'x-client': '${clientAddress}' } } } },
        ],
      },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await echo.close();
    for (const u of sticky) await u.close();
  });

  const from = async (localAddress: string, headers: Record<string, string>) =>
    (await fetchJson<EchoReply>(`${proxy.url}/x`, { headers, localAddress })).json.headers;

  it('keeps a trusted proxy\'s X-Forwarded-* and appends its address; the client is the first untrusted entry from the right', async () => {
    const seen = await from(LB, { 'x-forwarded-for': 'spoofed, 198.51.100.1, 10.2.3.4', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'shop.example.com', forwarded: 'for=198.51.100.1' });
    expect(seen['x-forwarded-for']).toBe('spoofed, 198.51.100.1, 10.2.3.4, 127.0.0.1');
    expect(seen['x-forwarded-proto']).toBe('https');
    expect(seen['x-forwarded-host']).toBe('shop.example.com');
    expect(seen.forwarded).toBe('for=198.51.100.1');
    expect(seen['x-client']).toBe('198.51.100.1');
  });

  it('replaces what an untrusted peer claims: its X-Forwarded-For is its own address, not appended to', async () => {
    const seen = await from(DIRECT, { 'x-forwarded-for': '198.51.100.1', 'x-forwarded-proto': 'https', 'x-forwarded-host': 'spoofed.example.com', forwarded: 'for=198.51.100.1', host: 'real.example.com' });
    expect(seen['x-forwarded-for']).toBe(DIRECT);
    expect(seen['x-forwarded-proto']).toBe('http');
    expect(seen['x-forwarded-host']).toBe('real.example.com');
    expect(seen.forwarded).toBeUndefined();
    expect(seen['x-client']).toBe(DIRECT);
  });

  it('takes the trusted peer itself as the client when it forwards no X-Forwarded-For', async () => {
    const seen = await from(LB, {});
    expect(seen['x-forwarded-for']).toBe(LB);
    expect(seen['x-client']).toBe(LB);
  });

  it('hashes on the resolved client address (consistent_hash, hashOn clientAddress)', async () => {
    const instanceFor = async (localAddress: string, xff: string) =>
      (await fetchJson<EchoReply>(`${proxy.url}/sticky`, { headers: { 'x-forwarded-for': xff }, localAddress })).json.instance;
    const clients = Array.from({ length: 24 }, (_, i) => `198.51.100.${i + 1}`);
    const first = new Map<string, string>();
    for (const c of clients) first.set(c, await instanceFor(LB, c));
    // Each client behind the proxy keeps its instance; together they spread over more than one.
    for (const c of clients) expect(await instanceFor(LB, c)).toBe(first.get(c));
    expect(new Set(first.values()).size).toBeGreaterThan(1);
    // A direct client is one key whatever it claims.
    const direct = new Set<string>();
    for (const c of clients) direct.add(await instanceFor(DIRECT, c));
    expect(direct.size).toBe(1);
  });

  it('logs the resolved client address in the access log', async () => {
    await from(LB, { 'x-forwarded-for': '198.51.100.9', 'x-request-id': 'behind-lb-1', 'user-agent': 'probe/1.0' });
    await eventually(() => proxy.log.lines.some((l) => l.component === 'access' && l.requestId === 'behind-lb-1'), 5_000, 'the access log line');
    const line = proxy.log.lines.find((l) => l.component === 'access' && l.requestId === 'behind-lb-1')!;
    expect(line).toMatchObject({ clientAddress: '198.51.100.9', userAgent: 'probe/1.0', protocol: 'HTTP/1.1' });
    expect(line.tls).toBeUndefined();
  });
});

describe('behind a fixed chain of proxies (proxy.trustedHops)', () => {
  it('takes the n-th X-Forwarded-For entry from the right as the client', async () => {
    const echo = await startUpstream('echo');
    const proxy = await startProxy({
      services: { echo: [{ port: echo.port }] },
      config: { proxy: { trustedHops: 2 }, routes: [{ name: 'echo', match: { path: '/' }, service: 'echo', headerRules: { request: { set: { 'x-client': '${clientAddress}' } } } }] },
    });
    try {
      const seen = (await fetchJson<EchoReply>(`${proxy.url}/`, { headers: { 'x-forwarded-for': 'spoofed, 198.51.100.1, 10.0.0.5' } })).json.headers;
      expect(seen['x-client']).toBe('198.51.100.1');
      expect(seen['x-forwarded-for']).toBe('spoofed, 198.51.100.1, 10.0.0.5, 127.0.0.1');
      const short = (await fetchJson<EchoReply>(`${proxy.url}/`, { headers: { 'x-forwarded-for': '10.0.0.5' } })).json.headers;
      expect(short['x-client']).toBe('127.0.0.1');
    } finally {
      await proxy.close();
      await echo.close();
    }
  });
});

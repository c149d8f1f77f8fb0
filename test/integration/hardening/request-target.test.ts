import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendRaw } from '../../support/raw-http-client.js';
import { startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

/** The request target: what is refused, and that the path matched is the path forwarded. */
describe('request target and path normalisation (raw bytes)', () => {
  let pub: TestUpstream;
  let admin: TestUpstream;
  let proxy: ProxyHarness;

  beforeAll(async () => {
    pub = await startUpstream('public');
    admin = await startUpstream('admin');
    proxy = await startProxy({
      services: { public: [{ port: pub.port }], admin: [{ port: admin.port }] },
      config: {
        routes: [
          { name: 'public', match: { path: '/public' }, service: 'public' },
          // Reachable only on the internal host name.
          { name: 'admin', match: { host: 'internal.example', path: '/admin' }, service: 'admin' },
          { name: 'rest', match: { path: '/' }, service: 'public' },
        ],
      },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await Promise.all([pub.close(), admin.close()]);
  });

  async function get(target: string, host = 'www.example'): Promise<{ status: number; statusLine: string; echo: EchoReply | null }> {
    const { responses } = await sendRaw(proxy.port, `GET ${target} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`);
    const r = responses[0]!;
    return { status: r.status, statusLine: r.statusLine, echo: r.status === 200 ? (JSON.parse(r.body) as EchoReply) : null };
  }

  it('refuses NUL, CR, LF, tab, space and non-ASCII bytes in the target', async () => {
    const before = pub.requests.length;
    for (const target of ['/a\0b', '/a\rb', '/a\tb', '/a\xffb']) {
      expect((await get(target)).statusLine, JSON.stringify(target)).toBe('HTTP/1.1 400 Bad Request');
    }
    // A LF or a space ends the request line early: still a refused request.
    expect((await sendRaw(proxy.port, 'GET /a\nb HTTP/1.1\r\nHost: x\r\n\r\n')).responses[0]!.status).toBe(400);
    expect((await sendRaw(proxy.port, 'GET /a b HTTP/1.1\r\nHost: x\r\n\r\n')).responses[0]!.status).toBe(400);
    expect(pub.requests.length).toBe(before);
  });

  it('refuses a fragment, "*" and targets that are not paths', async () => {
    expect((await get('/public#x')).status).toBe(400);
    expect((await get('*')).status).toBe(400);
    expect((await get('public')).status).toBe(400);
    expect((await get('//evil.example/x')).echo?.url).toBe('/evil.example/x');
  });

  it('accepts absolute-form for the Host header host and forwards origin-form', async () => {
    const r = await get('http://www.example/public/a?q=1');
    expect(r.status).toBe(200);
    expect(r.echo!.instance).toBe('public');
    expect(r.echo!.url).toBe('/public/a?q=1');
    expect(r.echo!.headers.host).toBe('www.example');
    expect((await get('HTTPS://WWW.example:443?x')).echo!.url).toBe('/?x');
  });

  it('refuses absolute-form naming another host, user info or another scheme', async () => {
    const before = admin.requests.length + pub.requests.length;
    expect((await get('http://internal.example/admin', 'www.example')).status).toBe(400);
    expect((await get('http://www.example@internal.example/admin', 'www.example')).status).toBe(400);
    expect((await get('ftp://www.example/public', 'www.example')).status).toBe(400);
    expect(admin.requests.length + pub.requests.length).toBe(before);
  });

  it('cannot reach a route through dot segments, encodings, duplicate slashes or backslashes', async () => {
    const attempts = [
      '/public/../admin',
      '/public/%2e%2e/admin',
      '/public/%2E%2E/admin',
      '/public/.%2e/admin',
      '/public/./../admin/x',
      '/public\\..\\admin',
      '/public//..//admin',
    ];
    for (const target of attempts) {
      const r = await get(target);
      // Normalised to /admin..., which has no route on this host: the catch-all takes it with
      // the normalised path, never the admin service.
      expect(r.echo?.instance, target).toBe('public');
      expect(r.echo?.url.startsWith('/admin'), target).toBe(true);
    }
    expect(admin.requests.length).toBe(0);
  });

  it('matches and forwards the normalised path', async () => {
    const cases: [string, string][] = [
      ['/x/../public/a', '/public/a'],
      ['/public/./a/../b', '/public/b'],
      ['//public///a', '/public/a'],
      ['/%70ublic/%61', '/public/a'],
      ['/public/a%3fb?x=%2e%2e', '/public/a%3Fb?x=%2e%2e'],
      ['/public/a/.', '/public/a/'],
      ['/../../public', '/public'],
      ['/public/%25%32%65', '/public/%252e'], // decoded once: "%25" stays, so no "%2e" appears to decode again
    ];
    for (const [target, forwarded] of cases) {
      const r = await get(target);
      expect(r.echo?.url, target).toBe(forwarded);
    }
  });

  it('reaches the internal route only with its host, and with the normalised path', async () => {
    const r = await get('/public/../admin/x', 'internal.example');
    expect(r.echo!.instance).toBe('admin');
    expect(r.echo!.url).toBe('/admin/x');
  });

  it('refuses encoded slashes, encoded NUL, malformed escapes and dot segments with parameters', async () => {
    const before = pub.requests.length;
    for (const target of ['/public/..%2Fadmin', '/public/..%2fadmin', '/public/..%5Cadmin', '/public/a%00', '/public/%zz', '/public/%4', '/public/..;/admin', '/public/.;x/a']) {
      const r = await get(target);
      expect(r.statusLine, target).toBe('HTTP/1.1 400 Bad Request');
    }
    expect(pub.requests.length).toBe(before);
  });
});

describe('encoded slashes kept (proxy.encodedSlashes: keep)', () => {
  let up: TestUpstream;
  let proxy: ProxyHarness;

  beforeAll(async () => {
    up = await startUpstream('app');
    proxy = await startProxy({
      services: { app: [{ port: up.port }] },
      config: { proxy: { encodedSlashes: 'keep' }, routes: [{ name: 'files', match: { path: '/files' }, service: 'app' }] },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await up.close();
  });

  it('forwards %2F encoded and never treats it as a separator', async () => {
    const { responses } = await sendRaw(proxy.port, 'GET /files/group%2fproject/../x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expect((JSON.parse(responses[0]!.body) as EchoReply).url).toBe('/files/x');
    const second = await sendRaw(proxy.port, 'GET /files/a%2F..%2F..%2Fetc HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expect((JSON.parse(second.responses[0]!.body) as EchoReply).url).toBe('/files/a%2F..%2F..%2Fetc');
  });
});

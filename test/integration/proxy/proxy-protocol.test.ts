import { request as httpRequest, type IncomingMessage } from 'node:http';
import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { request as httpsRequest } from 'node:https';
import { connect, type Socket } from 'node:net';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSelfSigned } from '../../support/certificates.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

// 127.0.0.1 plays the load balancer (listeners[].proxyProtocol.trustedSources); 127.0.0.2, also
// this host, a client that reaches the listener directly.
const LB = '127.0.0.1';
const DIRECT = '127.0.0.2';
const SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

function v2(verCmd: number, famProto: number, block: number[]): Buffer {
  return Buffer.from([...SIG, verCmd, famProto, block.length >> 8, block.length & 0xff, ...block]);
}
const V2_TCP4 = v2(0x21, 0x11, [198, 51, 100, 24, 127, 0, 0, 1, 0xc3, 0x50, 0x1f, 0x90]);
const V2_TCP6 = v2(0x21, 0x21, [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 0x42, ...Array(15).fill(0), 0x01, 0xc3, 0x50, 0x1f, 0x90]);
const V2_LOCAL = v2(0x20, 0x00, []);
const V1_TCP4 = Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 56324 8080\r\n', 'latin1');
const V1_TCP6 = Buffer.from('PROXY TCP6 2001:db8::7 ::1 56324 8080\r\n', 'latin1');
const V1_UNKNOWN = Buffer.from('PROXY UNKNOWN\r\n', 'latin1');

interface Answer {
  status: number;
  echo: EchoReply;
}

/** Opens a TCP connection from `localAddress` and writes `first` (each piece on its own turn); `written` settles after the last. */
function openWith(port: number, localAddress: string, first: Buffer[]): Socket & { written: Promise<void> } {
  const socket = connect({ port, host: '127.0.0.1', localAddress }) as Socket & { written: Promise<void> };
  socket.setNoDelay(true);
  socket.written = new Promise((resolve) => {
    let i = 0;
    const next = (): void => {
      if (i >= first.length) {
        resolve();
        return;
      }
      socket.write(first[i++]!);
      setTimeout(next, 5);
    };
    socket.once('connect', next);
  });
  return socket;
}

function readAnswer(res: IncomingMessage): Promise<Answer> {
  return new Promise((resolve, reject) => {
    let body = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => (body += c));
    res.on('end', () => {
      try {
        resolve({ status: res.statusCode!, echo: JSON.parse(body) as EchoReply });
      } catch (err) {
        reject(new Error(`status ${res.statusCode}, body ${body}`, { cause: err }));
      }
    });
    res.on('error', reject);
  });
}

/** An HTTP/1.1 request on a connection that first sent `header` (a PROXY header, or nothing). */
async function requestAfter(port: number, header: Buffer[], requestId: string, localAddress = LB, extra: Record<string, string> = {}, path = '/x'): Promise<Answer> {
  const socket = openWith(port, localAddress, header);
  // node:http writes its request as soon as it has the socket: only once the header is out.
  await socket.written;
  return new Promise((resolve, reject) => {
    const req = httpRequest({ createConnection: () => socket, path, headers: { host: 'proxied.test', 'x-request-id': requestId, 'user-agent': 'pp-test/1', connection: 'close', ...extra } }, (res) =>
      readAnswer(res).then(resolve, reject),
    );
    req.on('error', reject);
    req.end();
  });
}

/** Writes raw bytes and reports what came back before the connection closed. */
function rawExchange(port: number, localAddress: string, bytes: Buffer[], endAfter = false): Promise<{ received: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = openWith(port, localAddress, bytes);
    let received = '';
    const done = (closed: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      resolve({ received, closed });
    };
    const timer = setTimeout(() => done(false), 4_000);
    socket.on('data', (c: Buffer) => (received += c.toString('latin1')));
    socket.on('close', () => done(true));
    socket.on('error', () => undefined);
    if (endAfter) setTimeout(() => socket.end(), 5 * bytes.length + 20);
  });
}

describe('PROXY protocol on listeners (listeners[].proxyProtocol)', () => {
  let echo: TestUpstream;
  let proxy: ProxyHarness;
  let dir: string;
  let caPem: Buffer;
  let plainPort: number;
  let tlsPort: number;
  let h2cPort: number;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-pp-'));
    const site = await createSelfSigned(dir, 'site', 'proxied.test', ['DNS:proxied.test']);
    caPem = await readFile(site.cert);
    echo = await startUpstream('echo');
    const proxyProtocol = { trustedSources: [`${LB}/32`] };
    proxy = await startProxy({
      services: { echo: [{ port: echo.port }] },
      config: {
        listeners: [
          { name: 'pp', address: '127.0.0.1', port: 0, proxyProtocol },
          { name: 'pp-tls', address: '127.0.0.1', port: 0, proxyProtocol, tls: { cert: site.cert, key: site.key } },
          { name: 'pp-h2c', address: '127.0.0.1', port: 0, proxyProtocol, protocols: ['http1', 'h2c'] },
        ],
        limits: { headersTimeout: '1s' },
        routes: [
          { name: 'limited', match: { path: '/limited' }, service: 'echo', rateLimit: { requests: 1, per: '1h', by: 'clientAddress' } },
          { name: 'echo', match: { path: '/' }, service: 'echo', headerRules: { request: { set: { 'x-client': '${clientAddress}' } } } },
        ],
      },
    });
    plainPort = proxy.app.addresses[0]!.port;
    tlsPort = proxy.app.addresses[1]!.port;
    h2cPort = proxy.app.addresses[2]!.port;
  });
  afterAll(async () => {
    await proxy.close();
    await echo.close();
    await rm(dir, { recursive: true, force: true });
  });

  const accessLine = async (requestId: string): Promise<Record<string, unknown>> => {
    const find = () => proxy.log.lines.find((l) => l.component === 'access' && l.requestId === requestId);
    await eventually(() => find() !== undefined, 5_000, `the access log line of ${requestId}`);
    return find()!;
  };

  it.each([
    ['v1 TCP4', [V1_TCP4], '203.0.113.7'],
    ['v1 TCP6', [V1_TCP6], '2001:db8::7'],
    ['v1 UNKNOWN (the load balancer\'s own address)', [V1_UNKNOWN], LB],
    ['v2 TCP4', [V2_TCP4], '198.51.100.24'],
    ['v2 TCP6', [V2_TCP6], '2001:db8::42'],
    ['v2 LOCAL (the load balancer\'s own address)', [V2_LOCAL], LB],
    ['v1 TCP4 written a few bytes at a time', [V1_TCP4.subarray(0, 3), V1_TCP4.subarray(3, 20), V1_TCP4.subarray(20)], '203.0.113.7'],
    ['v2 TCP6 written a few bytes at a time', [V2_TCP6.subarray(0, 5), V2_TCP6.subarray(5, 14), V2_TCP6.subarray(14, 30), V2_TCP6.subarray(30)], '2001:db8::42'],
  ])('takes the client address from a trusted source\'s %s header', async (what, header, client) => {
    const id = `pp-${what.replace(/\W+/g, '-')}`;
    const a = await requestAfter(plainPort, header, id);
    expect(a.status).toBe(200);
    expect(a.echo.headers['x-client']).toBe(client);
    // The PROXY address is the peer: an untrusted one, so what it forwards is replaced.
    expect(a.echo.headers['x-forwarded-for']).toBe(client);
    expect(await accessLine(id)).toMatchObject({ clientAddress: client, userAgent: 'pp-test/1', protocol: 'HTTP/1.1' });
  });

  it('does not let a client behind the load balancer claim another address in X-Forwarded-For', async () => {
    const a = await requestAfter(plainPort, [V1_TCP4], 'pp-xff', LB, { 'x-forwarded-for': '192.0.2.99' });
    expect(a.echo.headers['x-forwarded-for']).toBe('203.0.113.7');
    expect(a.echo.headers['x-client']).toBe('203.0.113.7');
  });

  it('limits clients behind the load balancer separately (rateLimit by: clientAddress)', async () => {
    const status = async (header: Buffer, id: string) => (await requestAfter(plainPort, [header], id, LB, {}, '/limited')).status;
    expect(await status(V1_TCP4, 'rl-a1')).toBe(200);
    expect(await status(V2_TCP4, 'rl-b1')).toBe(200);
    expect(await status(V1_TCP4, 'rl-a2')).toBe(429);
    expect(await status(V2_TCP4, 'rl-b2')).toBe(429);
    // The load balancer's own connections (LOCAL) are a third client.
    expect(await status(V2_LOCAL, 'rl-lb')).toBe(200);
  });

  it('serves the request bytes that came in the same packet as the header, pipelined requests included', async () => {
    const two = 'GET /a HTTP/1.1\r\nhost: proxied.test\r\nx-request-id: pp-same-1\r\n\r\nGET /b HTTP/1.1\r\nhost: proxied.test\r\nx-request-id: pp-same-2\r\nconnection: close\r\n\r\n';
    const r = await rawExchange(plainPort, LB, [Buffer.concat([V2_TCP4, Buffer.from(two, 'latin1')])]);
    expect(r.received.match(/HTTP\/1\.1 200/g)).toHaveLength(2);
    expect((await accessLine('pp-same-1')).clientAddress).toBe('198.51.100.24');
    expect((await accessLine('pp-same-2')).clientAddress).toBe('198.51.100.24');
  });

  it('serves a direct client that sends no header as it is, its own address the client', async () => {
    const a = await requestAfter(plainPort, [], 'pp-direct', DIRECT);
    expect(a.status).toBe(200);
    expect(a.echo.headers['x-client']).toBe(DIRECT);
  });

  it.each([
    ['a v1 header', [V1_TCP4]],
    ['a v2 header', [V2_TCP4]],
    ['a v2 LOCAL header', [V2_LOCAL]],
  ])('closes a connection from an untrusted address that starts with %s (a spoofed client address)', async (_what, header) => {
    const r = await rawExchange(plainPort, DIRECT, [...header, Buffer.from('GET / HTTP/1.1\r\nhost: proxied.test\r\n\r\n', 'latin1')]);
    expect(r).toEqual({ received: '', closed: true });
  });

  const request = Buffer.from('GET / HTTP/1.1\r\nhost: proxied.test\r\n\r\n', 'latin1');
  it.each([
    ['no header at all', [request]],
    ['a malformed v1 header (leading zero in an address)', [Buffer.from('PROXY TCP4 203.0.113.07 127.0.0.1 1 2\r\n', 'latin1'), request]],
    ['a v1 header with a bare LF', [Buffer.from('PROXY TCP4 203.0.113.7 127.0.0.1 1 2\n', 'latin1'), request]],
    ['an oversized v1 header (no CRLF within 107 bytes)', [Buffer.from(`PROXY UNKNOWN ${'x'.repeat(120)}\r\n`, 'latin1'), request]],
    ['a v2 header of version 1', [v2(0x11, 0x11, [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]), request]],
    ['a v2 header whose length is over the limit', [Buffer.from([...SIG, 0x21, 0x11, 0x10, 0x00]), request]],
    ['a v2 header whose address block is cut short', [v2(0x21, 0x21, [1, 2, 3, 4]), request]],
    ['a v2 PROXY header over UDP', [v2(0x21, 0x12, [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]), request]],
  ])('closes a trusted source\'s connection with %s, and says why in the log', async (what, bytes) => {
    const before = proxy.log.find('connection refused: PROXY protocol').length;
    const r = await rawExchange(plainPort, LB, bytes);
    expect(r, what).toEqual({ received: '', closed: true });
    await eventually(() => proxy.log.find('connection refused: PROXY protocol').length > before, 2_000, 'the refusal in the log');
    const logged = proxy.log.find('connection refused: PROXY protocol').at(-1)!;
    expect(logged).toMatchObject({ level: 'warn', listener: 'pp', remoteAddress: LB, trustedSource: true });
    expect(typeof logged.reason).toBe('string');
  });

  it.each([
    ['v1', V1_TCP4.subarray(0, 20)],
    ['v2', V2_TCP6.subarray(0, 30)],
  ])('closes a trusted source\'s connection whose %s header is truncated (the client stops sending)', async (_v, part) => {
    expect(await rawExchange(plainPort, LB, [part], true)).toEqual({ received: '', closed: true });
  });

  it('closes a trusted source\'s connection that sends no complete header within limits.headersTimeout', async () => {
    expect(await rawExchange(plainPort, LB, [V1_TCP4.subarray(0, 10)])).toEqual({ received: '', closed: true });
  });

  it('reads the header before the TLS handshake, and logs the TLS version', async () => {
    const answer = await new Promise<Answer>((resolve, reject) => {
      const raw = openWith(tlsPort, LB, [V2_TCP6]);
      const secure = tlsConnect({ socket: raw, servername: 'proxied.test', ca: caPem, ALPNProtocols: ['http/1.1'] });
      const req = httpsRequest({ createConnection: () => secure, path: '/x', headers: { host: 'proxied.test', 'x-request-id': 'pp-tls', connection: 'close' } }, (res) =>
        readAnswer(res).then(resolve, reject),
      );
      req.on('error', reject);
      req.end();
    });
    expect(answer.status).toBe(200);
    expect(answer.echo.headers['x-client']).toBe('2001:db8::42');
    expect(answer.echo.headers['x-forwarded-proto']).toBe('https');
    expect(await accessLine('pp-tls')).toMatchObject({ clientAddress: '2001:db8::42', protocol: 'HTTP/1.1', tls: 'TLSv1.3' });
  });

  it('takes the address for HTTP/2 over TLS (h2 by ALPN) after the header', async () => {
    const session: ClientHttp2Session = http2Connect(`https://proxied.test:${tlsPort}`, {
      createConnection: () => tlsConnect({ socket: openWith(tlsPort, LB, [V1_TCP4]), servername: 'proxied.test', ca: caPem, ALPNProtocols: ['h2'] }),
    });
    try {
      const echoed = await http2Get(session, 'pp-h2');
      expect(echoed.headers['x-client']).toBe('203.0.113.7');
      expect(await accessLine('pp-h2')).toMatchObject({ clientAddress: '203.0.113.7', protocol: 'HTTP/2', tls: 'TLSv1.3' });
    } finally {
      session.close();
    }
  });

  it('closes a TLS connection from an untrusted address that starts with a header', async () => {
    expect(await rawExchange(tlsPort, DIRECT, [V1_TCP4])).toEqual({ received: '', closed: true });
  });

  it('runs before the HTTP/2 preface check on a cleartext listener (h2c and http1)', async () => {
    const a = await requestAfter(h2cPort, [V2_TCP4], 'pp-h2c-http1');
    expect(a.echo.headers['x-client']).toBe('198.51.100.24');
    const session = http2Connect(`http://proxied.test:${h2cPort}`, { createConnection: () => openWith(h2cPort, LB, [V1_TCP6]) });
    try {
      const echoed = await http2Get(session, 'pp-h2c');
      expect(echoed.headers['x-client']).toBe('2001:db8::7');
      expect(await accessLine('pp-h2c')).toMatchObject({ clientAddress: '2001:db8::7', protocol: 'HTTP/2' });
      expect((await accessLine('pp-h2c')).tls).toBeUndefined();
    } finally {
      session.close();
    }
  });
});

function http2Get(session: ClientHttp2Session, requestId: string): Promise<EchoReply> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':path': '/x', 'x-request-id': requestId });
    let body = '';
    stream.setEncoding('utf8');
    stream.on('data', (c: string) => (body += c));
    stream.on('end', () => {
      try {
        resolve(JSON.parse(body) as EchoReply);
      } catch (err) {
        reject(new Error(`body ${body}`, { cause: err }));
      }
    });
    stream.on('error', reject);
    session.on('error', reject);
  });
}

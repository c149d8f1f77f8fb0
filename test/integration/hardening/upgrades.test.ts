import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { fetchText } from '../../support/http-client.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { parseResponses, RawConnection, sendRaw } from '../../support/raw-http-client.js';
import { headerOf, startRecordingUpstream, websocketAccept, write, type RecordingBehaviour, type RecordingUpstream } from '../../support/recording-upstream.js';

// Smuggling through upgrades (WebSocket and h2c) and interim responses, with raw sockets on
// both sides: the client writes exact bytes, the upstreams record exactly what reached them.

const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const WS_HEAD = `GET /api/ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
const NEXT = 'GET /internal HTTP/1.1\r\nHost: h\r\n\r\n';
/** Bytes a WebSocket client might send once it believes the tunnel is open (a masked text frame). */
const FRAME = '\x81\x85\x37\xfa\x21\x3d\x7f\x9f\x4d\x51\x58';

const answer =
  (raw: string): RecordingBehaviour =>
  (conn) =>
    write(conn, raw.slice(9, 12), raw);
const OK_A = answer('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\na!');
const OK_B = answer('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nb!');
const VALID_101 = `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${websocketAccept(KEY)}\r\n\r\n`;

describe('upgrades: a connection becomes a tunnel only after a 101 that completes the handshake', () => {
  let a: RecordingUpstream;
  let b: RecordingUpstream;
  let proxy: ProxyHarness;
  let admin: string;

  beforeAll(async () => {
    a = await startRecordingUpstream(OK_A);
    b = await startRecordingUpstream(OK_B);
    proxy = await startProxy({
      services: { a: [{ port: a.port }], b: [{ port: b.port }] },
      config: {
        routes: [
          { name: 'api', match: { path: '/api' }, service: 'a' },
          { name: 'rest', match: { path: '/' }, service: 'b' },
        ],
        services: { a: { circuitBreaker: { maxRequests: 1 } } },
      },
    });
    const addr = proxy.app.adminAddress!;
    admin = `http://127.0.0.1:${addr.port}`;
  });
  afterAll(async () => {
    await proxy.close();
    await Promise.all([a.close(), b.close()]);
  });
  afterEach(async () => {
    // Tunnels a test opened hold a circuit-breaker slot until the proxy has seen them close.
    await eventually(async () => !/switchyard_upgrades_active\{[^}]*\} [1-9]/.test((await fetchText(`${admin}/metrics`)).body), 5_000, 'open tunnels to close');
    a.behaviour = OK_A;
    a.reset();
    b.reset();
  });

  it('relays a 200 answer to an upgrade and closes: the next request is never tunnelled to the upstream', async () => {
    const { responses } = await sendRaw(proxy.port, WS_HEAD + NEXT);
    expect(responses).toHaveLength(1);
    expect(responses[0]!.status).toBe(200);
    expect(responses[0]!.body).toBe('a!');
    expect(responses[0]!.headers.connection).toBe('close');
    expect(a.allReceived).not.toContain('/internal');
    expect(a.used.flatMap((c) => c.heads)).toHaveLength(1);
    expect(a.used.flatMap((c) => c.events)).not.toContain('data-after-head');
    expect(b.allReceived).toBe('');
  });

  it('relays 426 Upgrade Required and closes; bytes the client sent early never reach the upstream', async () => {
    a.behaviour = answer('HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 0\r\n\r\n');
    const { responses } = await sendRaw(proxy.port, WS_HEAD + FRAME);
    expect(responses[0]!.status).toBe(426);
    expect(responses[0]!.headers['sec-websocket-version']).toBe('13');
    expect(a.used.flatMap((c) => c.events)).not.toContain('data-after-head');
    expect(a.allReceived).not.toContain(FRAME);
  });

  it('refuses a 101 that switches to another protocol than the client asked for (502, both sides closed)', async () => {
    a.behaviour = answer('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n');
    const { responses, text } = await sendRaw(proxy.port, WS_HEAD + FRAME);
    expect(responses[0]!.status).toBe(502);
    expect(responses[0]!.headers['x-switchyard-error']).toBe('upstream_bad_upgrade');
    expect(text).not.toMatch(/HTTP\/1\.[01] 101 /); // no such status line (a random request id may hold the digits)
    expect(a.allReceived).not.toContain(FRAME);
    await eventually(() => a.used.every((c) => c.events.includes('closed')), 5_000, 'the upstream connection to close');
  });

  it('refuses a 101 with a wrong Sec-WebSocket-Accept, and one without Connection: upgrade', async () => {
    a.behaviour = answer('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: AAAAAAAAAAAAAAAAAAAAAAAAAAA=\r\n\r\n');
    const wrongKey = await sendRaw(proxy.port, WS_HEAD + FRAME);
    expect(wrongKey.responses[0]!.status).toBe(502);
    expect(wrongKey.responses[0]!.headers['x-switchyard-error']).toBe('upstream_bad_upgrade');
    a.behaviour = answer(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${websocketAccept(KEY)}\r\n\r\n`);
    const noConnection = await sendRaw(proxy.port, WS_HEAD + FRAME);
    expect(noConnection.responses[0]!.status).toBe(502);
    expect(a.allReceived).not.toContain(FRAME);
    expect(proxy.log.find('the upstream 101 does not complete the handshake').length).toBeGreaterThanOrEqual(1);
  });

  it('holds what the client sends before the 101 and forwards it only once the handshake is complete', async () => {
    a.behaviour = (conn) => {
      setTimeout(() => write(conn, '101', VALID_101), 100);
    };
    const c = await RawConnection.open(proxy.port);
    c.write(WS_HEAD + FRAME);
    await eventually(() => c.text.includes('\r\n\r\n'), 5_000, 'the 101');
    expect(c.text.startsWith('HTTP/1.1 101 Switching Protocols\r\n')).toBe(true);
    const head = c.text.slice(0, c.text.indexOf('\r\n\r\n'));
    expect(headerOf(head, 'sec-websocket-accept')).toBe(websocketAccept(KEY));
    expect(headerOf(head, 'upgrade')).toBe('websocket');
    await eventually(() => a.allReceived.endsWith(FRAME), 5_000, 'the early frame to reach the upstream');
    const events = a.used[0]!.events;
    expect(events.indexOf('wrote:101')).toBeGreaterThan(-1);
    expect(events.indexOf('data-after-head')).toBeGreaterThan(events.indexOf('wrote:101'));
    // The tunnel carries bytes both ways, unparsed.
    write(a.used[0]!, 'data', 'pong\r\n\r\nGET / HTTP/1.1');
    await eventually(() => c.text.endsWith('pong\r\n\r\nGET / HTTP/1.1'), 5_000, 'upstream bytes to reach the client');
    c.destroy();
    await eventually(() => a.used[0]!.events.includes('closed'), 5_000, 'the upstream side to close');
    await eventually(() => proxy.log.find('tunnel').length > 0, 5_000, 'the tunnel access log line');
    const line = proxy.log.find('tunnel').at(-1)!;
    expect(line).toMatchObject({ status: 101, protocol: 'websocket', route: 'api', service: 'a', bytesIn: FRAME.length, bytesOut: 'pong\r\n\r\nGET / HTTP/1.1'.length });
    const metrics = (await fetchText(`${admin}/metrics`)).body;
    expect(metrics).toMatch(/switchyard_upgrades_opened_total\{route="api",service="a"\} [1-9]/);
    expect(metrics).toMatch(/switchyard_upgrades_closed_total\{route="api",service="a"\} [1-9]/);
    expect(metrics).toMatch(/switchyard_upgrade_bytes_total\{route="api",service="a",direction="client_to_upstream"\} [1-9]/);
    expect(metrics).toMatch(/switchyard_upgrades_refused_total\{route="api",service="a",reason="upstream_refused"\} [1-9]/);
  });

  it('applies the circuit breaker to upgrades: an open tunnel holds a request slot until it closes', async () => {
    a.behaviour = answer(VALID_101);
    const first = await RawConnection.open(proxy.port);
    first.write(WS_HEAD);
    await eventually(() => first.text.startsWith('HTTP/1.1 101'), 5_000, 'the first tunnel');
    const second = await sendRaw(proxy.port, WS_HEAD);
    expect(second.responses[0]!.status).toBe(503);
    expect(second.responses[0]!.headers['x-switchyard-error']).toBe('breaker_requests');
    first.destroy();
    await eventually(async () => {
      const c = await RawConnection.open(proxy.port);
      c.write(WS_HEAD);
      await Promise.race([c.waitForClose(), new Promise((r) => setTimeout(r, 200))]);
      c.destroy();
      return c.text.startsWith('HTTP/1.1 101');
    }, 5_000, 'a new tunnel once the first closed');
    // Every tunnel has released its breaker slot once the proxy closed its upstream side.
    await eventually(() => a.used.every((c) => c.events.includes('closed')), 5_000, 'the tunnels to close');
  });

  it('serves h2c as a plain request: Upgrade, HTTP2-Settings and their Connection tokens never reach the upstream', async () => {
    const c = await RawConnection.open(proxy.port);
    c.write('GET /api/x HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings, keep-alive\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n' + NEXT);
    const responses = await c.waitForResponses(2);
    c.destroy();
    expect(responses.map((r) => r.body)).toEqual(['a!', 'b!']);
    const head = a.used[0]!.heads[0]!;
    expect(head.startsWith('GET /api/x HTTP/1.1\r\n')).toBe(true);
    expect(headerOf(head, 'upgrade')).toBeUndefined();
    expect(headerOf(head, 'http2-settings')).toBeUndefined();
    expect(headerOf(head, 'connection') ?? '').not.toMatch(/upgrade|http2-settings/i);
    // The request after it was parsed and routed on its own (to service b).
    expect(b.used.flatMap((x) => x.heads)[0]!.startsWith('GET /internal HTTP/1.1\r\n')).toBe(true);
    expect(a.allReceived).not.toContain('/internal');
  });

  it('gives no tunnel to an upstream that answers 101 to a request it was not asked to upgrade', async () => {
    a.behaviour = answer('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n');
    const c = await RawConnection.open(proxy.port);
    c.write('GET /api/x HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n');
    const [response] = await c.waitForResponses(1);
    expect(response!.status).toBe(502);
    c.write('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
    await c.waitForClose();
    expect(a.allReceived).not.toContain('PRI *');
  });

  it('serves an upgrade request with a body as a plain request, body framed by Content-Length', async () => {
    const c = await RawConnection.open(proxy.port);
    c.write(
      `POST /api/ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${KEY}\r\nContent-Length: 5\r\n\r\nhello` + NEXT,
    );
    const responses = await c.waitForResponses(2);
    c.destroy();
    expect(responses.map((r) => r.status)).toEqual([200, 200]);
    expect(responses.map((r) => r.body)).toEqual(['a!', 'b!']);
    const received = a.used[0]!.received;
    const head = received.slice(0, received.indexOf('\r\n\r\n'));
    expect(head.startsWith('POST /api/ws HTTP/1.1\r\n')).toBe(true);
    expect(headerOf(head, 'upgrade')).toBeUndefined();
    expect(received.slice(head.length + 4)).toBe('hello');
    expect(b.allReceived.startsWith('GET /internal HTTP/1.1\r\n')).toBe(true);
  });

  it('serves a WebSocket request without Sec-WebSocket-Key, or not a GET, as a plain request', async () => {
    const noKey = await sendRaw(proxy.port, 'GET /api/ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\n\r\n');
    expect(noKey.responses[0]!.body).toBe('a!');
    const notGet = await sendRaw(proxy.port, `DELETE /api/ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, close\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${KEY}\r\n\r\n`);
    expect(notGet.responses[0]!.body).toBe('a!');
    for (const head of a.used.flatMap((c) => c.heads)) expect(headerOf(head, 'upgrade')).toBeUndefined();
  });

  it('offers the upstream only the allowed protocols of a list', async () => {
    a.behaviour = answer(VALID_101);
    const c = await RawConnection.open(proxy.port);
    c.write(WS_HEAD.replace('Upgrade: websocket', 'Upgrade: h2c, websocket'));
    await eventually(() => c.text.startsWith('HTTP/1.1 101'), 5_000, 'the 101');
    c.destroy();
    expect(headerOf(a.used[0]!.heads[0]!, 'upgrade')).toBe('websocket');
  });

  it('relays 103 Early Hints with its headers filtered, drops 102, and the final response follows intact', async () => {
    a.behaviour = answer(
      'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\nConnection: x-private\r\nX-Private: secret\r\n\r\n' +
        'HTTP/1.1 102 Processing\r\n\r\n' +
        'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok',
    );
    const c = await RawConnection.open(proxy.port);
    c.write('GET /api/page HTTP/1.1\r\nHost: h\r\n\r\n');
    await eventually(() => c.text.endsWith('\r\n\r\nok'), 5_000, 'the final response');
    const text = c.text;
    expect(text.startsWith('HTTP/1.1 103 Early Hints\r\n')).toBe(true);
    const hints = text.slice(0, text.indexOf('\r\n\r\n'));
    expect(hints).toContain('Link: </style.css>; rel=preload; as=style');
    expect(hints.toLowerCase()).not.toContain('x-private');
    expect(text).not.toMatch(/HTTP\/1\.[01] 102 /); // no such status line (a random request id may hold the digits)
    const final = parseResponses(text.slice(hints.length + 4));
    expect(final[0]!.status).toBe(200);
    expect(final[0]!.body).toBe('ok');
    // The connection is still good for the next request.
    a.behaviour = OK_A;
    c.write('GET /api/again HTTP/1.1\r\nHost: h\r\n\r\n');
    await eventually(() => c.text.endsWith('a!'), 5_000, 'the next response');
    c.destroy();
  });

  it('sends no interim response to an HTTP/1.0 client', async () => {
    a.behaviour = answer('HTTP/1.1 103 Early Hints\r\nLink: </a.js>; rel=preload\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    const { text, responses } = await sendRaw(proxy.port, 'GET /api/page HTTP/1.0\r\nHost: h\r\n\r\n');
    expect(text).not.toMatch(/HTTP\/1\.[01] 103 /); // no such status line (a random request id may hold the digits)
    expect(responses[0]!.body).toBe('ok');
  });
});

describe('upgrades: allowed protocols come from config', () => {
  it('forwards h2c as an upgrade only when proxy.allowedUpgrades names it', async () => {
    const up = await startRecordingUpstream(answer('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: h2c\r\n\r\n'));
    const proxy = await startProxy({
      services: { a: [{ port: up.port }] },
      config: { routes: [{ name: 'all', match: { path: '/' }, service: 'a' }], proxy: { allowedUpgrades: ['websocket', 'h2c'] } },
    });
    try {
      const c = await RawConnection.open(proxy.port);
      c.write('GET /x HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n\r\n');
      await eventually(() => c.text.startsWith('HTTP/1.1 101 Switching Protocols'), 5_000, 'the 101');
      c.destroy();
      expect(headerOf(up.used[0]!.heads[0]!, 'upgrade')).toBe('h2c');
    } finally {
      await proxy.close();
      await up.close();
    }
  });
});

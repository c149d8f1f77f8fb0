import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RawConnection, sendRaw } from '../../support/raw-http-client.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startRawUpstream, type RawUpstream } from '../../support/raw-upstream.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

/** Slowloris: sends `piece` every 50 ms until the proxy closes the connection (10 s at most). */
async function dripUntilClosed(conn: RawConnection, piece: string): Promise<void> {
  const drip = setInterval(() => {
    if (!conn.closed) conn.write(piece);
  }, 50);
  try {
    await conn.waitForClose(10_000);
  } finally {
    clearInterval(drip);
  }
}

describe('request size limits', () => {
  let up: TestUpstream;
  let proxy: ProxyHarness;

  beforeAll(async () => {
    up = await startUpstream('app');
    proxy = await startProxy({
      services: { app: [{ port: up.port }] },
      config: {
        limits: { maxHeaderSize: '4KiB', maxHeaderCount: 10, maxBodySize: '1KiB' },
        routes: [
          { name: 'uploads', match: { path: '/uploads' }, service: 'app', maxBodySize: '64KiB' },
          { name: 'all', match: { path: '/' }, service: 'app' },
        ],
      },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await up.close();
  });

  it('answers 431 to a request head larger than maxHeaderSize', async () => {
    const before = up.requests.length;
    const r = await sendRaw(proxy.port, `GET / HTTP/1.1\r\nHost: h\r\nX-Big: ${'a'.repeat(5_000)}\r\n\r\n`);
    expect(r.responses[0]?.statusLine).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(up.requests.length).toBe(before);
  });

  it('answers 431 to more header fields than maxHeaderCount, and accepts exactly that many', async () => {
    const before = up.requests.length;
    const fields = (n: number) => Array.from({ length: n }, (_, i) => `X-F${i}: v\r\n`).join('');
    const tooMany = await sendRaw(proxy.port, `GET / HTTP/1.1\r\nHost: h\r\n${fields(10)}\r\n`);
    expect(tooMany.responses[0]?.statusLine).toBe('HTTP/1.1 431 Request Header Fields Too Large');
    expect(up.requests.length).toBe(before);
    const atLimit = await sendRaw(proxy.port, `GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n${fields(8)}\r\n`);
    expect(atLimit.responses[0]?.status).toBe(200);
  });

  it('answers 413 up front to a Content-Length over the limit, without forwarding', async () => {
    const before = up.requests.length;
    const conn = await RawConnection.open(proxy.port);
    conn.write('POST /x HTTP/1.1\r\nHost: h\r\nContent-Length: 5000\r\n\r\n');
    const [res] = await conn.waitForResponses(1);
    expect(res!.statusLine).toBe('HTTP/1.1 413 Payload Too Large');
    expect(res!.headers.connection).toBe('close');
    await conn.waitForClose();
    expect(up.requests.length).toBe(before);
  });

  it('applies a route maxBodySize over the global one', async () => {
    const body = 'b'.repeat(5_000);
    const r = await sendRaw(proxy.port, `POST /uploads/x HTTP/1.1\r\nHost: h\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`);
    expect(r.responses[0]!.status).toBe(200);
    expect((JSON.parse(r.responses[0]!.body) as EchoReply).bodyBytes).toBe(5_000);
  });

  it('stops a chunked body when it passes the limit: 413, and the upstream never sees a complete body', async () => {
    const before = up.requests.length;
    const conn = await RawConnection.open(proxy.port);
    conn.write('POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n');
    for (let i = 0; i < 4; i++) conn.write(`200\r\n${'c'.repeat(0x200)}\r\n`);
    conn.write('0\r\n\r\n');
    await conn.waitForClose();
    expect(conn.text.startsWith('HTTP/1.1 413 Payload Too Large')).toBe(true);
    for (const req of up.requests.slice(before)) expect(req.complete).toBe(false);
  });

  it('forwards a chunked body under the limit', async () => {
    const r = await sendRaw(proxy.port, `POST /x HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n200\r\n${'c'.repeat(0x200)}\r\n0\r\n\r\n`);
    expect(r.responses[0]!.status).toBe(200);
    expect((JSON.parse(r.responses[0]!.body) as EchoReply).bodyBytes).toBe(0x200);
  });
});

describe('slow clients and idle connections', () => {
  let up: TestUpstream;
  let proxy: ProxyHarness;

  beforeAll(async () => {
    up = await startUpstream('app');
    proxy = await startProxy({
      services: { app: [{ port: up.port }] },
      config: {
        limits: { headersTimeout: '400ms', requestTimeout: '800ms', keepAliveTimeout: '300ms' },
        routes: [{ name: 'all', match: { path: '/' }, service: 'app' }],
      },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await up.close();
  });

  it('answers 408 and closes when the headers trickle in too slowly (slowloris)', async () => {
    const conn = await RawConnection.open(proxy.port);
    conn.write('GET / HTTP/1.1\r\nHost: h\r\n');
    await dripUntilClosed(conn, 'X-A: b\r\n');
    expect(conn.text.startsWith('HTTP/1.1 408 Request Timeout')).toBe(true);
  });

  it('releases the connection after a 408 even when the client never reads or closes', async () => {
    // Start from a quiet listener: connections of earlier tests may still be closing.
    await eventually(() => proxy.app.clientConnections === 0, 10_000, 'earlier connections to close');
    const conn = await RawConnection.open(proxy.port);
    conn.socket.pause();
    conn.write('GET / HTTP/1.1\r\nHost: h\r\n');
    await eventually(() => proxy.app.clientConnections === 1, 5_000, 'the connection to be counted');
    await eventually(() => proxy.app.clientConnections === 0, 10_000, 'the proxy to release the connection');
    conn.destroy();
  });

  it('closes a connection that sends nothing', async () => {
    const conn = await RawConnection.open(proxy.port);
    await conn.waitForClose(10_000);
    expect(conn.closed).toBe(true);
  });

  it('answers 408 and closes when the body trickles in past requestTimeout', async () => {
    const conn = await RawConnection.open(proxy.port);
    conn.write('POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1000\r\n\r\n');
    await dripUntilClosed(conn, 'x');
    expect(conn.text.startsWith('HTTP/1.1 408 Request Timeout')).toBe(true);
    await eventually(() => up.requests.every((r) => r.complete || r.destroyed), 5_000, 'the upstream request to be cancelled');
  });

  it('closes an idle keep-alive connection after keepAliveTimeout', async () => {
    const conn = await RawConnection.open(proxy.port);
    conn.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    const [res] = await conn.waitForResponses(1);
    expect(res!.status).toBe(200);
    await conn.waitForClose(10_000);
  });
});

describe('connection and upgrade limits', () => {
  let up: TestUpstream;
  let ws: RawUpstream;
  let proxy: ProxyHarness;

  beforeAll(async () => {
    up = await startUpstream('app');
    // Accepts every upgrade and then keeps the tunnel open.
    ws = await startRawUpstream((socket) => socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: test\r\n\r\n'));
    proxy = await startProxy({
      services: { app: [{ port: up.port }], ws: [{ port: ws.port }] },
      config: {
        limits: { maxConnections: 3, maxUpgrades: 1 },
        proxy: { allowedUpgrades: ['test'] },
        routes: [
          { name: 'ws', match: { path: '/ws' }, service: 'ws' },
          { name: 'all', match: { path: '/' }, service: 'app' },
        ],
      },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await Promise.all([up.close(), ws.close()]);
  });

  it('closes connections beyond maxConnections at once and accepts again when one closes', async () => {
    const open = await Promise.all([0, 1, 2].map(() => RawConnection.open(proxy.port)));
    // Make sure the proxy has accepted all three before the fourth.
    for (const c of open) c.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    await Promise.all(open.map((c) => c.waitForResponses(1)));
    const extra = await RawConnection.open(proxy.port);
    extra.write('GET / HTTP/1.1\r\nHost: h\r\n\r\n');
    await extra.waitForClose();
    expect(extra.text).toBe('');
    open[0]!.destroy();
    await eventually(async () => {
      const c = await RawConnection.open(proxy.port);
      c.write('GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
      await Promise.race([c.waitForClose(), new Promise((r) => setTimeout(r, 200))]);
      c.destroy();
      return c.text.startsWith('HTTP/1.1 200');
    }, 5_000, 'a new connection to be served');
    for (const c of open) c.destroy();
  });

  it('answers 503 to upgrades beyond maxUpgrades and accepts again when one closes', async () => {
    const upgrade = 'GET /ws HTTP/1.1\r\nHost: h\r\nConnection: upgrade\r\nUpgrade: test\r\n\r\n';
    const first = await RawConnection.open(proxy.port);
    first.write(upgrade);
    await eventually(() => first.text.startsWith('HTTP/1.1 101'), 5_000, 'the first upgrade');
    const second = await sendRaw(proxy.port, upgrade);
    expect(second.responses[0]?.statusLine).toBe('HTTP/1.1 503 Service Unavailable');
    expect(second.responses[0]?.headers['x-switchyard-error']).toBe('upgrade_limit');
    first.destroy();
    await eventually(async () => {
      const c = await RawConnection.open(proxy.port);
      c.write(upgrade);
      await Promise.race([c.waitForClose(), new Promise((r) => setTimeout(r, 200))]);
      c.destroy();
      return c.text.startsWith('HTTP/1.1 101');
    }, 5_000, 'a new upgrade to be accepted');
  });
});

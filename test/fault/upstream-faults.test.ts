import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchText } from '../support/http-client.js';
import { RawConnection, sendRaw } from '../support/raw-http-client.js';
import { eventually, startProxy, type ProxyHarness } from '../support/proxy-harness.js';
import { answerWith, startRawUpstream, type RawUpstream } from '../support/raw-upstream.js';
import { startUpstream, type TestUpstream } from '../support/test-upstream.js';

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
const GET = 'GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n';

/** Upstreams that reset, hang, send garbage or half-close: the proxy answers, cuts or recovers, and never crashes. */
describe('upstream faults', () => {
  let up: RawUpstream;
  let node: TestUpstream;
  let proxy: ProxyHarness;

  beforeAll(async () => {
    up = await startRawUpstream(answerWith(OK));
    node = await startUpstream('node');
    proxy = await startProxy({
      services: { raw: [{ port: up.port }], node: [{ port: node.port }] },
      config: {
        timeouts: { headers: '300ms', bodyIdle: '300ms' },
        routes: [
          { name: 'node', match: { path: '/node' }, service: 'node' },
          { name: 'raw', match: { path: '/' }, service: 'raw' },
        ],
      },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await Promise.all([up.close(), node.close()]);
  });

  async function stillServing(): Promise<void> {
    up.behaviour = answerWith(OK);
    const r = await sendRaw(proxy.port, GET);
    expect(r.responses[0]!.status).toBe(200);
  }

  it('answers 502 when the upstream resets before responding', async () => {
    up.behaviour = (socket) => socket.resetAndDestroy();
    const r = await sendRaw(proxy.port, GET);
    expect(r.responses[0]!.statusLine).toBe('HTTP/1.1 502 Bad Gateway');
    expect(r.responses[0]!.headers['x-switchyard-error']).toBe('upstream_reset');
    await stillServing();
  });

  it('cuts the client connection when the upstream resets mid-body', async () => {
    up.behaviour = (socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial');
      setTimeout(() => socket.resetAndDestroy(), 20);
    };
    const conn = await RawConnection.open(proxy.port);
    conn.write('GET /x HTTP/1.1\r\nHost: h\r\n\r\n');
    await conn.waitForClose();
    expect(conn.text.startsWith('HTTP/1.1 200 OK')).toBe(true);
    expect(conn.text.length).toBeLessThan(conn.text.indexOf('\r\n\r\n') + 4 + 100);
    await stillServing();
  });

  it('answers 504 when the upstream never responds', async () => {
    up.behaviour = () => {
      // Hang: read the request, never answer.
    };
    const r = await sendRaw(proxy.port, GET);
    expect(r.responses[0]!.statusLine).toBe('HTTP/1.1 504 Gateway Timeout');
    await stillServing();
  });

  it('cuts the client connection when the upstream stalls mid-body', async () => {
    up.behaviour = (socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nstart');
    const conn = await RawConnection.open(proxy.port);
    conn.write('GET /x HTTP/1.1\r\nHost: h\r\n\r\n');
    await conn.waitForClose();
    expect(conn.text.endsWith('start')).toBe(true);
    await stillServing();
  });

  it('survives random garbage from the upstream: every answer is a 502 or a cut, never a crash', async () => {
    for (let i = 0; i < 30; i++) {
      const garbage = randomBytes(1 + (i * 37) % 400);
      up.behaviour = (socket) => {
        socket.write(garbage);
        socket.end();
      };
      const r = await sendRaw(proxy.port, GET);
      if (r.responses.length > 0) expect([200, 502]).toContain(r.responses[0]!.status);
    }
    await stillServing();
  });

  it('recovers when the upstream half-closes after a response', async () => {
    up.behaviour = (socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
      socket.end();
    };
    for (let i = 0; i < 10; i++) {
      const r = await sendRaw(proxy.port, GET);
      expect(r.responses[0]!.status).toBe(200);
    }
  });

  it('does not reuse an upstream keep-alive connection the upstream closed while idle', async () => {
    const first = await fetchText(`${proxy.url}/node/1`);
    expect(first.status).toBe(200);
    node.server.closeIdleConnections();
    await new Promise((r) => setTimeout(r, 50));
    for (let i = 0; i < 5; i++) {
      const r = await fetchText(`${proxy.url}/node/${i}`);
      expect(r.status).toBe(200);
    }
  });

  it('cancels the upstream request when the client goes away mid-response', async () => {
    let upstreamClosed = 0;
    up.behaviour = (socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n');
      socket.write('x'.repeat(1000));
      socket.once('close', () => upstreamClosed++);
    };
    const conn = await RawConnection.open(proxy.port);
    conn.write('GET /x HTTP/1.1\r\nHost: h\r\n\r\n');
    await eventually(() => conn.text.length > 100, 5_000, 'the first bytes');
    conn.destroy();
    await eventually(() => upstreamClosed === 1, 5_000, 'the upstream connection to be closed');
    await stillServing();
  });
});

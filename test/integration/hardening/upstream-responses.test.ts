import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchText } from '../../support/http-client.js';
import { RawConnection, sendRaw } from '../../support/raw-http-client.js';
import { startProxy, eventually, type ProxyHarness } from '../../support/proxy-harness.js';
import { answerWith, startRawUpstream, type RawUpstream } from '../../support/raw-upstream.js';

/** Malformed, ambiguous or oversized upstream responses: 502, upstream connection dropped, proxy unharmed. */
describe('upstream responses the proxy refuses to pass on', () => {
  let up: RawUpstream;
  let proxy: ProxyHarness;

  beforeAll(async () => {
    up = await startRawUpstream(answerWith('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    proxy = await startProxy({ services: { app: [{ port: up.port }] }, config: { routes: [{ name: 'all', match: { path: '/' }, service: 'app' }] } });
  });
  afterAll(async () => {
    await proxy.close();
    await up.close();
  });

  const cases: [string, string][] = [
    ['garbage instead of a status line', 'GARBAGE\r\n\r\n'],
    ['an invalid status code', 'HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n'],
    ['NUL in a header value', 'HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n'],
    ['a bare LF', 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok'],
    ['Content-Length with Transfer-Encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    ['two different Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nhello'],
    ['a Content-Length list', 'HTTP/1.1 200 OK\r\nContent-Length: 5, 5\r\n\r\nhello'],
    ['a Transfer-Encoding other than chunked', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n'],
    ['headers larger than 16 KiB', `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(70_000)}\r\nContent-Length: 0\r\n\r\n`],
  ];

  for (const [what, raw] of cases) {
    it(`answers 502 for ${what} and drops the upstream connection`, async () => {
      up.behaviour = answerWith(raw);
      const closedBefore = up.closedByPeer;
      const r = await sendRaw(proxy.port, 'GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
      expect(r.responses[0]?.statusLine).toBe('HTTP/1.1 502 Bad Gateway');
      expect(r.responses[0]?.headers['x-switchyard-error']).toBe('upstream_bad_response');
      await eventually(() => up.closedByPeer > closedBefore, 5_000, 'the proxy to close the upstream connection');
    });
  }

  it('cuts the client connection when the upstream body ends short of its Content-Length', async () => {
    up.behaviour = (socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf');
      socket.end();
    };
    const conn = await RawConnection.open(proxy.port);
    conn.write('GET /short HTTP/1.1\r\nHost: h\r\n\r\n');
    await conn.waitForClose();
    expect(conn.text.startsWith('HTTP/1.1 200 OK')).toBe(true);
    // Never a complete response: the client sees the truncation.
    expect(conn.text.endsWith('half')).toBe(true);
  });

  it('answers 502 when the upstream closes without answering, and still serves afterwards', async () => {
    up.behaviour = (socket) => socket.end();
    const r = await sendRaw(proxy.port, 'GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expect(r.responses[0]?.status).toBe(502);
    up.behaviour = answerWith('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok');
    const ok = await fetchText(`${proxy.url}/fine`);
    expect(ok.status).toBe(200);
    expect(ok.body).toBe('ok');
  });

  it('passes obs-text (bytes 0x80-0xFF) in header values through unchanged', async () => {
    up.behaviour = answerWith('HTTP/1.1 200 OK\r\nX-Name: caf\xe9\r\nContent-Length: 2\r\n\r\nok');
    const r = await sendRaw(proxy.port, 'GET /x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expect(r.responses[0]!.status).toBe(200);
    expect(r.responses[0]!.headers['x-name']).toBe('caf\xe9');
  });
});

import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { RawConnection, sendRaw } from '../../support/raw-http-client.js';
import { startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

/**
 * Request framing and header syntax: every ambiguous request is refused with 400 (or the
 * status named), the connection is closed, and nothing reaches the upstream.
 */
describe('request framing and header syntax (raw bytes)', () => {
  let upstream: TestUpstream;
  let proxy: ProxyHarness;
  let before: number;

  beforeAll(async () => {
    upstream = await startUpstream('app');
    proxy = await startProxy({ services: { app: [{ port: upstream.port }] }, config: { routes: [{ name: 'all', match: { path: '/' }, service: 'app' }] } });
  });
  afterAll(async () => {
    await proxy.close();
    await upstream.close();
  });
  beforeEach(() => {
    before = upstream.requests.length;
  });

  async function expectRefused(request: string, statusLine: string): Promise<void> {
    const { responses } = await sendRaw(proxy.port, request);
    expect(responses[0]?.statusLine).toBe(statusLine);
    expect(responses).toHaveLength(1);
    expect(upstream.requests.length).toBe(before);
  }

  const BAD = 'HTTP/1.1 400 Bad Request';

  it('forwards well-formed Content-Length and chunked bodies (control case)', async () => {
    const cl = await sendRaw(proxy.port, 'POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nConnection: close\r\n\r\nhello');
    expect(cl.responses[0]!.status).toBe(200);
    expect((JSON.parse(cl.responses[0]!.body) as EchoReply).bodyBytes).toBe(5);
    const chunked = await sendRaw(proxy.port, 'POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;ext=1\r\nhello\r\n3\r\nabc\r\n0\r\n\r\n');
    expect(chunked.responses[0]!.status).toBe(200);
    const echo = JSON.parse(chunked.responses[0]!.body) as EchoReply;
    expect(echo.bodyBytes).toBe(8);
    expect(upstream.requests.length).toBe(before + 2);
  });

  it('refuses Content-Length together with Transfer-Encoding (CL.TE / TE.CL)', async () => {
    await expectRefused('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nG', BAD);
    await expectRefused('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n', BAD);
  });

  it('refuses repeated, conflicting or malformed Content-Length', async () => {
    await expectRefused('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd', BAD);
    await expectRefused('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc', BAD);
    await expectRefused('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc', BAD);
    await expectRefused('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', BAD);
    await expectRefused('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc', BAD);
    await expectRefused('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x3\r\n\r\nabc', BAD);
    await expectRefused('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1 2\r\n\r\nabc', BAD);
    await expectRefused('POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\nabc', BAD);
  });

  it('refuses Transfer-Encoding other than exactly "chunked"', async () => {
    // Refused by Node's parser:
    await expectRefused('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\nabc', BAD);
    await expectRefused('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n', BAD);
    await expectRefused('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n', BAD);
    await expectRefused('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n', BAD);
    await expectRefused('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n', BAD);
    // Accepted by Node's parser, refused by the proxy:
    await expectRefused('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', BAD);
    await expectRefused('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: identity, chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', BAD);
    await expectRefused('POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', BAD);
  });

  it('accepts "chunked" in any case and with surrounding spaces', async () => {
    const r = await sendRaw(proxy.port, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding:  Chunked \r\nConnection: close\r\n\r\n3\r\nabc\r\n0\r\n\r\n');
    expect(r.responses[0]!.status).toBe(200);
    expect((JSON.parse(r.responses[0]!.body) as EchoReply).bodyBytes).toBe(3);
  });

  it('refuses malformed chunked bodies', async () => {
    const { responses } = await sendRaw(proxy.port, 'POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3x\r\nabc\r\n0\r\n\r\n');
    // The head was valid, so the request may have been dispatched; the connection must close
    // and the upstream must not see a complete body.
    expect(responses.length).toBeLessThanOrEqual(1);
    for (const req of upstream.requests.slice(before)) expect(req.complete).toBe(false);
  });

  it('refuses obs-fold (continuation lines)', async () => {
    await expectRefused('GET / HTTP/1.1\r\nHost: x\r\nX-A: b\r\n  c\r\n\r\n', BAD);
    await expectRefused('POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip,\r\n chunked\r\n\r\n0\r\n\r\n', BAD);
  });

  it('refuses invalid header names and control characters in values', async () => {
    await expectRefused('GET / HTTP/1.1\r\nHost: x\r\nX A: b\r\n\r\n', BAD);
    await expectRefused('GET / HTTP/1.1\r\nHost: x\r\nX(A): b\r\n\r\n', BAD);
    await expectRefused('GET / HTTP/1.1\r\nHost: x\r\n: b\r\n\r\n', BAD);
    await expectRefused('GET / HTTP/1.1\r\nHost: x\r\nX-A: b\0c\r\n\r\n', BAD);
    await expectRefused('GET / HTTP/1.1\r\nHost: x\r\nX-A: b\x01c\r\n\r\n', BAD);
    await expectRefused('GET / HTTP/1.1\r\nHost: x\r\nX-A: b\x7fc\r\n\r\n', BAD);
    await expectRefused('GET / HTTP/1.1\r\nHost: x\r\nX-A: b\rc\r\n\r\n', BAD);
    await expectRefused('GET / HTTP/1.1\r\nHost: x\nX-A: b\r\n\r\n', BAD);
    await expectRefused('GET / HTTP/1.1\nHost: x\n\n', BAD);
  });

  it('refuses zero, several or malformed Host headers', async () => {
    await expectRefused('GET / HTTP/1.1\r\n\r\n', BAD);
    await expectRefused('GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n', BAD);
    await expectRefused('GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n', BAD);
    await expectRefused('GET / HTTP/1.1\r\nHost: a/b\r\n\r\n', BAD);
    await expectRefused('GET / HTTP/1.1\r\nHost: user@a\r\n\r\n', BAD);
    await expectRefused('GET / HTTP/1.1\r\nHost: a b\r\n\r\n', BAD);
  });

  it('accepts HTTP/1.0 without Host', async () => {
    const r = await sendRaw(proxy.port, 'GET /ten HTTP/1.0\r\n\r\n');
    expect(r.responses[0]!.status).toBe(200);
    expect(upstream.requests.length).toBe(before + 1);
  });

  it('refuses HTTP versions other than 1.0 and 1.1 with 505', async () => {
    await expectRefused('GET / HTTP/2.0\r\nHost: x\r\n\r\n', 'HTTP/1.1 505 HTTP Version Not Supported');
    await expectRefused('GET / HTTP/1.2\r\nHost: x\r\n\r\n', BAD); // refused by Node's parser
  });

  it('refuses unknown methods and answers CONNECT with 501', async () => {
    await expectRefused('FOO / HTTP/1.1\r\nHost: x\r\n\r\n', BAD);
    await expectRefused('get / HTTP/1.1\r\nHost: x\r\n\r\n', BAD);
    await expectRefused('CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\n\r\n', 'HTTP/1.1 501 Not Implemented');
  });

  it('does not let a smuggled second request through a refused one', async () => {
    const smuggled = 'GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n';
    const conn = await RawConnection.open(proxy.port);
    conn.write(`POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\nContent-Length: ${smuggled.length}\r\n\r\n${smuggled}`);
    await conn.waitForClose();
    expect(upstream.requests.slice(before).map((r) => r.url)).not.toContain('/smuggled');
    expect(upstream.requests.length).toBe(before);
  });

  it('keeps serving a keep-alive connection after a valid request and closes after a refused one', async () => {
    const conn = await RawConnection.open(proxy.port);
    conn.write('GET /one HTTP/1.1\r\nHost: x\r\n\r\n');
    await conn.waitForResponses(1);
    conn.write('GET /two HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\nGET /three HTTP/1.1\r\nHost: x\r\n\r\n');
    await conn.waitForClose();
    const urls = upstream.requests.slice(before).map((r) => r.url);
    expect(urls).toEqual(['/one']);
  });
});

import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { parseResponses, RawConnection, sendRaw } from '../../support/raw-http-client.js';
import { startRecordingUpstream, websocketAccept, write, type RecordingBehaviour, type RecordingUpstream } from '../../support/recording-upstream.js';

// An upstream's 100 Continue that nobody asked for (Switchyard never forwards Expect). RFC 9110
// §15.2: a client parses and ignores 1xx it did not expect. The upstream pool skips a 100 like
// any other 1xx (undici's Pool, the pool before it, destroyed the connection on any 100). The
// client never sees the 100: only 103 is relayed.

const CONTINUE = 'HTTP/1.1 100 Continue\r\n\r\n';
const FINAL_OK = 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok';
const KEY = 'dGhlIHNhbXBsZSBub25jZQ==';
const WS_HEAD = `GET /ws HTTP/1.1\r\nHost: h\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: ${KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n`;
const VALID_101 = `HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Accept: ${websocketAccept(KEY)}\r\n\r\n`;

const answer =
  (raw: string): RecordingBehaviour =>
  (conn) =>
    write(conn, raw.slice(9, 12), raw);

/** Writes each part separately, `gapMs` apart, so the proxy reads them in separate chunks. */
const answerInParts =
  (gapMs: number, ...parts: string[]): RecordingBehaviour =>
  (conn) => {
    parts.forEach((part, i) => setTimeout(() => write(conn, part.slice(9, 12), part), i * gapMs));
  };

/** Asserts the client received exactly one response, the final one, and nothing interim. */
function expectOnlyFinal(text: string, status: number, body: string): void {
  expect(text.startsWith(`HTTP/1.1 ${status} `)).toBe(true);
  expect(text).not.toContain('100 Continue');
  const responses = parseResponses(text);
  expect(responses).toHaveLength(1);
  expect(responses[0]!.status).toBe(status);
  expect(responses[0]!.body).toBe(body);
  // Nothing after the final response either.
  expect(text.endsWith(`\r\n\r\n${body}`)).toBe(true);
}

describe('an unsolicited 100 Continue from the upstream is skipped; the final response follows intact', () => {
  let a: RecordingUpstream;
  let proxy: ProxyHarness;

  beforeAll(async () => {
    a = await startRecordingUpstream(answer(FINAL_OK));
    proxy = await startProxy({
      services: { a: [{ port: a.port }] },
      // One pooled connection: consecutive requests share it, so framing after a 100 is tested.
      config: { routes: [{ name: 'all', match: { path: '/' }, service: 'a' }], services: { a: { connections: 1 } } },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await a.close();
  });
  afterEach(() => {
    a.behaviour = answer(FINAL_OK);
    a.reset();
  });

  it('100 and the final response in one write', async () => {
    a.behaviour = answer(CONTINUE + FINAL_OK);
    const { text } = await sendRaw(proxy.port, 'GET /page HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expectOnlyFinal(text, 200, 'ok');
    expect(proxy.log.find('upstream_bad_response')).toHaveLength(0);
  });

  it('100 and the final response in separate writes, apart in time', async () => {
    a.behaviour = answerInParts(50, CONTINUE, 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\n', 'later');
    const { text } = await sendRaw(proxy.port, 'GET /page HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expectOnlyFinal(text, 200, 'later');
  });

  it('a 100 split across two writes', async () => {
    a.behaviour = answerInParts(50, 'HTTP/1.1 100 Cont', 'inue\r\n\r\n' + FINAL_OK);
    const { text } = await sendRaw(proxy.port, 'GET /page HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expectOnlyFinal(text, 200, 'ok');
  });

  it('two 100s before the final response', async () => {
    a.behaviour = answer(CONTINUE + CONTINUE + FINAL_OK);
    const { text } = await sendRaw(proxy.port, 'GET /page HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expectOnlyFinal(text, 200, 'ok');
  });

  it('100 then 103: the 103 is relayed, the 100 is not', async () => {
    const hints = 'HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload; as=style\r\n\r\n';
    a.behaviour = answer(CONTINUE + hints + FINAL_OK);
    const { text } = await sendRaw(proxy.port, 'GET /page HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expect(text.startsWith('HTTP/1.1 103 Early Hints\r\n')).toBe(true);
    const headEnd = text.indexOf('\r\n\r\n');
    expect(text.slice(0, headEnd)).toContain('Link: </style.css>; rel=preload; as=style');
    expectOnlyFinal(text.slice(headEnd + 4), 200, 'ok');
  });

  it('a 100 with a body-framing header, and a chunked final response after it', async () => {
    a.behaviour = answer('HTTP/1.1 100 Continue\r\nContent-Length: 5\r\n\r\nHTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n');
    const { text } = await sendRaw(proxy.port, 'GET /page HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    expect(text.startsWith('HTTP/1.1 200 OK\r\n')).toBe(true);
    expect(text).not.toContain('100 Continue');
    const responses = parseResponses(text);
    expect(responses).toHaveLength(1);
    expect(responses[0]!.body).toBe('ok');
  });

  it('a 1xx that ends the connection (Connection: close, or HTTP/1.0) makes what follows unreadable: 502, never a hang', async () => {
    // undici's parser (llhttp, strict) takes the 1xx as the connection's last message; the final
    // response after it is "data after Connection: close". The same holds for a 103.
    for (const interim of ['HTTP/1.1 100 Continue\r\nConnection: close\r\n\r\n', 'HTTP/1.0 100 Continue\r\n\r\n']) {
      a.behaviour = answer(interim + FINAL_OK);
      const { text, responses } = await sendRaw(proxy.port, 'GET /page HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
      expect(text.startsWith('HTTP/1.1 502 ')).toBe(true);
      expect(responses).toHaveLength(1);
      expect(responses[0]!.headers['x-switchyard-error']).toBe('upstream_bad_response');
    }
  });

  it('100 before a POST body is fully sent: the body reaches the upstream whole, then the final response', async () => {
    a.behaviour = (conn) => {
      write(conn, '100', CONTINUE);
      const whenBodyComplete = (): void => {
        if (!conn.received.endsWith('helloworld')) return;
        conn.socket.off('data', whenBodyComplete);
        // Closes after answering: this recording upstream does not parse request bodies, so the
        // connection is not offered for reuse.
        write(conn, '200', 'HTTP/1.1 201 Created\r\nconnection: close\r\ncontent-length: 7\r\n\r\nstored!');
        conn.socket.end();
      };
      conn.socket.on('data', whenBodyComplete);
    };
    const c = await RawConnection.open(proxy.port);
    c.write('POST /upload HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\nConnection: close\r\n\r\nhello');
    await eventually(() => a.used[0]?.events.includes('wrote:100') === true, 5_000, 'the upstream to send its 100');
    // Give the proxy a moment to read the 100 before the rest of the body (ordering, not timing).
    await new Promise((r) => setTimeout(r, 100));
    // The 100 has been sent before the rest of the body; the client has received nothing yet.
    expect(c.text).toBe('');
    c.write('world');
    await c.waitForClose();
    expectOnlyFinal(c.text, 201, 'stored!');
    const received = a.used[0]!.received;
    expect(received.slice(received.indexOf('\r\n\r\n') + 4)).toBe('helloworld');
    expect(a.used[0]!.events.indexOf('wrote:100')).toBeLessThan(a.used[0]!.events.indexOf('wrote:200'));
  });

  it('keeps framing on a reused upstream connection: the next request and its response are intact', async () => {
    const c = await RawConnection.open(proxy.port);
    a.behaviour = answer(CONTINUE + 'HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nfirst');
    c.write('GET /one HTTP/1.1\r\nHost: h\r\n\r\n');
    await c.waitForResponses(1);
    a.behaviour = answer(CONTINUE + 'HTTP/1.1 200 OK\r\ncontent-length: 6\r\n\r\nsecond');
    c.write('GET /two HTTP/1.1\r\nHost: h\r\n\r\n');
    const responses = await c.waitForResponses(2);
    a.behaviour = answer('HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nthird');
    c.write('GET /three HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n');
    await c.waitForClose();
    const all = parseResponses(c.text);
    c.destroy();
    expect(responses.map((r) => r.body)).toEqual(['first', 'second']);
    expect(all.map((r) => `${r.status} ${r.body}`)).toEqual(['200 first', '200 second', '200 third']);
    expect(c.text).not.toContain('100 Continue');
    // All three went over one upstream connection, each request head whole and in order.
    expect(a.used).toHaveLength(1);
    expect(a.used[0]!.heads.map((h) => h.slice(0, h.indexOf('\r\n')))).toEqual(['GET /one HTTP/1.1', 'GET /two HTTP/1.1', 'GET /three HTTP/1.1']);
    expect(a.used[0]!.events).not.toContain('closed');
  });
});

describe('an unsolicited 100 Continue before the answer to an upgrade', () => {
  let a: RecordingUpstream;
  let proxy: ProxyHarness;

  beforeAll(async () => {
    a = await startRecordingUpstream(answer(VALID_101));
    proxy = await startProxy({
      services: { a: [{ port: a.port }] },
      config: { routes: [{ name: 'all', match: { path: '/' }, service: 'a' }] },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await a.close();
  });
  afterEach(() => a.reset());

  it('100 then 101: the client gets the 101 alone, and the tunnel carries bytes both ways', async () => {
    a.behaviour = answerInParts(30, CONTINUE, VALID_101);
    const c = await RawConnection.open(proxy.port);
    c.write(WS_HEAD);
    await eventually(() => c.text.includes('\r\n\r\n'), 5_000, 'the 101');
    expect(c.text.startsWith('HTTP/1.1 101 Switching Protocols\r\n')).toBe(true);
    expect(c.text).not.toContain('100 Continue');
    expect(c.text.endsWith('\r\n\r\n')).toBe(true);
    const before = c.text;
    c.write('ping');
    await eventually(() => a.allReceived.endsWith('ping'), 5_000, 'client bytes to reach the upstream');
    write(a.used[0]!, 'data', 'pong');
    await eventually(() => c.text === before + 'pong', 5_000, 'upstream bytes to reach the client');
    c.destroy();
    await eventually(() => a.used[0]!.events.includes('closed'), 5_000, 'the upstream side to close');
  });

  it('100 and 101 in one write, with tunnel bytes right behind them', async () => {
    a.behaviour = answer(CONTINUE + VALID_101 + 'hello');
    const c = await RawConnection.open(proxy.port);
    c.write(WS_HEAD);
    await eventually(() => c.text.endsWith('hello'), 5_000, 'the 101 and the first tunnel bytes');
    expect(c.text.startsWith('HTTP/1.1 101 Switching Protocols\r\n')).toBe(true);
    expect(c.text).not.toContain('100 Continue');
    expect(c.text.indexOf('\r\n\r\n') + 4).toBe(c.text.length - 'hello'.length);
    c.destroy();
  });

  it('100 then 426: the refusal is relayed alone and no tunnel opens', async () => {
    a.behaviour = answer(CONTINUE + 'HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 4\r\n\r\nnope');
    const { text } = await sendRaw(proxy.port, WS_HEAD + 'GET /after HTTP/1.1\r\nHost: h\r\n\r\n');
    expectOnlyFinal(text, 426, 'nope');
    expect(parseResponses(text)[0]!.headers['sec-websocket-version']).toBe('13');
    expect(a.allReceived).not.toContain('/after');
    expect(a.used.flatMap((c) => c.events)).not.toContain('data-after-head');
  });
});

import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sendRaw } from '../../support/raw-http-client.js';
import { startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { answerWith, startRawUpstream, type RawUpstream } from '../../support/raw-upstream.js';
import { RESPONSE_CORPUS } from '../../support/response-corpus.js';

/**
 * The HTTP/1.1 listener writes an upstream's response head in one of two ways: its fields
 * copied as the bytes the upstream connection read (a route with no response filter), or as
 * strings through the filters (a route with response header rules). Both must give the client
 * the same bytes. Each upstream answer below is fetched through both routes, one after the
 * other, and the two answers compared byte for byte; the only line allowed to differ is the
 * `date` the proxy adds when the upstream sent none (two fetches may straddle a second).
 */
describe('response heads: fields passed as bytes and as strings write the same bytes', () => {
  let up: RawUpstream;
  let proxy: ProxyHarness;

  beforeAll(async () => {
    up = await startRawUpstream(answerWith('HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok'));
    proxy = await startProxy({
      services: { app: [{ port: up.port }] },
      config: {
        routes: [
          { name: 'bytes', match: { path: '/bytes' }, service: 'app' },
          // A rule for a field no answer has: the fields go through the filter as strings.
          { name: 'strings', match: { path: '/strings' }, service: 'app', headerRules: { response: { remove: ['x-never-sent'] } } },
        ],
      },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await up.close();
  });

  const DATE_LINE = /\r\ndate: [^\r]*\r\n/;

  /** The client's bytes for `answer` through both routes; `date` lines the proxy added are blanked. */
  async function both(answer: string, request = 'GET', version = '1.1', close = false): Promise<{ bytes: string; strings: string; upstreamDate: boolean }> {
    up.behaviour = close ? (socket) => void socket.end(answer) : answerWith(answer);
    const ask = (path: string) => sendRaw(proxy.port, `${request} ${path} HTTP/${version}\r\nHost: h\r\nX-Request-Id: fixed-id\r\nConnection: close\r\n\r\n`);
    const upstreamDate = /\r\ndate:/i.test(answer.slice(0, answer.indexOf('\r\n\r\n')));
    const blank = (text: string) => (upstreamDate ? text : text.replace(DATE_LINE, '\r\ndate: -\r\n'));
    const a = await ask('/bytes/x');
    const b = await ask('/strings/x');
    return { bytes: blank(a.text), strings: blank(b.text), upstreamDate };
  }

  for (const c of RESPONSE_CORPUS) {
    if (c.close === true || c.method !== undefined) continue;
    it(`corpus: ${c.name}`, async () => {
      // Some answers are cut or refused after the head (nothing reaches the client): the same either way.
      const { bytes, strings } = await both(c.bytes);
      expect(bytes).toBe(strings);
    });
  }

  const cases: [string, string][] = [
    ['hop-by-hop fields and a field Connection names are dropped', 'HTTP/1.1 200 OK\r\nConnection: keep-alive, x-private\r\nKeep-Alive: timeout=5\r\nX-Private: secret\r\nX-Public: yes\r\nContent-Length: 2\r\n\r\nok'],
    ['the upstream names the request id field in Connection: the id is still echoed', 'HTTP/1.1 200 OK\r\nConnection: x-request-id\r\nX-Request-Id: upstream-id\r\nContent-Length: 2\r\n\r\nok'],
    ['the upstream sends its own request id', 'HTTP/1.1 200 OK\r\nx-request-id: upstream-id\r\nContent-Length: 2\r\n\r\nok'],
    ['names in odd case, the upstream\'s Date kept', 'HTTP/1.1 201 Created\r\nCONTENT-TYPE: text/plain\r\nDate: Tue, 08 Dec 2026 03:00:00 GMT\r\ncontent-LENGTH: 2\r\n\r\nok'],
    ['chunked from the upstream: chunked to the client', 'HTTP/1.1 200 OK\r\nX-A: 1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n'],
    ['a 204', 'HTTP/1.1 204 No Content\r\nX-A: 1\r\n\r\n'],
    ['a 304', 'HTTP/1.1 304 Not Modified\r\nETag: "a"\r\n\r\n'],
    ['a reason phrase of the upstream\'s own', 'HTTP/1.1 299 Quite Fine\r\nContent-Length: 0\r\n\r\n'],
    ['an empty value and values with inner spaces and obs-text', 'HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Spaced:   a  b\r\nX-Latin: caf\xe9\r\nContent-Length: 0\r\n\r\n'],
    ['a head of 7 KiB of fields', `HTTP/1.1 200 OK\r\n${Array.from({ length: 70 }, (_, i) => `X-F${i}: ${'v'.repeat(90)}\r\n`).join('')}Content-Length: 0\r\n\r\n`],
    ['a head of 12 KiB (past the copied size: the string path)', `HTTP/1.1 200 OK\r\nX-Big: ${'b'.repeat(12_000)}\r\nContent-Length: 0\r\n\r\n`],
  ];
  for (const [what, answer] of cases) {
    it(what, async () => {
      const { bytes, strings } = await both(answer);
      expect(bytes).toBe(strings);
      expect(bytes.startsWith('HTTP/1.1 ')).toBe(true);
    });
  }

  it('a HEAD request and an HTTP/1.0 client', async () => {
    const head = await both('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', 'HEAD');
    expect(head.bytes).toBe(head.strings);
    expect(head.bytes).toContain('Content-Length: 5');
    const old = await both('HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nclose-delimited', 'GET', '1.0', true);
    expect(old.bytes).toBe(old.strings);
  });

  it('generated heads: the same bytes either way', async () => {
    const token = fc.stringMatching(/^[A-Za-z][A-Za-z0-9-]{0,15}$/);
    const value = fc.stringMatching(/^[\x21-\x7e]([\x20-\x7e]{0,30}[\x21-\x7e])?$/);
    const field = fc.oneof(
      { weight: 6, arbitrary: fc.tuple(token, value) },
      { weight: 1, arbitrary: fc.tuple(fc.constantFrom('Connection', 'Keep-Alive', 'Proxy-Connection', 'Trailer', 'TE', 'Upgrade', 'X-Request-Id', 'Date'), value) },
    );
    await fc.assert(
      fc.asyncProperty(fc.array(field, { maxLength: 12 }), fc.constantFrom(200, 201, 204, 404, 503), fc.boolean(), async (fields, status, length) => {
        // A Connection value naming "close" would end the upstream connection: the same either way, but slower.
        let head = `HTTP/1.1 ${status} X\r\n`;
        for (const [name, v] of fields) head += `${name}: ${v}\r\n`;
        const body = status === 204 ? '' : 'ok';
        const answer = length ? `${head}Content-Length: ${body.length}\r\n\r\n${body}` : `${head}\r\n${body}`;
        // Without a length the upstream's body is close-delimited: it closes after writing.
        up.behaviour = length
          ? answerWith(answer)
          : (socket) => {
              socket.end(answer);
            };
        const ask = (path: string) => sendRaw(proxy.port, `GET ${path} HTTP/1.1\r\nHost: h\r\nX-Request-Id: fixed-id\r\nConnection: close\r\n\r\n`);
        const hasDate = fields.some(([name]) => name.toLowerCase() === 'date');
        const blank = (text: string) => (hasDate ? text : text.replace(DATE_LINE, '\r\ndate: -\r\n'));
        const a = blank((await ask('/bytes/g')).text);
        const b = blank((await ask('/strings/g')).text);
        expect(a).toBe(b);
      }),
      { numRuns: 60 },
    );
  });
});

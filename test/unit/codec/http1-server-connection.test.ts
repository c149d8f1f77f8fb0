import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionSweep, Http1ServerConnection, type Http1ServerSettings } from '../../../src/codec/http1-server-connection.js';
import type { BodySink, ServerStream } from '../../../src/codec/server-stream.js';
import { RawConnection, sendRaw } from '../../support/raw-http-client.js';
import { eventually } from '../../support/proxy-harness.js';

/**
 * The HTTP/1.1 server codec on its own, on real sockets, with a small application in place of
 * the proxy: framing, keep-alive, pipelining, 100-continue, limits, timeouts, half-close and
 * upgrades, read back as raw bytes.
 */

// Generous timeouts: the machine may be loaded, and only the timeout tests wait for them.
const SETTINGS: Http1ServerSettings = { maxHeaderSize: 1024, headersTimeout: 1_000, requestTimeout: 3_000, keepAliveTimeout: 1_500 };

/** Collects a body; pauses after the first chunk when asked, resumed a moment later. */
class Collector implements BodySink {
  chunks: Buffer[] = [];
  pausedOnce = false;
  constructor(
    private readonly stream: ServerStream,
    private readonly done: (body: Buffer, trailers: string[] | null) => void,
    private readonly pause: boolean,
  ) {}
  onBodyChunk(chunk: Buffer): boolean {
    this.chunks.push(Buffer.from(chunk));
    if (this.pause && !this.pausedOnce) {
      this.pausedOnce = true;
      setTimeout(() => this.stream.resumeBody(), 20);
      return false;
    }
    return true;
  }
  onBodyEnd(trailers: string[] | null): void {
    this.done(Buffer.concat(this.chunks), trailers);
  }
}

const upgrades: Buffer[][] = [];
let aborted = 0;

/** The application: what it does depends on the path. */
function onStream(stream: ServerStream): void {
  const url = new URL(stream.url!, 'http://x');
  stream.observe({ onDrain() {}, onAborted: () => void aborted++ });
  switch (url.pathname) {
    case '/echo':
    case '/echo-paused':
      stream.readBody(
        new Collector(
          stream,
          (body, trailers) => {
            const reply = `${stream.method} ${body.length} ${body.toString('latin1').slice(0, 20)} trailers=${trailers?.join('|') ?? ''}`;
            stream.writeHead(200, ['content-length', String(reply.length)]);
            stream.end(reply);
          },
          url.pathname === '/echo-paused',
        ),
      );
      return;
    case '/slow':
      setTimeout(() => {
        stream.writeHead(200, ['content-length', '4']);
        stream.end('slow');
      }, 60);
      return;
    case '/fast':
      stream.writeHead(200, ['content-length', '4']);
      stream.end('fast');
      return;
    case '/status':
      stream.writeHead(Number(url.searchParams.get('code')), []);
      stream.end();
      return;
    case '/unknown-length':
      stream.writeHead(200, ['x-a', '1']);
      stream.write(Buffer.from('abc'));
      stream.end('def', ['x-checksum', '42']);
      return;
    case '/refuse':
      stream.writeHead(413, ['content-length', '0']);
      stream.end();
      return;
    case '/never':
      return; // never answered: for timeouts and half-close
    default:
      stream.writeHead(404, ['content-length', '0']);
      stream.end();
  }
}

describe('HTTP/1.1 server codec (Http1ServerConnection)', () => {
  let server: Server;
  let port: number;
  let sweep: ConnectionSweep;

  beforeAll(async () => {
    sweep = new ConnectionSweep(25);
    server = createServer((socket: Socket) => {
      void new Http1ServerConnection(socket, SETTINGS, { onStream, onUpgrade: (s, bytes) => (upgrades.push(bytes), s.end('upgraded')) }, sweep);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    sweep.stop();
    await new Promise((r) => server.close(r));
  });
  afterEach(() => {
    upgrades.length = 0;
  });

  it('keeps an HTTP/1.1 connection alive across requests, with a Date header and no Connection header', async () => {
    const conn = await RawConnection.open(port);
    conn.write('GET /fast HTTP/1.1\r\nHost: x\r\n\r\n');
    const [first] = await conn.waitForResponses(1);
    expect(first!.status).toBe(200);
    expect(first!.headers.date).toMatch(/GMT$/);
    expect(first!.headers.connection).toBeUndefined();
    conn.write('POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello');
    const responses = await conn.waitForResponses(2);
    expect(responses[1]!.body).toBe('POST 5 hello trailers=');
    expect(conn.closed).toBe(false);
    conn.destroy();
  });

  it('answers pipelined requests in order, a slow one holding back the fast one after it', async () => {
    const { responses } = await sendRaw(port, 'GET /slow HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(responses.map((r) => r.body)).toEqual(['slow', 'fast', 'fast']);
    expect(responses[2]!.headers.connection).toBe('close');
  });

  it('reads Content-Length and chunked bodies with extensions and trailers, pausing and resuming the parser', async () => {
    const big = 'x'.repeat(200_000);
    const { responses } = await sendRaw(
      port,
      `POST /echo-paused HTTP/1.1\r\nHost: x\r\nContent-Length: ${big.length}\r\n\r\n${big}` +
        'POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5;a=b\r\nhello\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n',
    );
    expect(responses.map((r) => r.body)).toEqual([`POST 200000 ${'x'.repeat(20)} trailers=`, 'POST 8 helloabc trailers=X-T|1']);
  });

  it('a consumer that pauses on the last bytes of a body gets the body\'s end when it resumes, with no more bytes from the client', async () => {
    const conn = await RawConnection.open(port);
    conn.write('POST /echo-paused HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello');
    await eventually(() => conn.text.endsWith('POST 5 hello trailers='), 5_000, 'the echo');
    conn.destroy();
  });

  it('sends 100 Continue only when the body is read: a request refused unread gets no invitation and the connection closes', async () => {
    const conn = await RawConnection.open(port);
    conn.write('POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n');
    await eventually(() => conn.text.includes('100 Continue'), 5_000, '100 Continue');
    conn.write('abc');
    await eventually(() => conn.text.endsWith('POST 3 abc trailers='), 5_000, 'the echo');
    conn.write('POST /refuse HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\n');
    await conn.waitForClose();
    const after = conn.text.slice(conn.text.lastIndexOf('HTTP/1.1 200'));
    expect(after).not.toContain('100 Continue');
    expect(after).toContain('HTTP/1.1 413');
    expect(after.toLowerCase()).toContain('connection: close');
  });

  it('frames HEAD, 204 and 304 without a body, and keeps the connection usable after them', async () => {
    const conn = await RawConnection.open(port);
    conn.write('HEAD /fast HTTP/1.1\r\nHost: x\r\n\r\nGET /status?code=204 HTTP/1.1\r\nHost: x\r\n\r\nGET /status?code=304 HTTP/1.1\r\nHost: x\r\n\r\nGET /fast HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    await conn.waitForClose();
    const heads = conn.text.split('\r\n\r\n');
    // HEAD keeps its Content-Length but sends no body; 204 and 304 have neither length nor chunking.
    expect(heads[0]).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(heads[0]!.toLowerCase()).toContain('content-length: 4');
    expect(heads[1]).toMatch(/^HTTP\/1\.1 204 No Content\r\n/);
    expect(heads[2]).toMatch(/^HTTP\/1\.1 304 Not Modified\r\n/);
    for (const h of heads.slice(1, 3)) expect(h.toLowerCase()).not.toMatch(/transfer-encoding|content-length/);
    expect(heads[3]).toMatch(/^HTTP\/1\.1 200 OK\r\n/);
    expect(heads[4]).toBe('fast');
  });

  it('frames a response of unknown length chunked for HTTP/1.1, trailers only when the client sent TE: trailers', async () => {
    const plain = await sendRaw(port, 'GET /unknown-length HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n');
    expect(plain.text).toContain('transfer-encoding: chunked\r\n');
    expect(plain.text.endsWith('3\r\nabc\r\n3\r\ndef\r\n0\r\n\r\n')).toBe(true);
    const withTrailers = await sendRaw(port, 'GET /unknown-length HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n');
    expect(withTrailers.text.endsWith('0\r\nx-checksum: 42\r\n\r\n')).toBe(true);
  });

  it('HTTP/1.0: closes by default, keeps alive on request with a known length, and ends an unknown length by closing', async () => {
    const plain = await sendRaw(port, 'GET /fast HTTP/1.0\r\n\r\n');
    expect(plain.responses[0]!.headers.connection).toBe('close');
    const conn = await RawConnection.open(port);
    conn.write('GET /fast HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    const [kept] = await conn.waitForResponses(1);
    expect(kept!.headers.connection).toBe('keep-alive');
    conn.write('GET /unknown-length HTTP/1.0\r\nConnection: keep-alive\r\n\r\n');
    await conn.waitForClose();
    const last = conn.text.slice(conn.text.lastIndexOf('HTTP/1.1'));
    expect(last.toLowerCase()).toContain('connection: close');
    expect(last).not.toContain('transfer-encoding');
    expect(last.endsWith('\r\n\r\nabcdef')).toBe(true);
  });

  it('refuses a malformed request with 400 and a head over the limit with 431, closing the connection', async () => {
    const bad = await sendRaw(port, 'GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n');
    expect(bad.responses.map((r) => r.status)).toEqual([400]);
    const big = await sendRaw(port, `GET / HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(2_000)}\r\n\r\n`);
    expect(big.responses.map((r) => r.status)).toEqual([431]);
    expect(big.responses[0]!.headers['x-switchyard-error']).toBe('header_fields_too_large');
  });

  it('answers 408 to a head that does not complete in time, and closes an idle kept-alive connection silently', async () => {
    const slow = await RawConnection.open(port);
    slow.write('GET / HTTP/1.1\r\nHost: x\r\n');
    await slow.waitForClose();
    expect(slow.text).toMatch(/^HTTP\/1\.1 408 Request Timeout\r\n/);
    const idle = await RawConnection.open(port);
    idle.write('GET /fast HTTP/1.1\r\nHost: x\r\n\r\n');
    await idle.waitForResponses(1);
    const before = idle.text;
    await idle.waitForClose();
    expect(idle.text).toBe(before);
  });

  it('aborts the request in progress when the client ends its side, and closes', async () => {
    const before = aborted;
    const conn = await RawConnection.open(port);
    conn.write('GET /never HTTP/1.1\r\nHost: x\r\n\r\n');
    await new Promise((r) => setTimeout(r, 20));
    conn.socket.end();
    await conn.waitForClose();
    expect(aborted).toBe(before + 1);
    expect(conn.text).toBe('');
  });

  it('hands an upgrade request to onUpgrade with every byte read from its first one, including what follows it', async () => {
    const head = 'GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n';
    const conn = await RawConnection.open(port);
    conn.write('GET /fast HTTP/1.1\r\nHost: x\r\n\r\n');
    await conn.waitForResponses(1);
    conn.write(head + 'frame-bytes');
    await conn.waitForClose();
    expect(upgrades).toHaveLength(1);
    expect(Buffer.concat(upgrades[0]!).toString('latin1')).toBe(head + 'frame-bytes');
    expect(conn.text.endsWith('upgraded')).toBe(true);
  });
});

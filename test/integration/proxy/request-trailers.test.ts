import { connect as http2Connect, createServer as createHttp2Server, type ClientHttp2Session, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { HpackDecoder } from '../../../src/codec/http2/hpack-decoder.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { RawConnection } from '../../support/raw-http-client.js';
import { Flag, FrameType, dataFrame, headersFrame, hpackBlock } from '../../support/raw-http2-client.js';
import { startRawHttp2Upstream, type RawHttp2Peer, type RawHttp2Upstream } from '../../support/raw-http2-upstream.js';

/**
 * Request trailers reach the upstream (issue #24): after a chunked HTTP/1.1 body as a trailer
 * section, on HTTP/2 as a trailing HEADERS frame with END_STREAM (the own codec and node:http2),
 * filtered as response trailers are. Raw upstreams record the exact bytes they received.
 */

/** A raw HTTP/1.1 upstream: records every byte per connection; answers 200 "ok" once a request's body is whole. */
interface RecordingHttp1 {
  readonly port: number;
  /** Bytes received per connection, latin1. */
  readonly received: string[];
  close(): Promise<void>;
}

/** Whether `text` ends with a whole request: a head without body, Content-Length bytes, or a chunked body with its trailer section. */
function requestComplete(text: string): boolean {
  const headEnd = text.indexOf('\r\n\r\n');
  if (headEnd < 0) return false;
  const head = text.slice(0, headEnd).toLowerCase();
  const body = text.slice(headEnd + 4);
  if (head.includes('\r\ntransfer-encoding: chunked')) return /(^|\r\n)0\r\n(?:[^\r\n]+\r\n)*\r\n$/.test(body);
  const length = /\r\ncontent-length: (\d+)/.exec(head);
  return body.length >= (length === null ? 0 : Number(length[1]));
}

async function startRecordingHttp1(): Promise<RecordingHttp1> {
  const received: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    const index = received.push('') - 1;
    let pending = '';
    socket.setEncoding('latin1');
    socket.on('error', () => undefined); // the proxy cutting a refused request is one outcome
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', (d: string) => {
      received[index] += d;
      pending += d;
      if (requestComplete(pending)) {
        pending = '';
        socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

async function proxyTo(port: number, protocol: 'http1' | 'h2c', extra: Record<string, unknown> = {}, listener: 'llhttp' | 'node' = 'llhttp', http2Client: 'switchyard' | 'node' = 'switchyard'): Promise<ProxyHarness> {
  const service = protocol === 'h2c' ? { protocol, http2Client, ...extra } : { ...extra };
  const proxy = await startProxy({
    services: { svc: [{ port }] },
    config: {
      listeners: [{ name: 'mixed', address: '127.0.0.1', port: 0, protocols: ['http1', 'h2c'] }],
      proxy: { engine: { listener } },
      services: { svc: service },
      routes: [{ name: 'svc', match: { path: '/' }, service: 'svc' }],
    },
  });
  closers.push(() => proxy.close());
  return proxy;
}

/** The trailer section the upstream saw after the last chunk, or null when the body was not chunked. */
function trailerSection(received: string): string | null {
  const headEnd = received.indexOf('\r\n\r\n');
  const body = received.slice(headEnd + 4);
  const m = /(?:^|\r\n)0\r\n((?:[^\r\n]+\r\n)*)\r\n$/.exec(body);
  return m === null ? null : m[1]!;
}

/**
 * Trailers a client sends, allowed ones and ones the proxy must drop. (Content-Length and
 * Transfer-Encoding in a trailer section are refused by the parser itself: a test below.)
 */
const SENT_TRAILERS: [string, string][] = [
  ['X-Checksum', 'sha256=abc'],
  ['host', 'evil.test'],
  ['te', 'trailers'],
  ['connection', 'close'],
  ['trailer', 'x-checksum'],
  ['authorization', 'Bearer nope'],
  ['keep-alive', 'timeout=1'],
  ['X-Hop', 'named in Connection'],
  ['x-other', 'two words'],
];

function chunkedRequest(trailers: [string, string][]): string {
  let out = 'POST /upload HTTP/1.1\r\nhost: svc.test\r\nconnection: keep-alive, x-hop\r\ntransfer-encoding: chunked\r\ntrailer: x-checksum\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n';
  for (const [name, value] of trailers) out += `${name}: ${value}\r\n`;
  return out + '\r\n';
}

describe('request trailers from an HTTP/1.1 client (chunked)', () => {
  for (const listener of ['llhttp', 'node'] as const) {
    it(`reach an HTTP/1.1 upstream as a trailer section after the last chunk; forbidden ones are dropped (listener ${listener})`, async () => {
      const upstream = await startRecordingHttp1();
      closers.push(() => upstream.close());
      const proxy = await proxyTo(upstream.port, 'http1', {}, listener);
      const client = await RawConnection.open(proxy.port);
      closers.push(async () => client.destroy());
      client.write(chunkedRequest(SENT_TRAILERS));
      const [response] = await client.waitForResponses(1);
      expect(response!.status).toBe(200);
      const got = upstream.received.join('');
      expect(got.toLowerCase()).toContain('\r\ntransfer-encoding: chunked\r\n');
      expect(got).toContain('5\r\nhello\r\n6\r\n world\r\n');
      expect(trailerSection(got)).toBe('x-checksum: sha256=abc\r\nx-other: two words\r\n');
    });
  }

  const INJECTIONS: [string, string][] = [
    ['a bare CR', 'x-a: b\rx-injected: 1\r\n'],
    ['a bare LF', 'x-a: b\nx-injected: 1\r\n'],
    ['a NUL', 'x-a: b\u0000x-injected: 1\r\n'],
    ['a field without a colon', 'x-injected\r\n'],
    ['a space before the colon', 'x-injected : 1\r\n'],
    ['a Content-Length field (framing in a trailer section)', 'x-injected: 1\r\ncontent-length: 5\r\n'],
    ['a Transfer-Encoding field (framing in a trailer section)', 'x-injected: 1\r\ntransfer-encoding: chunked\r\n'],
  ];
  for (const [what, line] of INJECTIONS) {
    it(`a trailer with ${what} is refused by the parser: 400 or a cut connection, nothing of it reaches the upstream`, async () => {
      const upstream = await startRecordingHttp1();
      closers.push(() => upstream.close());
      const proxy = await proxyTo(upstream.port, 'http1');
      const client = await RawConnection.open(proxy.port);
      closers.push(async () => client.destroy());
      client.write('POST /upload HTTP/1.1\r\nhost: svc.test\r\ntransfer-encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n' + line + '\r\n');
      await client.waitForClose();
      const status = /^HTTP\/1\.1 (\d{3})/.exec(client.text);
      if (status !== null) expect(status[1]).toBe('400');
      expect(upstream.received.join('')).not.toContain('x-injected');
      expect(upstream.received.join('')).not.toMatch(/\r\n0\r\n/); // the body never ended upstream
    });
  }

  it('without trailers the body ends with the plain last chunk', async () => {
    const upstream = await startRecordingHttp1();
    closers.push(() => upstream.close());
    const proxy = await proxyTo(upstream.port, 'http1');
    const client = await RawConnection.open(proxy.port);
    closers.push(async () => client.destroy());
    client.write(chunkedRequest([]));
    expect((await client.waitForResponses(1))[0]!.status).toBe(200);
    expect(trailerSection(upstream.received.join(''))).toBe('');
  });

  it('only forbidden trailers: the last chunk goes with an empty trailer section', async () => {
    const upstream = await startRecordingHttp1();
    closers.push(() => upstream.close());
    const proxy = await proxyTo(upstream.port, 'http1');
    const client = await RawConnection.open(proxy.port);
    closers.push(async () => client.destroy());
    client.write(chunkedRequest([['te', 'trailers'], ['host', 'x.test'], ['authorization', 'Basic eA==']]));
    expect((await client.waitForResponses(1))[0]!.status).toBe(200);
    expect(trailerSection(upstream.received.join(''))).toBe('');
  });
});

/** Sends a POST with `body` and trailers from an HTTP/2 client; resolves with the status. */
function h2PostWithTrailers(session: ClientHttp2Session, body: Buffer, trailers: Record<string, string>, headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': '/upload', ...headers }, { waitForTrailers: true });
    stream.on('wantTrailers', () => stream.sendTrailers(trailers));
    let status = 0;
    stream.on('response', (h) => (status = Number(h[':status'])));
    stream.on('data', () => undefined);
    stream.on('error', reject);
    stream.on('close', () => (status === 0 ? reject(new Error(`no response (RST_STREAM ${stream.rstCode})`)) : resolve(status)));
    stream.end(body);
  });
}

async function h2Session(proxy: ProxyHarness): Promise<ClientHttp2Session> {
  const session = http2Connect(`http://127.0.0.1:${proxy.port}`);
  closers.push(() => new Promise<void>((r) => session.close(() => r())));
  await new Promise<void>((resolve, reject) => {
    session.once('connect', () => resolve());
    session.once('error', reject);
  });
  return session;
}

const H2_TRAILERS = { 'x-checksum': 'sha256=abc', 'x-other': 'two words', authorization: 'Bearer nope', 'content-type': 'text/plain', 'x-Upper': 'kept lower-case' };

describe('request trailers from an HTTP/2 client', () => {
  it('reach an HTTP/1.1 upstream after a chunked body (no Content-Length from the client)', async () => {
    const upstream = await startRecordingHttp1();
    closers.push(() => upstream.close());
    const proxy = await proxyTo(upstream.port, 'http1');
    const session = await h2Session(proxy);
    expect(await h2PostWithTrailers(session, Buffer.from('hello'), H2_TRAILERS)).toBe(200);
    const got = upstream.received.join('');
    expect(got.toLowerCase()).toContain('\r\ntransfer-encoding: chunked\r\n');
    expect(trailerSection(got)).toBe('x-checksum: sha256=abc\r\nx-other: two words\r\nx-upper: kept lower-case\r\n');
  });

  it('are dropped towards an HTTP/1.1 upstream when the body has a Content-Length (no place for them)', async () => {
    const upstream = await startRecordingHttp1();
    closers.push(() => upstream.close());
    const proxy = await proxyTo(upstream.port, 'http1');
    const session = await h2Session(proxy);
    expect(await h2PostWithTrailers(session, Buffer.from('hello'), H2_TRAILERS, { 'content-length': '5' })).toBe(200);
    const got = upstream.received.join('');
    expect(got.toLowerCase()).toContain('\r\ncontent-length: 5\r\n');
    expect(got.endsWith('\r\n\r\nhello')).toBe(true);
    expect(got).not.toContain('x-checksum');
  });

  it('reach an HTTP/2 upstream on the own codec as a trailing HEADERS frame with END_STREAM, after the DATA', async () => {
    const upstream: RawHttp2Upstream = await startRawHttp2Upstream((peer: RawHttp2Peer, f) => {
      if (f.streamId !== 0 && (f.type === FrameType.DATA || f.type === FrameType.HEADERS) && (f.flags & Flag.END_STREAM) !== 0) peer.socket.write(Buffer.concat([headersFrame(f.streamId, hpackBlock([[':status', '200']])), dataFrame(f.streamId, Buffer.from('ok'), true)]));
    });
    closers.push(() => upstream.close());
    const proxy = await proxyTo(upstream.port, 'h2c');
    const session = await h2Session(proxy);
    expect(await h2PostWithTrailers(session, Buffer.from('hello'), H2_TRAILERS)).toBe(200);
    const frames = upstream.peers[0]!.frames.filter((f) => f.streamId === 1 && (f.type === FrameType.HEADERS || f.type === FrameType.DATA));
    const last = frames[frames.length - 1]!;
    expect(last.type).toBe(FrameType.HEADERS);
    expect(last.flags & (Flag.END_STREAM | Flag.END_HEADERS)).toBe(Flag.END_STREAM | Flag.END_HEADERS);
    const data = frames.filter((f) => f.type === FrameType.DATA);
    expect(Buffer.concat(data.map((f) => f.payload)).toString()).toBe('hello');
    expect(data.every((f) => (f.flags & Flag.END_STREAM) === 0)).toBe(true);
    const fields: string[] = [];
    new HpackDecoder().decode(last.payload, 0, last.payload.length, fields, 1 << 16);
    expect(fields).toEqual(['x-checksum', 'sha256=abc', 'x-other', 'two words', 'x-upper', 'kept lower-case']);
  });

  it('a body without trailers still ends with END_STREAM on DATA (own codec): no empty HEADERS', async () => {
    const upstream = await startRawHttp2Upstream((peer, f) => {
      if (f.streamId !== 0 && (f.type === FrameType.DATA || f.type === FrameType.HEADERS) && (f.flags & Flag.END_STREAM) !== 0) peer.socket.write(Buffer.concat([headersFrame(f.streamId, hpackBlock([[':status', '200']])), dataFrame(f.streamId, Buffer.from('ok'), true)]));
    });
    closers.push(() => upstream.close());
    const proxy = await proxyTo(upstream.port, 'h2c');
    const session = await h2Session(proxy);
    const status = await new Promise<number>((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': '/upload' });
      let got = 0;
      stream.on('response', (h) => (got = Number(h[':status'])));
      stream.on('data', () => undefined);
      stream.on('close', () => resolve(got));
      stream.on('error', reject);
      stream.end('hello');
    });
    expect(status).toBe(200);
    const frames = upstream.peers[0]!.frames.filter((f) => f.streamId === 1);
    expect(frames.filter((f) => f.type === FrameType.HEADERS)).toHaveLength(1);
    expect(frames.filter((f) => f.type === FrameType.DATA).at(-1)!.flags & Flag.END_STREAM).toBe(Flag.END_STREAM);
  });

  for (const [http2Client, listener] of [['switchyard', 'llhttp'], ['node', 'llhttp'], ['switchyard', 'node'], ['node', 'node']] as const) {
    it(`reach a node:http2 upstream as its request's trailers (http2Client: ${http2Client}, listener ${listener}), from HTTP/1.1 and HTTP/2 clients`, async () => {
      const seen: IncomingHttpHeaders[] = [];
      const upstream = await startTrailerEchoH2(seen);
      closers.push(() => upstream.close());
      const proxy = await proxyTo(upstream.port, 'h2c', {}, listener, http2Client);
      const session = await h2Session(proxy);
      expect(await h2PostWithTrailers(session, Buffer.from('hello'), H2_TRAILERS)).toBe(200);
      const client = await RawConnection.open(proxy.port);
      closers.push(async () => client.destroy());
      client.write(chunkedRequest(SENT_TRAILERS));
      expect((await client.waitForResponses(1))[0]!.status).toBe(200);
      await eventually(() => seen.length === 2, 2_000, 'two requests with trailers');
      expect(seen[0]).toEqual({ 'x-checksum': 'sha256=abc', 'x-other': 'two words', 'x-upper': 'kept lower-case' });
      expect(seen[1]).toEqual({ 'x-checksum': 'sha256=abc', 'x-other': 'two words' });
    });
  }

  it('replay with the body on a retry (a buffered body with Content-Length, retried after a 503)', async () => {
    const seen: IncomingHttpHeaders[] = [];
    let calls = 0;
    const upstream = await startTrailerEchoH2(seen, () => (++calls === 1 ? 503 : 200));
    closers.push(() => upstream.close());
    const second = await startTrailerEchoH2(seen, () => (++calls === 1 ? 503 : 200));
    closers.push(() => second.close());
    const proxy = await startProxy({
      services: { svc: [{ port: upstream.port }, { port: second.port }] },
      config: {
        listeners: [{ name: 'mixed', address: '127.0.0.1', port: 0, protocols: ['http1', 'h2c'] }],
        services: { svc: { protocol: 'h2c' } },
        routes: [{ name: 'svc', match: { path: '/' }, service: 'svc', retries: { maxRetries: 1, retryOn: ['5xx'], bufferBody: '64kib' } }],
      },
    });
    closers.push(() => proxy.close());
    const session = await h2Session(proxy);
    expect(await h2PostWithTrailers(session, Buffer.from('hello'), { 'x-checksum': 'sha256=abc' }, { ':method': 'PUT', 'content-length': '5' })).toBe(200);
    expect(calls).toBe(2);
    expect(seen).toEqual([{ 'x-checksum': 'sha256=abc' }, { 'x-checksum': 'sha256=abc' }]);
  });
});

/** A node:http2 upstream that records each request's trailers and answers `status()` once the request ended. */
async function startTrailerEchoH2(seen: IncomingHttpHeaders[], status: () => number = () => 200): Promise<{ port: number; close(): Promise<void> }> {
  const server: Http2Server = createHttp2Server();
  server.on('stream', (stream: ServerHttp2Stream) => {
    stream.on('trailers', (t: IncomingHttpHeaders) => seen.push(Object.fromEntries(Object.entries(t))));
    stream.on('data', () => undefined);
    stream.on('end', () => stream.respond({ ':status': status() }, { endStream: true }));
    stream.on('error', () => undefined);
  });
  const sessions = new Set<import('node:http2').Http2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}



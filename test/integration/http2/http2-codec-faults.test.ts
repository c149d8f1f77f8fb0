import { mkdtemp, readFile, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { createServer as createTlsServer } from 'node:tls';
import type { Dispatcher } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { Http2CodecPool } from '../../../src/upstream/http2-codec-pool.js';
import type { Http2PoolOptions } from '../../../src/upstream/http2-pool.js';
import { HpackDecoder } from '../../../src/codec/http2/hpack-decoder.js';
import { createTestCa, readPair } from '../../support/certificates.js';
import { eventually, startProxy } from '../../support/proxy-harness.js';
import { fetchText } from '../../support/http-client.js';
import { startHttp2Upstream, type Http2EchoReply } from '../../support/http2-upstream.js';
import {
  continuationFrame,
  dataFrame,
  ErrorCode,
  Flag,
  frame,
  FrameType,
  goawayFrame,
  headersFrame,
  hpackBlock,
  pingFrame,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from '../../support/raw-http2-client.js';
import { startRawHttp2Upstream, type ClientFrame, type RawHttp2Peer, type RawHttp2Upstream } from '../../support/raw-http2-upstream.js';

/**
 * Switchyard's HTTP/2 client codec against a raw TCP upstream that sends crafted frames: every
 * protocol violation ends in a clear error for each request in flight (the codes the proxy maps
 * to 502/503 or retries), the violating connection gets GOAWAY with the matching code, and
 * nothing hangs. Also: the exact bytes the upstream receives for a request.
 */

interface Outcome {
  status: number;
  body: string;
  trailers: Record<string, string> | null;
  error: (Error & { code?: string }) | null;
}

/** `paused`: the handler takes the first chunk and asks for no more (a client that does not read). */
function send(pool: Http2CodecPool, options: Partial<Dispatcher.DispatchOptions> = {}, paused = false): Promise<Outcome> {
  return new Promise((resolve, reject) => {
    const out: Outcome = { status: 0, body: '', trailers: null, error: null };
    const hang = setTimeout(() => reject(new Error('the request neither completed nor failed within 3 s (a hang)')), 3_000);
    pool.dispatch({ method: 'GET', path: '/', headers: ['host', 'upstream.test'], ...options } as Dispatcher.DispatchOptions, {
      onConnect() {},
      onHeaders(status: number) {
        if (status >= 200) out.status = status;
        return true;
      },
      onData(chunk: Buffer) {
        out.body += chunk.toString();
        return !paused;
      },
      onComplete(trailers: unknown) {
        clearTimeout(hang);
        out.trailers = trailers as Record<string, string> | null;
        resolve(out);
      },
      onError(err: Error) {
        clearTimeout(hang);
        out.error = err;
        resolve(out);
      },
    });
  });
}

const upstreams: RawHttp2Upstream[] = [];
const pools: Http2CodecPool[] = [];

async function upstream(onFrame: (peer: RawHttp2Peer, f: ClientFrame) => void, settings: ReadonlyArray<readonly [number, number]> | null = []): Promise<RawHttp2Upstream> {
  const u = await startRawHttp2Upstream(onFrame, settings);
  upstreams.push(u);
  return u;
}

function pool(port: number, options: Partial<Http2PoolOptions> = {}): Http2CodecPool {
  const p = new Http2CodecPool(`http://127.0.0.1:${port}`, { connections: 2, connectTimeout: 2_000, keepAliveTimeout: 5_000, maxConcurrentStreams: 100, tls: null, ...options });
  pools.push(p);
  return p;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
  await Promise.all(upstreams.splice(0).map((u) => u.close()));
});

/** Calls `answer` for each request HEADERS the client sends. */
function onRequest(answer: (peer: RawHttp2Peer, streamId: number) => void): (peer: RawHttp2Peer, f: ClientFrame) => void {
  return (peer, f) => {
    if (f.type === FrameType.HEADERS) answer(peer, f.streamId);
  };
}

const OK_HEAD = hpackBlock([[':status', '200']]);

function goawaySent(peer: RawHttp2Peer): number | undefined {
  const g = peer.frames.find((f) => f.type === FrameType.GOAWAY);
  return g === undefined ? undefined : g.payload.readUInt32BE(4);
}

describe('Switchyard HTTP/2 client codec against crafted upstream frames', () => {
  const CONNECTION_ERRORS: [string, (peer: RawHttp2Peer, id: number) => void, number, RegExp][] = [
    ['a DATA frame larger than SETTINGS_MAX_FRAME_SIZE', (p, id) => p.socket.write(Buffer.concat([headersFrame(id, OK_HEAD), dataFrame(id, Buffer.alloc(20_000))])), ErrorCode.FRAME_SIZE_ERROR, /20000 bytes, more than our SETTINGS_MAX_FRAME_SIZE/],
    ['a PING of 7 bytes', (p) => p.socket.write(frame(FrameType.PING, 0, 0, Buffer.alloc(7))), ErrorCode.FRAME_SIZE_ERROR, /PING of 7 bytes/],
    ['an RST_STREAM of 3 bytes', (p, id) => p.socket.write(frame(FrameType.RST_STREAM, 0, id, Buffer.alloc(3))), ErrorCode.FRAME_SIZE_ERROR, /RST_STREAM of 3 bytes/],
    ['a CONTINUATION flood', (p, id) => p.socket.write(Buffer.concat([headersFrame(id, OK_HEAD, { endHeaders: false }), ...Array.from({ length: 200 }, () => continuationFrame(id, Buffer.alloc(0)))])), ErrorCode.ENHANCE_YOUR_CALM, /more than 32 CONTINUATION frames/],
    ['a header block too large across CONTINUATION frames', (p, id) => p.socket.write(Buffer.concat([headersFrame(id, OK_HEAD, { endHeaders: false }), ...Array.from({ length: 10 }, () => continuationFrame(id, Buffer.alloc(16_000)))])), ErrorCode.ENHANCE_YOUR_CALM, /header block of more than/],
    ['a frame of another type inside a header block', (p, id) => p.socket.write(Buffer.concat([headersFrame(id, OK_HEAD, { endHeaders: false }), pingFrame()])), ErrorCode.PROTOCOL_ERROR, /inside a header block/],
    ['an HPACK index out of range', (p, id) => p.socket.write(headersFrame(id, Buffer.of(0x88, 0xbe))), ErrorCode.COMPRESSION_ERROR, /index 62 is beyond/],
    ['a connection WINDOW_UPDATE overflowing 2^31-1', (p) => p.socket.write(windowUpdateFrame(0, 0x7fffffff)), ErrorCode.FLOW_CONTROL_ERROR, /above 2\^31-1/],
    ['a connection WINDOW_UPDATE of 0', (p) => p.socket.write(windowUpdateFrame(0, 0)), ErrorCode.PROTOCOL_ERROR, /WINDOW_UPDATE of 0/],
    ['DATA with more padding than payload', (p, id) => p.socket.write(Buffer.concat([headersFrame(id, OK_HEAD), frame(FrameType.DATA, Flag.PADDED, id, Buffer.of(9, 1, 2))])), ErrorCode.PROTOCOL_ERROR, /9 bytes of padding/],
    ['HEADERS on a stream the client did not open', (p) => p.socket.write(headersFrame(2, OK_HEAD)), ErrorCode.PROTOCOL_ERROR, /stream 2, which we did not open/],
    ['DATA on stream 0', (p) => p.socket.write(dataFrame(0, Buffer.from('x'))), ErrorCode.PROTOCOL_ERROR, /DATA on stream 0/],
    ['PUSH_PROMISE although push is disabled', (p, id) => p.socket.write(frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, id, Buffer.concat([Buffer.of(0, 0, 0, 2), OK_HEAD]))), ErrorCode.PROTOCOL_ERROR, /PUSH_PROMISE/],
    ['SETTINGS_MAX_FRAME_SIZE below 16384', (p) => p.socket.write(settingsFrame([[Setting.MAX_FRAME_SIZE, 1000]])), ErrorCode.PROTOCOL_ERROR, /SETTINGS_MAX_FRAME_SIZE 1000/],
    ['SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1', (p) => p.socket.write(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 0x80000000]])), ErrorCode.FLOW_CONTROL_ERROR, /INITIAL_WINDOW_SIZE/],
    ['SETTINGS of 5 bytes', (p) => p.socket.write(frame(FrameType.SETTINGS, 0, 0, Buffer.alloc(5))), ErrorCode.FRAME_SIZE_ERROR, /SETTINGS of 5 bytes/],
  ];
  for (const [what, misbehave, code, message] of CONNECTION_ERRORS) {
    it(`${what}: GOAWAY with code ${code}, the request fails with ECONNRESET naming the violation`, async () => {
      const u = await upstream(onRequest(misbehave));
      const outcome = await send(pool(u.port));
      expect(outcome.error?.code).toBe('ECONNRESET');
      expect(outcome.error?.message).toMatch(message);
      await eventually(() => goawaySent(u.peers[0]!) === code, 2_000, `GOAWAY ${code} sent`);
    });
  }

  it('a first frame other than SETTINGS fails the waiting requests (PROTOCOL_ERROR), no hang', async () => {
    const u = await upstream(() => undefined, null);
    u.peers.length = 0;
    const p = pool(u.port);
    const pending = Promise.all([send(p), send(p)]);
    await eventually(() => u.peers.length === 1, 2_000, 'connected');
    u.peers[0]!.socket.write(pingFrame());
    for (const outcome of await pending) expect(outcome.error?.message).toMatch(/first frame is of type 6, not SETTINGS/);
  });

  it('GOAWAY mid-stream: streams up to last-stream-id finish, those above fail as refused (UND_ERR_SOCKET, safe to retry)', async () => {
    const seen: number[] = [];
    const u = await upstream(
      onRequest((peer, id) => {
        seen.push(id);
        if (seen.length < 3 || peer !== upstreams[0]!.peers[0]) return;
        // Three streams open (1, 3, 5): stream 1 was taken, 3 and 5 were not.
        peer.socket.write(Buffer.concat([goawayFrame(1, ErrorCode.NO_ERROR), headersFrame(1, OK_HEAD), dataFrame(1, Buffer.from('done'), true)]));
      }),
    );
    const p = pool(u.port);
    const outcomes = await Promise.all([send(p, { path: '/1' }), send(p, { path: '/3' }), send(p, { path: '/5' })]);
    expect(outcomes[0]).toMatchObject({ status: 200, body: 'done', error: null });
    for (const o of outcomes.slice(1)) {
      expect(o.error?.code).toBe('UND_ERR_SOCKET');
      expect(o.error?.message).toMatch(/refused the stream \(GOAWAY NO_ERROR \(0\), last stream 1\)/);
    }
    // The connection is not used again: the next request opens a new one.
    const next = send(p);
    await eventually(() => u.peers.length === 2, 2_000, 'a second connection');
    u.peers[1]!.socket.write(Buffer.concat([headersFrame(1, OK_HEAD), dataFrame(1, Buffer.from('new'), true)]));
    expect((await next).body).toBe('new');
  });

  it('RST_STREAM mid-body fails that request with ECONNRESET; other streams on the connection go on', async () => {
    const u = await upstream(
      onRequest((peer, id) => {
        if (id === 1) peer.socket.write(Buffer.concat([headersFrame(1, OK_HEAD), dataFrame(1, Buffer.from('part')), rstStreamFrame(1, ErrorCode.INTERNAL_ERROR)]));
        else peer.socket.write(Buffer.concat([headersFrame(id, OK_HEAD), dataFrame(id, Buffer.from('whole'), true)]));
      }),
    );
    const p = pool(u.port);
    const first = await send(p);
    expect(first.error?.code).toBe('ECONNRESET');
    expect(first.error?.message).toContain('INTERNAL_ERROR (2)');
    expect((await send(p)).body).toBe('whole');
    expect(u.peers).toHaveLength(1);
  });

  it('the upstream closing mid-response fails the requests in flight (UND_ERR_SOCKET), no hang', async () => {
    const u = await upstream(
      onRequest((peer, id) => {
        if (id === 3) peer.socket.end(Buffer.concat([headersFrame(1, OK_HEAD), dataFrame(1, Buffer.from('par'))]));
      }),
    );
    const p = pool(u.port);
    const outcomes = await Promise.all([send(p), send(p)]);
    for (const o of outcomes) {
      expect(o.error?.code).toBe('UND_ERR_SOCKET');
      expect(o.error?.message).toContain('other side closed');
    }
  });

  it('a paused handler gets no window back; DATA beyond the stream window resets that stream (FLOW_CONTROL_ERROR)', async () => {
    const u = await upstream(onRequest((peer, id) => peer.socket.write(Buffer.concat([headersFrame(id, OK_HEAD), ...Array.from({ length: 5 }, () => dataFrame(id, Buffer.alloc(16_000)))]))));
    const outcome = await send(pool(u.port), {}, true);
    // No WINDOW_UPDATE for the stream while its handler was paused.
    expect(u.peers[0]!.frames.filter((f) => f.type === FrameType.WINDOW_UPDATE && f.streamId !== 0)).toEqual([]);
    expect(outcome.error?.code).toBe('SWITCHYARD_UPSTREAM_FRAMING');
    expect(outcome.error?.message).toContain('more DATA than the stream window allows');
    await eventually(() => u.peers[0]!.frames.some((f) => f.type === FrameType.RST_STREAM && f.payload.readUInt32BE(0) === ErrorCode.FLOW_CONTROL_ERROR), 2_000, 'RST_STREAM FLOW_CONTROL_ERROR');
  });

  const MALFORMED: [string, Buffer, RegExp][] = [
    ['without :status', hpackBlock([['content-type', 'text/plain']]), /without :status/],
    ['with a request pseudo-header', hpackBlock([[':status', '200'], [':path', '/']]), /pseudo-header :path/],
    ['with an upper-case field name', hpackBlock([[':status', '200'], ['X-Up', '1']]), /upper case/],
    ['with a connection-specific field', hpackBlock([[':status', '200'], ['transfer-encoding', 'chunked']]), /connection-specific field transfer-encoding/],
    ['with :status "20x"', hpackBlock([[':status', '20x']]), /:status "20x"/],
    ['with :status "2e2" (a number, not three digits)', hpackBlock([[':status', '2e2']]), /:status "2e2"/],
    ['with CR LF in a field value', hpackBlock([[':status', '200'], ['x-up', 'a\r\nset-cookie: injected=1']]), /"x-up" whose value has the control character 0x0d/],
    ['with a NUL in a field value', hpackBlock([[':status', '200'], ['x-up', 'a\u0000b']]), /control character 0x00/],
    ['with a space in a field name', hpackBlock([[':status', '200'], ['x up', '1']]), /outside RFC 9110 tchar/],
    ['with an empty field name', hpackBlock([[':status', '200'], ['', '1']]), /empty name/],
    ['with a value ending in white space', hpackBlock([[':status', '200'], ['x-up', '1 ']]), /starts or ends with white space/],
  ];
  for (const [what, block, message] of MALFORMED) {
    it(`a response ${what} is malformed: the stream is reset and the request fails (upstream_bad_response)`, async () => {
      const u = await upstream(onRequest((peer, id) => peer.socket.write(headersFrame(id, block, { endStream: true }))));
      const outcome = await send(pool(u.port));
      expect(outcome.error?.message).toMatch(message);
      expect(outcome.error?.code).toBe('SWITCHYARD_UPSTREAM_FRAMING');
    });
  }

  it('trailers are checked as the head is: a bare LF in a trailer value is malformed (upstream_bad_response)', async () => {
    const u = await upstream(
      onRequest((peer, id) =>
        peer.socket.write(
          Buffer.concat([headersFrame(id, OK_HEAD), dataFrame(id, Buffer.from('body')), headersFrame(id, hpackBlock([['grpc-message', 'a\nb']]), { endStream: true })]),
        ),
      ),
    );
    const outcome = await send(pool(u.port));
    expect(outcome.error?.code).toBe('SWITCHYARD_UPSTREAM_FRAMING');
    expect(outcome.error?.message).toMatch(/"grpc-message" whose value has the control character 0x0a/);
  });

  it('a field value with HTAB, a space, obs-text and punctuation inside is accepted (not malformed)', async () => {
    const value = 'a\tb \u00e9 ;,="x"';
    const u = await upstream(onRequest((peer, id) => peer.socket.write(headersFrame(id, hpackBlock([[':status', '200'], ['x-up', value]]), { endStream: true }))));
    const outcome = await send(pool(u.port));
    expect(outcome.error).toBeNull();
    expect(outcome.status).toBe(200);
  });

  const LENGTHS: [string, (id: number) => Buffer, RegExp][] = [
    ['shorter than its Content-Length', (id) => Buffer.concat([headersFrame(id, hpackBlock([[':status', '200'], ['content-length', '10']])), dataFrame(id, Buffer.from('short'), true)]), /5 bytes of data after Content-Length 10/],
    ['longer than its Content-Length', (id) => Buffer.concat([headersFrame(id, hpackBlock([[':status', '200'], ['content-length', '2']])), dataFrame(id, Buffer.from('longer'))]), /6 or more bytes of data after Content-Length 2/],
    ['with an invalid Content-Length', (id) => headersFrame(id, hpackBlock([[':status', '200'], ['content-length', '1e3']]), { endStream: true }), /invalid Content-Length "1e3"/],
    ['ending with no data after a Content-Length', (id) => headersFrame(id, hpackBlock([[':status', '200'], ['content-length', '3']]), { endStream: true }), /no data after Content-Length 3/],
  ];
  for (const [what, answer, message] of LENGTHS) {
    it(`a response ${what} is malformed (RFC 9113 §8.1.1): upstream_bad_response`, async () => {
      const u = await upstream(onRequest((peer, id) => peer.socket.write(answer(id))));
      const outcome = await send(pool(u.port));
      expect(outcome.error?.message).toMatch(message);
      expect(outcome.error?.code).toBe('SWITCHYARD_UPSTREAM_FRAMING');
    });
  }

  it('a HEAD response and a 304 may announce a Content-Length they do not carry', async () => {
    const u = await upstream(onRequest((peer, id) => peer.socket.write(headersFrame(id, hpackBlock([[':status', id === 1 ? '200' : '304'], ['content-length', '100']]), { endStream: true }))));
    const p = pool(u.port);
    expect(await send(p, { method: 'HEAD' })).toMatchObject({ status: 200, error: null });
    expect(await send(p)).toMatchObject({ status: 304, error: null });
  });

  it('a TLS upstream that does not agree to h2 by ALPN: a clear error naming ALPN, no hang', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-h2codec-'));
    try {
      const ca = await createTestCa(dir);
      const leaf = await readPair(await ca.issue('upstream', 'upstream.test', ['DNS:upstream.test']));
      // A TLS server with no ALPN: it never selects h2.
      const server = createTlsServer({ key: leaf.key, cert: leaf.cert }, (socket) => socket.on('error', () => undefined));
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      const port = (server.address() as AddressInfo).port;
      const p = new Http2CodecPool(`https://127.0.0.1:${port}`, { connections: 1, connectTimeout: 2_000, keepAliveTimeout: 5_000, maxConcurrentStreams: 100, tls: { ca: await readFile(ca.cert), rejectUnauthorized: true }, servername: 'upstream.test' });
      pools.push(p);
      const outcome = await send(p);
      expect(outcome.error?.message).toContain('did not agree to HTTP/2 by ALPN');
      await new Promise<void>((r) => server.close(() => r()));
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('a connection that became ready after its queued request went elsewhere closes after keepAliveTimeout', async () => {
    const u = await upstream((peer, f) => {
      if (f.type === FrameType.HEADERS) peer.socket.write(Buffer.concat([headersFrame(f.streamId, OK_HEAD), dataFrame(f.streamId, Buffer.from(String(f.streamId)), true)]));
    }, null);
    const p = pool(u.port, { connections: 2, keepAliveTimeout: 200 });
    // First connection: one stream at a time.
    const first = send(p, { path: '/a' });
    await eventually(() => u.peers.length === 1, 2_000, 'first connection');
    u.peers[0]!.socket.write(settingsFrame([[Setting.MAX_CONCURRENT_STREAMS, 1]]));
    expect((await first).body).toBe('1');
    // Two requests: the second is queued and a second connection is opened for it, but the
    // first connection frees up before the second one is ready and takes it.
    const second = send(p, { path: '/b' });
    const third = send(p, { path: '/c' });
    await eventually(() => u.peers.length === 2, 2_000, 'second connection');
    expect((await second).body).toBe('3');
    expect((await third).body).toBe('5');
    u.peers[1]!.socket.write(settingsFrame([]));
    await eventually(() => u.peers[1]!.socket.destroyed || u.peers[1]!.socket.readableEnded, 3_000, 'the unused connection closed');
    expect(u.peers[1]!.frames.filter((f) => f.type === FrameType.HEADERS)).toEqual([]);
  });

  it('an upstream that accepts the connection but never sends SETTINGS: UND_ERR_CONNECT_TIMEOUT', async () => {
    const u = await upstream(() => undefined, null);
    const outcome = await send(pool(u.port, { connectTimeout: 200 }));
    expect(outcome.error?.code).toBe('UND_ERR_CONNECT_TIMEOUT');
    expect(outcome.error?.message).toContain('no HTTP/2 connection within 200 ms');
  });

  it('a response header list over 64 KiB fails with UND_ERR_HEADERS_OVERFLOW; the connection stays usable', async () => {
    const big = 'v'.repeat(15_000);
    const huge = hpackBlock([[':status', '200'], ...Array.from({ length: 5 }, (_, i) => [`x-big-${i}`, big] as [string, string])]);
    const u = await upstream(
      onRequest((peer, id) => {
        if (id === 1) peer.socket.write(Buffer.concat([headersFrame(1, huge.subarray(0, 16_000), { endHeaders: false }), ...[1, 2, 3, 4].map((k) => continuationFrame(1, huge.subarray(16_000 * k, 16_000 * (k + 1)), k === 4))]));
        else peer.socket.write(headersFrame(id, OK_HEAD, { endStream: true }));
      }),
    );
    const p = pool(u.port);
    expect((await send(p)).error?.code).toBe('UND_ERR_HEADERS_OVERFLOW');
    expect((await send(p)).status).toBe(200);
  });

  it('answers PING, ignores PRIORITY and unknown frame types, takes padded DATA and trailers', async () => {
    const u = await upstream(
      onRequest((peer, id) =>
        peer.socket.write(
          Buffer.concat([
            pingFrame(Buffer.from('12345678')),
            frame(0xfa, 0, 0, Buffer.from('unknown')),
            frame(FrameType.PRIORITY, 0, id, Buffer.alloc(5)),
            headersFrame(id, OK_HEAD),
            frame(FrameType.DATA, Flag.PADDED, id, Buffer.concat([Buffer.of(3), Buffer.from('padded'), Buffer.alloc(3)])),
            headersFrame(id, hpackBlock([['grpc-status', '0']]), { endStream: true }),
          ]),
        ),
      ),
    );
    const outcome = await send(pool(u.port));
    expect(outcome).toMatchObject({ status: 200, body: 'padded', error: null, trailers: { 'grpc-status': '0' } });
    await eventually(() => u.peers[0]!.frames.some((f) => f.type === FrameType.PING), 2_000, 'PING ACK');
    const ack = u.peers[0]!.frames.find((f) => f.type === FrameType.PING);
    expect(ack?.flags).toBe(Flag.ACK);
    expect(ack?.payload.toString()).toBe('12345678');
  });

  it('honours SETTINGS_MAX_CONCURRENT_STREAMS and an INITIAL_WINDOW_SIZE change mid-connection for the request body', async () => {
    let open = 0;
    let most = 0;
    const received = new Map<number, number>();
    const u = await upstream(
      (peer, f) => {
        if (f.type === FrameType.HEADERS) {
          open++;
          most = Math.max(most, open);
          if (f.streamId === 1) peer.socket.write(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 10]]));
        }
        if (f.type === FrameType.DATA) {
          received.set(f.streamId, (received.get(f.streamId) ?? 0) + f.payload.length);
          if ((f.flags & Flag.END_STREAM) !== 0) {
            open--;
            peer.socket.write(Buffer.concat([headersFrame(f.streamId, OK_HEAD), dataFrame(f.streamId, Buffer.from(String(received.get(f.streamId))), true)]));
          } else peer.socket.write(windowUpdateFrame(f.streamId, f.payload.length));
        }
      },
      [[Setting.MAX_CONCURRENT_STREAMS, 1], [Setting.INITIAL_WINDOW_SIZE, 100]],
    );
    const p = pool(u.port, { connections: 1 });
    const body = Buffer.alloc(1_000, 'b');
    const outcomes = await Promise.all([send(p, { method: 'POST', body }), send(p, { method: 'POST', body: Readable.from([body, body]) })]);
    expect(outcomes.map((o) => o.body)).toEqual(['1000', '2000']);
    expect(most).toBe(1);
    // After the window shrank to 10, no DATA frame was larger than the window granted.
    const dataSizes = u.peers[0]!.frames.filter((f) => f.type === FrameType.DATA && f.payload.length > 0).map((f) => f.payload.length);
    expect(Math.max(...dataSizes.slice(1))).toBeLessThanOrEqual(1_000);
  });

  it('request trailers go after every DATA frame as HEADERS with END_STREAM, also when the body waited for stream window', async () => {
    const u = await upstream(
      (peer, f) => {
        if (f.type === FrameType.DATA && f.payload.length > 0) peer.socket.write(windowUpdateFrame(f.streamId, f.payload.length));
        if (f.streamId !== 0 && (f.type === FrameType.DATA || f.type === FrameType.HEADERS) && (f.flags & Flag.END_STREAM) !== 0) peer.socket.write(headersFrame(f.streamId, OK_HEAD, { endStream: true }));
      },
      [[Setting.INITIAL_WINDOW_SIZE, 100]],
    );
    const p = pool(u.port);
    const trailers = { requestTrailers: ['x-checksum', 'abc', 'x-b', 'two words'] };
    const body = Buffer.alloc(1_000, 'b');
    const outcomes = await Promise.all([
      send(p, { method: 'POST', body, trailers } as Partial<Dispatcher.DispatchOptions>),
      send(p, { method: 'POST', body: Readable.from([body, body]), trailers } as Partial<Dispatcher.DispatchOptions>),
      send(p, { method: 'POST', body: Readable.from([body]), trailers: { requestTrailers: null } } as Partial<Dispatcher.DispatchOptions>),
    ]);
    expect(outcomes.map((o) => o.status)).toEqual([200, 200, 200]);
    const frames = u.peers[0]!.frames;
    for (const [id, bytes] of [[1, 1_000], [3, 2_000]] as const) {
      const mine = frames.filter((f) => f.streamId === id && (f.type === FrameType.DATA || f.type === FrameType.HEADERS));
      expect(mine.filter((f) => f.type === FrameType.DATA).reduce((n, f) => n + f.payload.length, 0)).toBe(bytes);
      expect(mine.every((f, i) => (i === mine.length - 1) === ((f.flags & Flag.END_STREAM) !== 0))).toBe(true);
      const last = mine[mine.length - 1]!;
      expect(last.type).toBe(FrameType.HEADERS);
      const fields: string[] = [];
      new HpackDecoder().decode(last.payload, 0, last.payload.length, fields, 1 << 16);
      expect(fields).toEqual(['x-checksum', 'abc', 'x-b', 'two words']);
    }
    // No trailers: END_STREAM on the last DATA frame, one HEADERS (the request's) only.
    const plain = frames.filter((f) => f.streamId === 5 && (f.type === FrameType.DATA || f.type === FrameType.HEADERS));
    expect(plain.filter((f) => f.type === FrameType.HEADERS)).toHaveLength(1);
    expect(plain[plain.length - 1]!.type).toBe(FrameType.DATA);
    expect(plain[plain.length - 1]!.flags & Flag.END_STREAM).toBe(Flag.END_STREAM);
  });

  it('sends exactly: preface, SETTINGS (push off, header list size), connection WINDOW_UPDATE, then HEADERS with pseudo-headers first and no hop-by-hop fields', async () => {
    const u = await upstream(onRequest((peer, id) => peer.socket.write(headersFrame(id, OK_HEAD, { endStream: true }))));
    const outcome = await send(pool(u.port), {
      method: 'GET',
      path: '/a/b?c=d',
      headers: ['Host', 'svc.test', 'Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'Transfer-Encoding', 'chunked', 'Upgrade', 'websocket', 'TE', 'trailers, deflate', 'Accept', 'text/html', 'X-Request-Id', 'abc'],
    });
    expect(outcome.status).toBe(200);
    const peer = u.peers[0]!;
    expect(peer.prefaceOk).toBe(true);
    const bytes = Buffer.concat(peer.bytes);
    const expectedHead =
      '505249202a20485454502f322e300d0a0d0a534d0d0a0d0a' + // preface
      '00000c040000000000' + '000200000000' + '000600010000' + // SETTINGS: ENABLE_PUSH 0, MAX_HEADER_LIST_SIZE 65536
      '000004080000000000' + '00ff0001'; // WINDOW_UPDATE stream 0: +16711681 (65535 to 16 MiB)
    expect(bytes.subarray(0, expectedHead.length / 2).toString('hex')).toBe(expectedHead);
    const headers = peer.frames.find((f) => f.type === FrameType.HEADERS)!;
    expect(headers.flags).toBe(Flag.END_HEADERS | Flag.END_STREAM);
    expect(headers.streamId).toBe(1);
    const fields: string[] = [];
    const decoder = new HpackDecoder();
    decoder.decode(headers.payload, 0, headers.payload.length, fields, 1 << 20);
    expect(fields).toEqual([':method', 'GET', ':scheme', 'http', ':authority', 'svc.test', ':path', '/a/b?c=d', 'te', 'trailers', 'accept', 'text/html', 'x-request-id', 'abc']);
    // Literals without indexing only: the upstream's dynamic table stays empty.
    expect(decoder.dynamicEntries).toEqual([]);
    expect(headers.payload.toString('hex')).toBe(
      '8286' + '0108' + Buffer.from('svc.test').toString('hex') + '0408' + Buffer.from('/a/b?c=d').toString('hex') + '0002746508747261696c657273' + '0f0409' + Buffer.from('text/html').toString('hex') + '000c' + Buffer.from('x-request-id').toString('hex') + '03616263',
    );
  });
});

/** A proxy routing every path to one h2c service at `port`, on the HTTP/2 client codec. */
function codecProxyFor(port: number): ReturnType<typeof startProxy> {
  return startProxy({
    services: { bad: [{ port }] },
    config: { services: { bad: { protocol: 'h2c', http2Client: 'switchyard' } }, routes: [{ name: 'bad', match: { path: '/' }, service: 'bad' }] },
  });
}

describe('Switchyard HTTP/2 client codec behind the proxy (services.<name>.http2Client: switchyard)', () => {
  it('an upstream protocol violation reaches the client as a clear 502, never a hang', async () => {
    const u = await upstream(onRequest((peer, id) => peer.socket.write(headersFrame(id, Buffer.of(0x88, 0xbe)))));
    const proxy = await codecProxyFor(u.port);
    try {
      const res = await fetchText(`http://127.0.0.1:${proxy.port}/x`);
      expect(res.status).toBe(502);
      expect(res.headers['x-switchyard-error']).toBe('upstream_reset');
    } finally {
      await proxy.close();
    }
  });

  it('a CR LF in an upstream field value never reaches an HTTP/1.1 client as a field of its own: 502 upstream_bad_response', async () => {
    const u = await upstream(onRequest((peer, id) => peer.socket.write(headersFrame(id, hpackBlock([[':status', '200'], ['x-up', 'a\r\nset-cookie: injected=1']]), { endStream: true }))));
    const proxy = await codecProxyFor(u.port);
    try {
      const res = await fetchText(`http://127.0.0.1:${proxy.port}/x`);
      expect(res.status).toBe(502);
      expect(res.headers['x-switchyard-error']).toBe('upstream_bad_response');
      expect(res.headers['set-cookie']).toBeUndefined();
      expect(res.headers['x-up']).toBeUndefined();
    } finally {
      await proxy.close();
    }
  });

  it('a request refused by GOAWAY (above last-stream-id) is retried on another instance', async () => {
    const refusing = await upstream(onRequest((peer) => peer.socket.write(goawayFrame(0, ErrorCode.NO_ERROR))));
    const good = await startHttp2Upstream('good');
    const proxy = await startProxy({
      services: { svc: [{ port: refusing.port }, { port: good.port }] },
      config: { services: { svc: { protocol: 'h2c', http2Client: 'switchyard' } }, routes: [{ name: 'svc', match: { path: '/' }, service: 'svc' }] },
    });
    try {
      for (let i = 0; i < 4; i++) {
        const res = await fetchText(`http://127.0.0.1:${proxy.port}/r${i}`);
        expect(res.status).toBe(200);
        expect(res.headers['x-instance']).toBe('good');
      }
      expect(refusing.peers.length).toBeGreaterThan(0);
    } finally {
      await proxy.close();
      await good.close();
    }
  });

  for (const http2Client of ['switchyard', 'node'] as const) {
    it(`a chunked body over maxBodySize to an HTTP/2 upstream (http2Client: ${http2Client}): 413, no unhandled error from the refused body`, async () => {
      const u = await upstream(() => undefined);
      const proxy = await startProxy({
        services: { svc: [{ port: u.port }] },
        config: { services: { svc: { protocol: 'h2c', http2Client } }, routes: [{ name: 'svc', match: { path: '/' }, service: 'svc', maxBodySize: '1kib' }] },
      });
      try {
        // The body stream is destroyed with the error while its request waits for a connection
        // or after the request stopped reading it: either way handled (an unhandled 'error'
        // would end the process), and the proxy goes on serving.
        for (let i = 0; i < 2; i++) {
          const res = await fetchText(`http://127.0.0.1:${proxy.port}/big`, { method: 'POST', headers: { 'transfer-encoding': 'chunked' }, body: 'x'.repeat(4_096) });
          expect(`request ${i}: ${res.status}`).toBe(`request ${i}: 413`);
          expect(res.headers['x-switchyard-error']).toBe('body_too_large');
        }
      } finally {
        await proxy.close();
      }
    });
  }

  it('the upstream receives pseudo-headers from the request and no hop-by-hop fields', async () => {
    const good = await startHttp2Upstream('good');
    const proxy = await startProxy({
      services: { svc: [{ port: good.port }] },
      config: { services: { svc: { protocol: 'h2c', http2Client: 'switchyard' } }, routes: [{ name: 'svc', match: { path: '/' }, service: 'svc' }] },
    });
    try {
      const res = await fetchText(`http://127.0.0.1:${proxy.port}/p?q=1`, {
        method: 'POST',
        headers: { host: 'svc.test', connection: 'keep-alive, x-hop', 'keep-alive': 'timeout=5', 'x-hop': 'drop', te: 'trailers', 'proxy-connection': 'x', 'x-keep': 'yes' },
        body: 'hello',
      });
      expect(res.status).toBe(200);
      const echo = JSON.parse(res.body) as Http2EchoReply;
      expect(echo).toMatchObject({ httpVersion: '2.0', method: 'POST', url: '/p?q=1', bodyBytes: 5 });
      expect(echo.headers[':authority']).toBe('svc.test');
      expect(echo.headers[':scheme']).toBe('http');
      expect(echo.headers['x-keep']).toBe('yes');
      for (const hop of ['connection', 'keep-alive', 'x-hop', 'proxy-connection', 'transfer-encoding', 'upgrade', 'host']) expect(echo.headers[hop]).toBeUndefined();
    } finally {
      await proxy.close();
      await good.close();
    }
  });
});

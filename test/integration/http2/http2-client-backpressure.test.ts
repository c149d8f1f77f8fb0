import { request as httpRequest } from 'node:http';
import { Socket } from 'node:net';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { Http2CodecPool } from '../../../src/upstream/http2-codec-pool.js';
import { eventually, startProxy } from '../../support/proxy-harness.js';
import { dataFrame, Flag, FrameType, headersFrame, hpackBlock, Setting, windowUpdateFrame } from '../../support/raw-http2-client.js';
import { startRawHttp2Upstream, type RawHttp2Peer, type RawHttp2Upstream } from '../../support/raw-http2-upstream.js';

/**
 * The HTTP/2 client codec against an upstream that stops reading while granting every
 * flow-control window there is: request bodies stop when the socket is full (write returned
 * false) and go on when it drains, so what the proxy holds for the connection stays bounded
 * (counted in bytes: the socket's writableLength, the body stream's buffer), and the upload
 * completes once the upstream reads again. Streams sharing the socket take turns.
 */

const CHUNK = Buffer.alloc(64 * 1024, 'u');
/** More than the kernel's socket buffers hold on loopback (tcp_wmem max 4 MiB here), so the stall reaches the proxy. */
const UPLOAD = 24 * 1024 * 1024;
/**
 * What the proxy may hold for one connection's socket: its high-water mark (node's default for a
 * socket: 16 KiB on Node 20, 64 KiB from Node 22 on), one DATA frame (16 KiB and its header) and
 * the small frames written regardless (HEADERS, SETTINGS ACK, WINDOW_UPDATE), for which 32 KiB
 * is left. Without the socket's backpressure it grows to what the windows allow (2 GiB).
 */
const SOCKET_BOUND = new Socket().writableHighWaterMark + 48 * 1024;
const MAX_WINDOW = 0x7fffffff;

/** A body of `total` bytes made as it is read; `pulled` counts what the consumer took. */
class CountingBody extends Readable {
  pulled = 0;
  constructor(private readonly total: number) {
    super({ highWaterMark: 64 * 1024 });
  }

  override _read(): void {
    if (this.pulled >= this.total) {
      this.push(null);
      return;
    }
    const n = Math.min(CHUNK.length, this.total - this.pulled);
    this.pulled += n;
    this.push(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n));
  }
}

/**
 * A raw upstream that grants the largest windows, stops reading (socket paused) once `stallAfter`
 * request HEADERS arrived, counts DATA bytes per stream and answers 200 with the count when a
 * stream's body ends. Keeps no frame payloads (the uploads are large).
 */
interface StallingUpstream {
  upstream: RawHttp2Upstream;
  /** The peer whose socket was paused, once it was. */
  stalled: RawHttp2Peer | null;
  /** DATA bytes received per stream. */
  received: Map<number, number>;
  /** Stream ids in the order their DATA frames arrived (one entry a frame). */
  order: number[];
}

async function startStallingUpstream(stallAfter: number): Promise<StallingUpstream> {
  const state: StallingUpstream = { upstream: null as unknown as RawHttp2Upstream, stalled: null, received: new Map(), order: [] };
  let heads = 0;
  state.upstream = await startRawHttp2Upstream(
    (peer, f) => {
      const length = f.payload.length;
      // Nothing of the bytes is kept (the uploads are large).
      peer.frames.length = 0;
      peer.bytes.length = 0;
      if (f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) === 0) peer.socket.write(windowUpdateFrame(0, MAX_WINDOW - 65_535));
      if (f.type === FrameType.HEADERS && ++heads === stallAfter) {
        peer.socket.pause();
        state.stalled = peer;
      }
      if (f.type === FrameType.DATA) {
        state.order.push(f.streamId);
        state.received.set(f.streamId, (state.received.get(f.streamId) ?? 0) + length);
      }
      if (f.streamId !== 0 && (f.type === FrameType.DATA || f.type === FrameType.HEADERS) && (f.flags & Flag.END_STREAM) !== 0) {
        peer.socket.write(Buffer.concat([headersFrame(f.streamId, hpackBlock([[':status', '200']])), dataFrame(f.streamId, Buffer.from(String(state.received.get(f.streamId) ?? 0)), true)]));
      }
    },
    [[Setting.INITIAL_WINDOW_SIZE, MAX_WINDOW]],
  );
  return state;
}

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of closers.splice(0).reverse()) await close();
});

function upload(pool: Http2CodecPool, body: Readable, path: string): Promise<{ status: number; body: string; error: Error | null }> {
  return new Promise((resolve) => {
    const out = { status: 0, body: '', error: null as Error | null };
    pool.dispatch({ method: 'POST', path, headers: ['host', 'upstream.test'], body } as Dispatcher.DispatchOptions, {
      onConnect() {},
      onHeaders(status: number) {
        out.status = status;
        return true;
      },
      onData(chunk: Buffer) {
        out.body += chunk.toString();
        return true;
      },
      onComplete() {
        resolve(out);
      },
      onError(err: Error) {
        out.error = err;
        resolve(out);
      },
    });
  });
}

/** Samples `check` over a few event-loop turns and timer ticks while the upstream stays stalled. */
async function holdsFor(rounds: number, check: () => void): Promise<void> {
  for (let i = 0; i < rounds; i++) {
    check();
    await new Promise((r) => setTimeout(r, 20));
  }
  check();
}

describe('HTTP/2 client codec: request bodies under socket backpressure', () => {
  it('a slow upstream with open windows: the body stops while the socket is full, memory stays bounded, the upload completes once it reads', async () => {
    const state = await startStallingUpstream(1);
    closers.push(() => state.upstream.close());
    const pool = new Http2CodecPool(`http://127.0.0.1:${state.upstream.port}`, { connections: 1, connectTimeout: 2_000, keepAliveTimeout: 5_000, maxConcurrentStreams: 100, tls: null });
    closers.push(() => pool.close());
    const body = new CountingBody(UPLOAD);
    const done = upload(pool, body, '/big');
    await eventually(() => state.stalled !== null && body.isPaused() && pool.writeBuffered > 0, 10_000, 'the body paused behind a full socket');
    await holdsFor(10, () => {
      expect(pool.writeBuffered).toBeLessThan(SOCKET_BOUND);
      expect(body.readableLength).toBeLessThanOrEqual(body.readableHighWaterMark);
      expect(body.pulled).toBeLessThan(UPLOAD);
    });
    state.stalled!.socket.resume();
    const outcome = await done;
    expect(outcome).toMatchObject({ status: 200, body: String(UPLOAD), error: null });
    expect(state.received.get(1)).toBe(UPLOAD);
  });

  it('streams sharing the stalled socket take turns when it drains: neither finishes before the other has sent most of its body', async () => {
    const state = await startStallingUpstream(2);
    closers.push(() => state.upstream.close());
    const pool = new Http2CodecPool(`http://127.0.0.1:${state.upstream.port}`, { connections: 1, connectTimeout: 2_000, keepAliveTimeout: 5_000, maxConcurrentStreams: 100, tls: null });
    closers.push(() => pool.close());
    const size = 12 * 1024 * 1024;
    const bodies = [new CountingBody(size), new CountingBody(size)];
    const done = Promise.all([upload(pool, bodies[0]!, '/a'), upload(pool, bodies[1]!, '/b')]);
    await eventually(() => state.stalled !== null && bodies.every((b) => b.isPaused()) && pool.writeBuffered > 0, 10_000, 'both bodies paused behind a full socket');
    expect(pool.writeBuffered).toBeLessThan(SOCKET_BOUND);
    state.stalled!.socket.resume();
    const outcomes = await done;
    expect(outcomes.map((o) => o.body)).toEqual([String(size), String(size)]);
    // When the first stream's last DATA frame arrived, the other had sent at least half of its frames.
    const order = state.order;
    const framesOf = (id: number) => order.filter((s) => s === id).length;
    const firstDone = order.lastIndexOf(order[order.length - 1] === 1 ? 3 : 1);
    const other = order[order.length - 1]!;
    const otherBefore = order.slice(0, firstDone).filter((s) => s === other).length;
    expect(otherBefore).toBeGreaterThan(framesOf(other) / 2);
  });
});

describe('HTTP/2 client codec behind the proxy: a large upload to a slow h2c upstream', () => {
  it('the proxy stops reading the client while the upstream socket is full; bounded; completes once the upstream reads', async () => {
    const state = await startStallingUpstream(1);
    closers.push(() => state.upstream.close());
    const proxy = await startProxy({
      services: { svc: [{ port: state.upstream.port }] },
      config: { services: { svc: { protocol: 'h2c', http2Client: 'switchyard' } }, routes: [{ name: 'svc', match: { path: '/' }, service: 'svc', maxBodySize: '64mib' }] },
    });
    closers.push(() => proxy.close());
    const body = new CountingBody(UPLOAD);
    const response = new Promise<{ status: number; text: string }>((resolve, reject) => {
      const req = httpRequest({ host: '127.0.0.1', port: proxy.port, method: 'POST', path: '/up', headers: { 'transfer-encoding': 'chunked' } }, (res) => {
        let text = '';
        res.setEncoding('latin1');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
      });
      req.on('error', reject);
      body.pipe(req);
    });
    const endpoint = proxy.app.upstreams.get('svc').endpoints[0]!;
    await eventually(() => state.stalled !== null && body.isPaused() && (endpoint.pool as Http2CodecPool).writeBuffered > 0, 10_000, 'the client upload held behind the full upstream socket');
    const pool = endpoint.pool as Http2CodecPool;
    await holdsFor(10, () => {
      expect(pool.writeBuffered).toBeLessThan(SOCKET_BOUND);
      expect(body.pulled).toBeLessThan(UPLOAD);
    });
    state.stalled!.socket.resume();
    const res = await response;
    expect(res).toEqual({ status: 200, text: String(UPLOAD) });
    expect(state.received.get(1)).toBe(UPLOAD);
  });
});

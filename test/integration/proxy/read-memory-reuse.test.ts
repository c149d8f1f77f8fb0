import { connect as http2Connect, type ClientHttp2Session } from 'node:http2';
import { Agent, request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { connect as netConnect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readLease } from '../../../src/codec/read-lease.js';
import { closeHttp2 } from '../../support/http2-client.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startRecordingUpstream, type RecordedConnection, type RecordingUpstream } from '../../support/recording-upstream.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';

/**
 * The HTTP/1.1 upstream reader reads into the same memory again once the client socket took a
 * body chunk's bytes (src/codec/read-lease.ts). These tests make that reuse happen while some
 * chunks are still held (a slow HTTP/1.1 client's queued writes, an HTTP/2 stream waiting for
 * flow-control window, a request body on its way) and check every byte each client gets: a
 * chunk read over while still held would show another response's bytes.
 */

const KiB = 1024;
const MiB = 1024 * KiB;

/** The bytes of response `seed`: different for every seed and offset, so a mix-up shows. */
function pattern(seed: number, size: number): Buffer {
  const out = Buffer.allocUnsafe(size);
  for (let i = 0; i < size; i++) out[i] = (i * 31 + (i >>> 9) + seed * 101) & 255;
  return out;
}

/**
 * An upload's bytes: the pattern without CR, so no "\r\n\r\n" in a body makes the recording
 * upstream (which knows heads, not bodies) see a head in it.
 */
function uploadPattern(seed: number, size: number): Buffer {
  const out = pattern(seed, size);
  for (let i = 0; i < size; i++) if (out[i] === 13) out[i] = 12;
  return out;
}

/** Index of the first differing byte, or -1 (a 4 MiB toEqual diff would be unreadable). */
function firstDifference(a: Buffer, b: Buffer): number {
  if (a.equals(b)) return -1;
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/** /pattern/<seed>/<size>: the pattern, written in pieces of uneven sizes so reads cut it anywhere. */
function upstreamHandler(req: IncomingMessage, res: ServerResponse): void {
  const [, kind, seedText, sizeText] = req.url!.split('/');
  if (kind !== 'pattern') {
    res.writeHead(404).end();
    return;
  }
  const body = pattern(Number(seedText), Number(sizeText));
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': body.length });
  let at = 0;
  let piece = 0;
  const pump = (): void => {
    while (at < body.length) {
      const n = Math.min(body.length - at, [65_536, 1_000, 70_001, 17, 131_072, 4_093][piece++ % 6]!);
      const ok = res.write(body.subarray(at, at + n));
      at += n;
      if (!ok) {
        res.once('drain', pump);
        return;
      }
    }
    res.end();
  };
  pump();
}

/** One GET through the proxy over a keep-alive agent; the whole body. */
function get(port: number, agent: Agent, path: string): Promise<{ status: number; body: Buffer }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: '127.0.0.1', port, path, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end();
  });
}

/** `count` GETs of about `base` bytes with seeds from `firstSeed`, `parallel` at a time; each body checked. */
async function fastClients(port: number, firstSeed: number, count: number, parallel: number, base = 64 * KiB): Promise<void> {
  const agent = new Agent({ keepAlive: true, maxSockets: parallel });
  try {
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const seed = firstSeed + next++;
        const size = base + (seed % 7) * 1_111;
        const r = await get(port, agent, `/pattern/${seed}/${size}`);
        expect(r.status).toBe(200);
        expect(firstDifference(r.body, pattern(seed, size)), `response ${seed}`).toBe(-1);
      }
    };
    await Promise.all(Array.from({ length: parallel }, worker));
  } finally {
    agent.destroy();
  }
}

/** A raw HTTP/1.1 GET whose response the client does not read until `release` resolves. */
async function slowGet(port: number, path: string, release: Promise<void>): Promise<{ head: string; body: Buffer }> {
  const socket = netConnect(port, '127.0.0.1');
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  socket.write(`GET ${path} HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n`);
  socket.pause();
  await release;
  const chunks: Buffer[] = [];
  socket.on('data', (c: Buffer) => chunks.push(c));
  socket.resume();
  await new Promise<void>((resolve, reject) => socket.once('end', resolve).once('error', reject));
  const all = Buffer.concat(chunks);
  const headEnd = all.indexOf('\r\n\r\n');
  return { head: all.subarray(0, headEnd).toString('latin1'), body: all.subarray(headEnd + 4) };
}

describe('read memory reused under held chunks (HTTP/1.1 upstreams)', () => {
  let upstream: TestUpstream;
  let proxy: ProxyHarness;

  beforeAll(async () => {
    upstream = await startUpstream('pattern', upstreamHandler);
    proxy = await startProxy({
      config: {
        listeners: [{ name: 'both', address: '127.0.0.1', port: 0, protocols: ['http1', 'h2c'] }],
        routes: [{ name: 'all', match: { path: '/' }, service: 'pattern' }],
      },
      services: { pattern: [{ port: upstream.port }] },
    });
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
  });

  it('gives a fast client\'s chunks back, so the next read goes to the same memory', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const r = await get(proxy.port, agent, `/pattern/9/${64 * KiB}`);
      expect(firstDifference(r.body, pattern(9, 64 * KiB))).toBe(-1);
    } finally {
      agent.destroy();
    }
    expect(readLease.read).toBeGreaterThan(0);
    if (process.env.SWITCHYARD_TEST_LISTENER_ENGINE === 'node') {
      // node:http's response never gives a chunk back: the memory is kept (read past, not over).
      expect(readLease.outstanding).toBeGreaterThan(0);
    } else {
      // Every chunk the last read lent was given back: the condition for reading over it.
      expect(readLease.outstanding).toBe(0);
    }
  });

  it('a client that does not read gets its 40 MiB byte-exact while 300 other responses reuse the memory', async () => {
    let release!: () => void;
    const released = new Promise<void>((r) => (release = r));
    const size = 40 * MiB;
    const slow = slowGet(proxy.port, `/pattern/1/${size}`, released);
    // The slow client's socket fills up and the proxy stops reading the upstream: wait until no
    // read has come for a while. The last read's chunk is then queued in the client socket.
    let reads = -1;
    for (let quiet = 0; quiet < 5; ) {
      await new Promise((r) => setTimeout(r, 100));
      quiet = readLease.read === reads ? quiet + 1 : 0;
      reads = readLease.read;
    }
    expect(readLease.outstanding).toBeGreaterThan(0);
    // Responses larger than the 256 KiB read buffer: their reads cover the whole of a slab, so
    // a read over the held chunk, wherever it lies, would show.
    await fastClients(proxy.port, 1_000, 100, 8, 300 * KiB);
    await fastClients(proxy.port, 1_100, 200, 8);
    release();
    const got = await slow;
    expect(got.head).toMatch(/^HTTP\/1\.1 200 /);
    expect(got.body.length).toBe(size);
    expect(firstDifference(got.body, pattern(1, size))).toBe(-1);
  });

  it('an HTTP/2 client with a 16 KiB window gets a 4 MiB body byte-exact while HTTP/1.1 clients are served', async () => {
    const session: ClientHttp2Session = http2Connect(proxy.url, { settings: { initialWindowSize: 16 * KiB } });
    try {
      const size = 4 * MiB;
      const stream = session.request({ ':method': 'GET', ':path': `/pattern/2/${size}` });
      stream.pause();
      const chunks: Buffer[] = [];
      const done = new Promise<number>((resolve, reject) => {
        stream.on('response', (h) => resolve(Number(h[':status'])));
        stream.on('error', reject);
      });
      const ended = new Promise<void>((resolve, reject) => {
        stream.on('data', (c: Buffer) => chunks.push(c));
        stream.on('end', resolve);
        stream.on('error', reject);
      });
      // Nothing read: nghttp2 holds DATA chunks for want of window while others reuse the memory.
      await fastClients(proxy.port, 2_000, 150, 4);
      // Read slowly: each turn gives the proxy a little window, with more fast clients between.
      for (let i = 0; i < 5; i++) {
        stream.resume();
        await new Promise((r) => setImmediate(r));
        stream.pause();
        await fastClients(proxy.port, 3_000 + i * 40, 40, 4);
      }
      stream.resume();
      expect(await done).toBe(200);
      await ended;
      const body = Buffer.concat(chunks);
      expect(body.length).toBe(size);
      expect(firstDifference(body, pattern(2, size))).toBe(-1);
    } finally {
      await closeHttp2(session);
    }
  });
});

describe('request bodies byte-exact to a raw upstream while responses reuse read memory', () => {
  let recording: RecordingUpstream;
  let upstream: TestUpstream;
  let proxy: ProxyHarness;

  /** Answers a recorded request once its whole Content-Length body arrived, echoing the body. */
  function echoWhenWhole(conn: RecordedConnection, head: string): void {
    const length = Number(/\r\ncontent-length: *(\d+)/i.exec(head)?.[1] ?? '0');
    const start = conn.received.indexOf(head) + head.length + 4;
    const check = (): void => {
      if (conn.received.length - start < length) {
        conn.socket.once('data', () => setImmediate(check));
        return;
      }
      const body = conn.received.slice(start, start + length);
      // One request per connection: the recording upstream would take the next head for body.
      conn.socket.write(`HTTP/1.1 200 OK\r\ncontent-type: application/octet-stream\r\ncontent-length: ${length}\r\nconnection: close\r\n\r\n`, 'latin1');
      conn.socket.end(body, 'latin1');
    };
    check();
  }

  beforeAll(async () => {
    recording = await startRecordingUpstream(echoWhenWhole);
    upstream = await startUpstream('pattern', upstreamHandler);
    proxy = await startProxy({
      config: {
        routes: [
          { name: 'upload', match: { path: '/upload' }, service: 'recorder' },
          { name: 'all', match: { path: '/' }, service: 'pattern' },
        ],
      },
      services: { recorder: [{ port: recording.port }], pattern: [{ port: upstream.port }] },
    });
  });

  afterAll(async () => {
    await proxy?.close();
    await upstream?.close();
    await recording?.close();
  });

  it('POST bodies of 64 KiB to 1 MiB reach the upstream and come back byte-exact', async () => {
    const sizes = [64 * KiB, 64 * KiB + 1, 200 * KiB, MiB];
    const posts = sizes.map(
      (size, i) =>
        new Promise<Buffer>((resolve, reject) => {
          const body = uploadPattern(500 + i, size);
          const req = httpRequest({ host: '127.0.0.1', port: proxy.port, method: 'POST', path: `/upload/${i}`, headers: { 'content-length': size } }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (c: Buffer) => chunks.push(c));
            res.on('end', () => resolve(Buffer.concat(chunks)));
          });
          req.on('error', reject);
          // In uneven pieces, so the proxy reads the body in many chunks.
          for (let at = 0; at < size; at += 40_000) req.write(body.subarray(at, Math.min(size, at + 40_000)));
          req.end();
        }),
    );
    const [echoed] = await Promise.all([Promise.all(posts), fastClients(proxy.port, 4_000, 100, 4)]);
    for (let i = 0; i < sizes.length; i++) expect(firstDifference(echoed[i]!, uploadPattern(500 + i, sizes[i]!)), `echo ${i}`).toBe(-1);
    // What the upstream received, byte for byte, after each head.
    await eventually(() => recording.connections.reduce((n, c) => n + c.heads.length, 0) === sizes.length, 5_000, 'all uploads recorded');
    for (const conn of recording.connections) {
      let at = 0;
      for (const head of conn.heads) {
        const match = /^POST \/upload\/(\d+) /.exec(head);
        expect(match, head).not.toBeNull();
        const i = Number(match![1]);
        const start = conn.received.indexOf(head, at) + head.length + 4;
        const got = Buffer.from(conn.received.slice(start, start + sizes[i]!), 'latin1');
        expect(firstDifference(got, uploadPattern(500 + i, sizes[i]!)), `upload ${i}`).toBe(-1);
        at = start + sizes[i]!;
      }
    }
  });
});

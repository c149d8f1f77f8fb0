import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { ConnectionSweep, Http1ServerConnection, type Http1ServerSettings } from '../../../src/codec/http1-server-connection.js';
import type { ServerStream } from '../../../src/codec/server-stream.js';
import { parseResponses } from '../../support/raw-http-client.js';

/**
 * The response write area (src/codec/response-write-area.ts) shared by every client connection:
 * heads and small bodies of many streams answered in one tick, slow clients whose writes queue,
 * and chunked and large bodies, read back as raw bytes and compared byte for byte.
 */

const SETTINGS: Http1ServerSettings = { maxHeaderSize: 4096, headersTimeout: 5_000, requestTimeout: 10_000, keepAliveTimeout: 5_000 };

/** A body of `length` bytes that differs per `seed` at every offset. */
function body(seed: number, length: number): Buffer {
  const b = Buffer.allocUnsafe(length);
  for (let i = 0; i < length; i++) b[i] = 33 + ((seed * 31 + i * 7) % 90);
  return b;
}

let server: Server | null = null;
let sweep: ConnectionSweep | null = null;

afterEach(async () => {
  sweep?.stop();
  if (server !== null) await new Promise<void>((r) => server!.close(() => r()));
  server = null;
  sweep = null;
});

async function listen(onStream: (stream: ServerStream) => void): Promise<number> {
  sweep = new ConnectionSweep(50);
  const s = createServer((socket: Socket) => {
    void new Http1ServerConnection(socket, SETTINGS, { onStream, onUpgrade: (sock) => sock.destroy() }, sweep!);
  });
  server = s;
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return (s.address() as AddressInfo).port;
}

/** Sends `request` on a new connection and reads until `expected` bytes came, or the connection ends. */
function exchange(port: number, request: string, expected: number, readAfterMs = 0): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    let got = 0;
    socket.on('error', reject);
    socket.on('connect', () => {
      socket.write(request);
      if (readAfterMs > 0) {
        // A slow client: nothing is read for a while, so the server's writes queue.
        socket.pause();
        setTimeout(() => socket.resume(), readAfterMs);
      }
    });
    socket.on('data', (c: Buffer) => {
      chunks.push(c);
      got += c.length;
      if (got >= expected) {
        socket.destroy();
        resolve(Buffer.concat(chunks));
      }
    });
    socket.on('close', () => resolve(Buffer.concat(chunks)));
  });
}

/** Every response of `raw` with its head fields and body bytes. */
function responses(raw: Buffer): { status: number; headers: Record<string, string>; body: Buffer }[] {
  const out: { status: number; headers: Record<string, string>; body: Buffer }[] = [];
  let at = 0;
  while (at < raw.length) {
    const end = raw.indexOf('\r\n\r\n', at, 'latin1');
    if (end < 0) break;
    const [statusLine, ...lines] = raw.subarray(at, end).toString('latin1').split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    let next = end + 4;
    let payload: Buffer;
    if (headers['transfer-encoding'] === 'chunked') {
      const parts: Buffer[] = [];
      for (;;) {
        const lineEnd = raw.indexOf('\r\n', next, 'latin1');
        const size = Number.parseInt(raw.subarray(next, lineEnd).toString('latin1'), 16);
        next = lineEnd + 2;
        if (size === 0) {
          next = raw.indexOf('\r\n\r\n', next - 2, 'latin1') + 4;
          break;
        }
        parts.push(raw.subarray(next, next + size));
        next += size + 2;
      }
      payload = Buffer.concat(parts);
    } else {
      const length = Number(headers['content-length'] ?? 0);
      payload = raw.subarray(next, next + length);
      next += length;
    }
    out.push({ status: Number(statusLine!.split(' ')[1]), headers, body: payload });
    at = next;
  }
  return out;
}

describe('response write area', () => {
  it('keeps the bytes of many streams answered in the same tick apart and in order', async () => {
    const streams: ServerStream[] = [];
    const CLIENTS = 12;
    const port = await listen((stream) => {
      streams.push(stream);
      if (streams.length < CLIENTS) return;
      // Every stream's head, then every stream's body in pieces, interleaved, all in one tick:
      // each append takes the area from another stream, which must write its bytes first.
      for (const [i, s] of streams.entries()) s.writeHead(200, i % 2 === 0 ? ['content-length', String(3000 + i)] : ['x-n', String(i)]);
      for (let piece = 0; piece < 3; piece++) {
        for (const [i, s] of streams.entries()) {
          const whole = body(i, 3000 + i);
          s.write(whole.subarray(piece * 1000, piece === 2 ? whole.length : (piece + 1) * 1000));
        }
      }
      for (const s of streams) s.end();
    });
    const results = await Promise.all(Array.from({ length: CLIENTS }, (_, i) => exchange(port, `GET /${i} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n`, Number.MAX_SAFE_INTEGER)));
    const byPath = new Map(streams.map((s, i) => [s.url, i]));
    for (let c = 0; c < CLIENTS; c++) {
      const i = byPath.get(`/${c}`)!;
      const [r] = responses(results[c]!);
      expect(r!.status).toBe(200);
      if (i % 2 === 1) expect(r!.headers['transfer-encoding']).toBe('chunked');
      expect(r!.body.equals(body(i, 3000 + i))).toBe(true);
    }
  });

  it('does not write over bytes a slow client has not taken yet', async () => {
    // 2,000 responses of 8 KiB (16 MiB, more than the kernel buffers of a loopback connection) on one connection, pipelined, to a client that reads nothing for a
    // while: the kernel's buffers fill, writes queue and keep views of the area.
    const COUNT = 2000;
    const SIZE = 8 * 1024;
    let n = 0;
    const port = await listen((stream) => {
      const i = Number(stream.url!.slice(1));
      n++;
      stream.writeHead(200, ['content-length', String(SIZE)]);
      stream.end(body(i, SIZE));
    });
    let request = '';
    for (let i = 0; i < COUNT; i++) request += `GET /${i} HTTP/1.1\r\nHost: x\r\n${i === COUNT - 1 ? 'Connection: close\r\n' : ''}\r\n`;
    const raw = await exchange(port, request, Number.MAX_SAFE_INTEGER, 300);
    const got = responses(raw);
    expect(n).toBe(COUNT);
    expect(got).toHaveLength(COUNT);
    for (let i = 0; i < COUNT; i++) expect(got[i]!.body.equals(body(i, SIZE)), `response ${i}`).toBe(true);
  });

  it('writes large chunks as they are, after the head, with small chunks around them in order', async () => {
    const small = body(1, 500);
    const large = body(2, 100_000);
    const tail = body(3, 700);
    const port = await listen((stream) => {
      stream.writeHead(200, stream.url === '/chunked' ? [] : ['content-length', String(small.length + large.length + tail.length)]);
      stream.write(small);
      stream.write(large);
      stream.write(tail);
      setTimeout(() => stream.end(null, ['x-sum', '1']), 5);
    });
    for (const path of ['/length', '/chunked']) {
      const raw = await exchange(port, `GET ${path} HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n`, Number.MAX_SAFE_INTEGER);
      const [r] = responses(raw);
      expect(r!.body.equals(Buffer.concat([small, large, tail])), path).toBe(true);
      if (path === '/chunked') expect(raw.subarray(raw.length - 20).toString('latin1')).toContain('0\r\nx-sum: 1\r\n\r\n');
    }
  });

  it('drops the bytes of a stream cut before its end, and the next responses are whole', async () => {
    const port = await listen((stream) => {
      if (stream.url === '/cut') {
        stream.writeHead(200, ['content-length', '5000']);
        stream.write(body(7, 1000));
        stream.abort();
        return;
      }
      stream.writeHead(200, ['content-length', '2000']);
      stream.end(body(8, 2000));
    });
    const cut = await exchange(port, 'GET /cut HTTP/1.1\r\nHost: x\r\n\r\n', Number.MAX_SAFE_INTEGER);
    // Aborted in the tick of its head: nothing of it was written.
    expect(cut.length).toBe(0);
    const whole = parseResponses((await exchange(port, 'GET /ok HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n', Number.MAX_SAFE_INTEGER)).toString('latin1'));
    expect(whole).toHaveLength(1);
    expect(Buffer.from(whole[0]!.body, 'latin1').equals(body(8, 2000))).toBe(true);
  });
});

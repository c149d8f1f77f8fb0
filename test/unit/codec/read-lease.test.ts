import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionSweep, Http1ServerConnection } from '../../../src/codec/http1-server-connection.js';
import { ReadLease, readLease } from '../../../src/codec/read-lease.js';
import type { ServerStream } from '../../../src/codec/server-stream.js';

/**
 * The lending rule of read-lease.ts, and Http1Stream as a sink that gives chunks back: only
 * when the client socket took every byte at once. A chunk queued behind a client that does not
 * read stays lent (its memory must not be read into again).
 */

describe('ReadLease', () => {
  it('counts a read\'s chunks back and ignores a give-back for an earlier read', () => {
    const lease = new ReadLease();
    lease.begin();
    const first = lease.read;
    lease.outstanding += 2;
    lease.giveBack(first, 1);
    expect(lease.outstanding).toBe(1);
    lease.begin();
    expect(lease.outstanding).toBe(0);
    lease.outstanding++;
    // A late give-back of the earlier read must not count for this one.
    lease.giveBack(first, 1);
    expect(lease.outstanding).toBe(1);
    lease.giveBack(lease.read, 1);
    expect(lease.outstanding).toBe(0);
  });
});

describe('Http1Stream gives lent chunks back', () => {
  let server: Server;
  let port: number;
  const sweep = new ConnectionSweep(25);
  /** Body size per path; the stream writes one lent chunk of it. */
  const written: { read: number; afterTick: number; returned: boolean; later?: boolean }[] = [];

  /** Writes `size` bytes as one lent chunk, as the upstream reader would, and notes the lease a tick later. */
  function onStream(stream: ServerStream): void {
    const size = Number(stream.url!.slice(1));
    stream.observe({ onDrain() {}, onAborted() {} });
    stream.writeHead(200, ['content-length', String(size + 1)]);
    readLease.begin();
    readLease.lending = true;
    readLease.outstanding++;
    const returned = stream.write(Buffer.alloc(size, 'z'));
    readLease.lending = false;
    const read = readLease.read;
    // The stream uncorks on the next tick; the give-back (if any) comes with it. A last byte in
    // a later tick shows whether the stream then reports the client slow.
    process.nextTick(() =>
      process.nextTick(() => {
        const record: (typeof written)[number] = { read, afterTick: readLease.outstanding, returned };
        setTimeout(() => {
          record.later = stream.write(Buffer.from('!'));
          written.push(record);
        }, 50);
      }),
    );
  }

  beforeAll(async () => {
    server = createServer((socket: Socket) => {
      void new Http1ServerConnection(socket, { maxHeaderSize: 1024, headersTimeout: 5_000, requestTimeout: 10_000, keepAliveTimeout: 5_000 }, { onStream, onUpgrade: (s) => s.destroy() }, sweep);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    sweep.stop();
    await new Promise<void>((r) => server.close(() => r()));
  });

  async function request(size: number, read: boolean): Promise<{ socket: Socket; received: () => number }> {
    const socket = connect(port, '127.0.0.1');
    let received = 0;
    await new Promise<void>((r) => socket.once('connect', r));
    if (read) socket.on('data', (c: Buffer) => (received += c.length));
    else socket.pause();
    socket.write(`GET /${size} HTTP/1.1\r\nhost: x\r\n\r\n`);
    return { socket, received: () => received };
  }

  async function nextRecord(): Promise<(typeof written)[number]> {
    const before = written.length;
    while (written.length === before) await new Promise((r) => setTimeout(r, 5));
    return written[written.length - 1]!;
  }

  it('gives back a chunk the socket took at once', async () => {
    const c = await request(16 * 1024, true);
    const record = await nextRecord();
    expect(record.afterTick).toBe(0);
    c.socket.destroy();
  });

  it('takes a 64 KiB chunk without reporting a fast client slow (its bytes were only corked)', async () => {
    const c = await request(64 * 1024, true);
    const record = await nextRecord();
    expect(record.returned).toBe(true);
    expect(record.later).toBe(true);
    await new Promise<void>((r) => {
      const check = (): void => (c.received() > 64 * 1024 ? r() : void setTimeout(check, 5));
      check();
    });
    c.socket.destroy();
  });

  it('keeps a chunk still queued behind a client that does not read', async () => {
    // Larger than the loopback socket buffers on both sides: the write cannot finish at once.
    const c = await request(64 * 1024 * 1024, false);
    const record = await nextRecord();
    expect(record.afterTick).toBe(1);
    // Nothing of an earlier tick was queued when the chunk was written; in a later tick the
    // bytes still queued make the stream report the client slow.
    expect(record.returned).toBe(true);
    expect(record.later).toBe(false);
    c.socket.destroy();
  });
});

import { once } from 'node:events';
import { createServer, connect, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FrameOutput } from '../../../../src/codec/http2/frame-output.js';
import { FRAME_HEADER_LENGTH, Flag, FrameType } from '../../../../src/codec/http2/frame-types.js';
import { headersFrames } from '../../../../src/codec/http2/frame-writer.js';

/** A connected pair on 127.0.0.1: `sender` writes, everything `receiver` reads gathers in `received()`. */
async function socketPair(): Promise<{ sender: Socket; receiver: Socket; received: () => Buffer; reads: () => number; server: Server }> {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as { port: number }).port;
  const accepted = once(server, 'connection');
  const sender = connect(port, '127.0.0.1');
  await once(sender, 'connect');
  const [receiver] = (await accepted) as [Socket];
  const chunks: Buffer[] = [];
  receiver.on('data', (chunk: Buffer) => chunks.push(chunk));
  return { sender, receiver, received: () => Buffer.concat(chunks), reads: () => chunks.length, server };
}

async function until(check: () => boolean): Promise<void> {
  while (!check()) await new Promise((resolve) => setTimeout(resolve, 5));
}

const opened: { sender: Socket; receiver: Socket; server: Server }[] = [];
afterEach(() => {
  for (const { sender, receiver, server } of opened.splice(0)) {
    sender.destroy();
    receiver.destroy();
    server.close();
  }
});

async function pair(): Promise<Awaited<ReturnType<typeof socketPair>>> {
  const p = await socketPair();
  opened.push(p);
  return p;
}

/** A header block of `length` bytes after FRAME_HEADER_LENGTH bytes of room, as the encoders leave it. */
function block(length: number, fill: number): Buffer {
  const buf = Buffer.alloc(FRAME_HEADER_LENGTH + length, fill);
  return buf;
}

describe('FrameOutput: the frames of one turn of the event loop, written together', () => {
  it('writes nothing until the turn of the event loop is over, then every frame of the turn in order in one write', async () => {
    const { sender, received } = await pair();
    const writes: number[] = [];
    const write = sender.write.bind(sender);
    sender.write = ((chunk: Buffer, ...rest: never[]) => {
      writes.push(chunk.length);
      return write(chunk, ...rest);
    }) as typeof sender.write;
    const output = new FrameOutput(sender);
    const head = block(3, 0x82);
    output.writeHeaders(head, head.length, 1, false, 16_384);
    // Another callback of the same turn (as a second socket's read would be) adds to the batch.
    await new Promise((resolve) => process.nextTick(resolve));
    expect(writes).toEqual([]);
    output.writeDataHeader(1, 4, true);
    output.writeRange(Buffer.from('xxabcdyy'), 2, 6);
    expect(output.queuedBytes).toBe(12 + 9 + 4);
    await new Promise((resolve) => setImmediate(resolve));
    expect(writes).toEqual([25]);
    await until(() => received().length === 25);
    const expected = Buffer.concat([headersFrames(block(3, 0x82), FRAME_HEADER_LENGTH + 3, 1, false, 16_384), Buffer.from([0, 0, 4, FrameType.DATA, Flag.END_STREAM, 0, 0, 0, 1]), Buffer.from('abcd')]);
    expect(received().equals(expected)).toBe(true);
  });

  it('never writes over a region handed to the socket: frames of later turns go after it, intact', async () => {
    const { sender, received } = await pair();
    const output = new FrameOutput(sender);
    const frames: Buffer[] = [];
    // More than one slab's worth over several turns, each frame with its own byte.
    for (let turn = 0; turn < 40; turn++) {
      for (let i = 0; i < 10; i++) {
        const frame = Buffer.alloc(300, (turn * 10 + i) & 0xff);
        frames.push(frame);
        output.write(frame);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    const expected = Buffer.concat(frames);
    await until(() => received().length === expected.length);
    expect(received().equals(expected)).toBe(true);
  });

  it('shares its slabs with other connections only after a write the kernel took whole: a slow reader\'s queued frames stay intact', async () => {
    const slow = await pair();
    const fast = await pair();
    // The slow connection's reader takes nothing for a while: its writes queue (8 MB, more than
    // the kernel's buffers hold), holding their slabs; the fast one's writes complete, and its
    // slabs go back to the pool the process shares. Each frame carries its own bytes.
    slow.receiver.pause();
    const slowOut = new FrameOutput(slow.sender);
    const fastOut = new FrameOutput(fast.sender);
    const slowFrames: Buffer[] = [];
    const fastFrames: Buffer[] = [];
    for (let turn = 0; turn < 50; turn++) {
      for (let i = 0; i < 40; i++) {
        const a = Buffer.alloc(4000, (turn * 40 + i) & 0xff);
        const b = Buffer.alloc(3000, (turn * 40 + i + 128) & 0xff);
        slowFrames.push(a);
        fastFrames.push(b);
        slowOut.write(a);
        fastOut.write(b);
      }
      await new Promise((resolve) => setImmediate(resolve));
    }
    expect(slow.sender.writableLength).toBeGreaterThan(0);
    slow.receiver.resume();
    const slowExpected = Buffer.concat(slowFrames);
    const fastExpected = Buffer.concat(fastFrames);
    await until(() => slow.received().length === slowExpected.length && fast.received().length === fastExpected.length);
    expect(slow.received().equals(slowExpected)).toBe(true);
    expect(fast.received().equals(fastExpected)).toBe(true);
  });

  it('writes a payload larger than its copy limit as it is, between the copied frames, in order', async () => {
    const { sender, received } = await pair();
    const output = new FrameOutput(sender);
    const large = Buffer.alloc(50_000, 0x61);
    output.writeDataHeader(3, large.length, false);
    output.writeRange(large, 0, large.length);
    output.writeDataHeader(3, 0, true);
    const expected = Buffer.concat([Buffer.from([0, 0xc3, 0x50, FrameType.DATA, 0, 0, 0, 0, 3]), large, Buffer.from([0, 0, 0, FrameType.DATA, Flag.END_STREAM, 0, 0, 0, 3])]);
    await until(() => received().length === expected.length);
    expect(received().equals(expected)).toBe(true);
  });

  it('splits a header block larger than the frame size into HEADERS and CONTINUATION as headersFrames does', async () => {
    const { sender, received } = await pair();
    const output = new FrameOutput(sender);
    const head = block(40_000, 0x07);
    output.writeHeaders(head, head.length, 5, true, 16_384);
    const expected = headersFrames(block(40_000, 0x07), FRAME_HEADER_LENGTH + 40_000, 5, true, 16_384);
    await until(() => received().length === expected.length);
    expect(received().equals(expected)).toBe(true);
  });

  it('counts what is gathered as buffered: full once socket and batch reach the high-water mark', async () => {
    const { sender } = await pair();
    const output = new FrameOutput(sender);
    expect(output.full).toBe(false);
    output.write(Buffer.alloc(sender.writableHighWaterMark - 1));
    expect(output.full).toBe(false);
    output.write(Buffer.alloc(1));
    expect(output.full).toBe(true);
    expect(output.queuedBytes).toBe(sender.writableHighWaterMark);
  });

  it('flush writes at once; discard drops what is gathered; a destroyed socket gets nothing', async () => {
    const { sender, received } = await pair();
    const output = new FrameOutput(sender);
    output.write(Buffer.from('first'));
    output.flush();
    expect(output.queuedBytes).toBe(sender.writableLength);
    output.write(Buffer.from('dropped'));
    output.discard();
    expect(output.queuedBytes).toBe(sender.writableLength);
    await new Promise((resolve) => setImmediate(resolve));
    await until(() => received().length === 5);
    expect(received().toString()).toBe('first');
    output.write(Buffer.from('late'));
    sender.destroy();
    await new Promise((resolve) => setImmediate(resolve));
    expect(output.queuedBytes).toBe(0);
  });
});

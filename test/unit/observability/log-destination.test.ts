import { execFileSync } from 'node:child_process';
import { closeSync, constants, existsSync, openSync, readFileSync, readSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LogDestination } from '../../../src/observability/log-destination.js';

// The log destination against real file descriptors: a file, a pipe nobody reads (a FIFO opened
// non-blocking, so a full pipe answers EAGAIN as a stopped reader's stdout pipe does), /dev/full.

const flushed = (d: LogDestination): Promise<Error | undefined> => new Promise((resolve) => d.flush(resolve));

describe('LogDestination', () => {
  let dir: string;
  const fds: number[] = [];
  const destinations: LogDestination[] = [];

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-logdest-'));
  });
  afterEach(async () => {
    // Nothing may be left to write at exit into a closed descriptor.
    for (const d of destinations.splice(0)) d.removeAllListeners();
    for (const fd of fds.splice(0)) closeSync(fd);
    await rm(dir, { recursive: true, force: true });
  });

  function destination(fd: number, maxBuffer = 1 << 20): LogDestination {
    fds.push(fd);
    const d = new LogDestination(fd, maxBuffer);
    destinations.push(d);
    return d;
  }

  it('writes strings and buffers in the order given, and flush calls back once all of it is written', async () => {
    const file = join(dir, 'out.log');
    const d = destination(openSync(file, 'w'));
    const expected: string[] = [];
    for (let i = 0; i < 2_000; i++) {
      const line = `{"n":${i},"text":"é ${'x'.repeat(i % 50)}"}\n`;
      expected.push(line);
      // pino hands strings, the access log Buffers of whole lines
      d.write(i % 3 === 0 ? Buffer.from(line) : line);
    }
    expect(await flushed(d)).toBeUndefined();
    expect(readFileSync(file, 'utf8')).toBe(expected.join(''));
  });

  it('flush calls back at once when nothing waits', async () => {
    const d = destination(openSync(join(dir, 'empty.log'), 'w'));
    expect(await flushed(d)).toBeUndefined();
  });

  it.skipIf(!existsSync('/usr/bin/mkfifo'))('with a full pipe: keeps at most maxBuffer bytes, drops and reports the rest, and writes what it kept, in order, once the reader reads', async () => {
    const fifo = join(dir, 'pipe');
    execFileSync('mkfifo', [fifo]);
    // Read end first (non-blocking), then the write end non-blocking: a full pipe answers EAGAIN.
    const reader = openSync(fifo, constants.O_RDONLY | constants.O_NONBLOCK);
    fds.push(reader);
    const d = destination(openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK), 256 * 1024);
    const dropped: Buffer[] = [];
    d.on('drop', (data: Buffer) => dropped.push(data));
    const line = Buffer.from(`${'y'.repeat(1023)}\n`);
    let accepted = 0;
    for (let i = 0; i < 1_000; i++) if (d.write(Buffer.from(line))) accepted++;
    // Let the writes fill the pipe (64 KiB on Linux) and find it full.
    await new Promise((r) => setTimeout(r, 50));
    expect(dropped.length).toBe(1_000 - accepted);
    expect(dropped.length).toBeGreaterThan(0);
    // The pipe's 64 KiB plus at most maxBuffer waiting.
    expect(accepted * line.length).toBeLessThanOrEqual(256 * 1024 + 64 * 1024 + line.length);

    // The reader comes back: everything accepted arrives, whole lines, nothing else.
    const received: Buffer[] = [];
    const chunk = Buffer.alloc(64 * 1024);
    const deadline = Date.now() + 10_000;
    let total = 0;
    while (total < accepted * line.length && Date.now() < deadline) {
      try {
        const n = readSync(reader, chunk, 0, chunk.length, null);
        received.push(Buffer.from(chunk.subarray(0, n)));
        total += n;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    const text = Buffer.concat(received).toString('latin1');
    expect(text.length).toBe(accepted * line.length);
    expect(text.split('\n').slice(0, -1).every((l) => l === 'y'.repeat(1023))).toBe(true);
    expect(await flushed(d)).toBeUndefined();
  });

  it.skipIf(!existsSync('/dev/full'))('on a write error (a full disk): reports it, lets a flush return, keeps the data within maxBuffer and drops the rest', async () => {
    const d = destination(openSync('/dev/full', 'w'), 8 * 1024);
    const errors: NodeJS.ErrnoException[] = [];
    d.on('error', (err: NodeJS.ErrnoException) => errors.push(err));
    let droppedLines = 0;
    d.on('drop', (data: Buffer) => (droppedLines += data.toString('latin1').split('\n').length - 1));
    for (let i = 0; i < 100; i++) d.write(`${'z'.repeat(99)}\n`);
    const err = await flushed(d);
    expect((err as NodeJS.ErrnoException | undefined)?.code).toBe('ENOSPC');
    expect(errors[0]?.code).toBe('ENOSPC');
    // 8 KiB kept (81 lines of 100 bytes), the rest dropped and reported.
    expect(droppedLines).toBe(100 - Math.floor((8 * 1024) / 100));
  });

  it('flushSync writes what waits, synchronously', async () => {
    const file = join(dir, 'sync.log');
    const d = destination(openSync(file, 'w'));
    // The first write goes to the thread pool at once; the rest wait behind it.
    d.write('first\n');
    d.write('second\n');
    d.write(Buffer.from('third\n'));
    d.flushSync();
    expect(readFileSync(file, 'utf8')).toContain('second\nthird\n');
    expect(await flushed(d)).toBeUndefined();
    expect(readFileSync(file, 'utf8').split('\n').sort()).toEqual(['', 'first', 'second', 'third']);
  });
});

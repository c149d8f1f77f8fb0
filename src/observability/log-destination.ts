import { EventEmitter } from 'node:events';
import { write, writev, writeSync } from 'node:fs';

/** How long a write waits before it is tried again after EAGAIN (a full non-blocking pipe) or an error. */
const RETRY_MS = 100;
/** The most buffers handed to one writev (Linux's IOV_MAX is 1024). */
const MAX_IOV = 256;
/** At exit, how long a full pipe is waited for before the lines still waiting are given up. */
const EXIT_WAIT_MS = 1000;

/**
 * Destinations written out at exit, held weakly: one process 'exit' listener for all of them
 * (a process that makes many loggers, as the tests do, would otherwise pile up listeners), and
 * a destination nobody uses any more can still be collected.
 */
const live = new Set<WeakRef<LogDestination>>();
const forget = new FinalizationRegistry<WeakRef<LogDestination>>((ref) => live.delete(ref));
let exitHookInstalled = false;

function flushAllOnExit(): void {
  for (const ref of live) ref.deref()?.flushSync();
}

/**
 * The process's log output: lines from pino (strings) and chunks of lines from the access log
 * (Buffers, taken as they are, never copied) written to one file descriptor asynchronously,
 * in order, one write or writev at a time on the thread pool.
 *
 * Written for the project instead of pino's SonicBoom because SonicBoom cannot take both:
 * in its text mode every chunk is measured, re-encoded after each write and encoded again by the
 * write itself, and its buffer mode cannot take pino's strings; on the access log's path that
 * cost more than forming the lines (docs/performance.md). The contract is SonicBoom's:
 * - bounded: past `maxBuffer` bytes waiting (a reader that stopped, a full disk), new data is
 *   dropped and reported with a 'drop' event (the router counts the lines), never held in
 *   memory without bound and never blocking the caller;
 * - a write that fails is reported with an 'error' event (once per failure) and tried again
 *   after 100 ms, as is EAGAIN from a full non-blocking pipe; a short write continues with the
 *   rest;
 * - `flush(cb)` calls back once everything written so far is written, or a write failed or
 *   found the pipe full;
 * - `flushSync()` writes what is waiting synchronously; every destination does at exit (a
 *   write already on the thread pool finishes there, so lines written at exit may land before
 *   it).
 */
export class LogDestination extends EventEmitter {
  /** Data waiting, in order; `waiting` counts its bytes. */
  private queue: Buffer[] = [];
  private waiting = 0;
  /** Buffers handed to the write under way (null: none), and their byte count. */
  private writing: Buffer[] | null = null;
  private writingBytes = 0;
  private retryTimer: NodeJS.Timeout | null = null;
  private flushWaiters: ((err?: Error) => void)[] = [];

  constructor(
    readonly fd: number,
    private readonly maxBuffer: number,
  ) {
    super();
    const ref = new WeakRef(this);
    live.add(ref);
    forget.register(this, ref);
    if (!exitHookInstalled) {
      exitHookInstalled = true;
      process.once('exit', flushAllOnExit);
    }
  }

  /** Queues `data` (a Buffer is taken as it is: the caller must not change it afterwards). */
  write(data: string | Buffer): boolean {
    const chunk = typeof data === 'string' ? Buffer.from(data) : data;
    if (chunk.length === 0) return true;
    if (this.waiting + this.writingBytes + chunk.length > this.maxBuffer) {
      this.emit('drop', chunk);
      return false;
    }
    this.queue.push(chunk);
    this.waiting += chunk.length;
    if (this.writing === null && this.retryTimer === null) this.writeNext();
    return true;
  }

  /** Calls back once everything queued so far has been written, or a write failed. */
  flush(cb: (err?: Error) => void): void {
    if (this.writing === null && this.waiting === 0) {
      process.nextTick(cb);
      return;
    }
    this.flushWaiters.push(cb);
  }

  /** Writes everything waiting, synchronously; gives up (and says so on stderr) on an error or a pipe full for a second. */
  flushSync(): void {
    if (this.retryTimer !== null) {
      clearTimeout(this.retryTimer);
      this.retryTimer = null;
    }
    const deadline = Date.now() + EXIT_WAIT_MS;
    while (this.queue.length > 0) {
      const chunk = this.queue[0]!;
      try {
        const n = writeSync(this.fd, chunk);
        this.waiting -= n;
        if (n < chunk.length) this.queue[0] = chunk.subarray(n);
        else this.queue.shift();
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if ((code === 'EAGAIN' || code === 'EBUSY') && Date.now() < deadline) {
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
          continue;
        }
        process.stderr.write(`switchyard: ${this.waiting} bytes of log lines could not be written (${code ?? (err as Error).message})\n`);
        this.queue = [];
        this.waiting = 0;
        return;
      }
    }
  }

  private writeNext(): void {
    const queue = this.queue;
    if (queue.length === 0) {
      this.callFlushWaiters(undefined);
      return;
    }
    if (queue.length <= MAX_IOV) {
      this.writing = queue;
      this.queue = [];
    } else {
      this.writing = queue.splice(0, MAX_IOV);
    }
    let bytes = 0;
    for (const b of this.writing) bytes += b.length;
    this.writingBytes = bytes;
    this.waiting -= bytes;
    if (this.writing.length === 1) write(this.fd, this.writing[0]!, 0, bytes, null, this.written);
    else writev(this.fd, this.writing, null, this.written);
  }

  private readonly written = (err: NodeJS.ErrnoException | null, n: number): void => {
    const sent = this.writing!;
    this.writing = null;
    this.writingBytes = 0;
    if (err !== null) {
      // Put the data back in front and try again later; new data meanwhile counts against maxBuffer.
      this.requeue(sent, 0);
      if (err.code !== 'EAGAIN' && err.code !== 'EBUSY') {
        if (this.listenerCount('error') > 0) this.emit('error', err);
        else process.stderr.write(`switchyard: cannot write log lines (${err.code ?? err.message})\n`);
      }
      // A flush does not wait for the retry: a reader that stopped must not hold up an exit
      // (the exit hook's flushSync still gives a full pipe a second).
      this.callFlushWaiters(err);
      this.retryTimer = setTimeout(this.retry, RETRY_MS).unref();
      return;
    }
    let total = 0;
    for (const b of sent) total += b.length;
    if (n < total) this.requeue(sent, n);
    this.writeNext();
  };

  private readonly retry = (): void => {
    this.retryTimer = null;
    if (this.writing === null) this.writeNext();
  };

  /** Puts `sent` minus its first `skip` bytes back at the front of the queue. */
  private requeue(sent: Buffer[], skip: number): void {
    const rest: Buffer[] = [];
    for (const b of sent) {
      if (skip >= b.length) {
        skip -= b.length;
        continue;
      }
      rest.push(skip > 0 ? b.subarray(skip) : b);
      this.waiting += b.length - skip;
      skip = 0;
    }
    this.queue = rest.concat(this.queue);
  }

  private callFlushWaiters(err: Error | undefined): void {
    if (this.flushWaiters.length === 0) return;
    const waiters = this.flushWaiters;
    this.flushWaiters = [];
    for (const cb of waiters) cb(err);
  }
}

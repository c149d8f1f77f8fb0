import { Worker } from 'node:worker_threads';
import { pino, type Logger } from 'pino';
import { AccessLogLines, type LineShape, type TimeFormat } from './access-log-lines.js';
import { AccessLogQueue } from './access-log-queue.js';
import type { AccessLogThreadData } from './access-log-thread.js';

/** Where access-log lines go: the logger's own destination (LogDestination in production). */
interface LineSink {
  write(chunk: Buffer): unknown;
  /** Writes what it holds before the process exits. */
  flushSync?(): void;
}

export interface AccessLogOptions {
  /**
   * Form the lines on a thread of their own: the event loop only queues each request's fields
   * (docs/performance.md). Off: lines are formed on the event loop.
   */
  thread?: boolean;
  /** Bytes of request records the queue to that thread holds (a power of two). */
  queueBytes?: number;
  /** Lines dropped because the queue to the thread was full (counted with the destination's own drops). */
  onDrop?: (lines: number) => void;
}

/**
 * On the event loop, lines are handed to the destination in chunks of about this many
 * characters (or by the flush timer), encoded once per chunk: each write is a thread-pool
 * hand-off plus a system call, so line-by-line writes cost more CPU under load than forming the
 * lines (docs/performance.md).
 */
const CHUNK_CHARS = 64 * 1024;
/** The longest a line formed on the event loop waits on a quiet router. */
const FLUSH_INTERVAL_MS = 100;
/** 4 MiB of records: seconds of a busy router's requests, should the thread be held up. */
const DEFAULT_QUEUE_BYTES = 4 * 1024 * 1024;

interface PinoInternals {
  [key: symbol]: unknown;
}

/**
 * The access log: one JSON line per request, byte for byte what pino would write for
 * `logger.info({...fields}, 'request')` on the given logger (AccessLogLines forms them).
 *
 * With `thread: true` (logging.accessLogThread) the event loop does not form the lines: it puts each
 * request's fields into a shared-memory queue (AccessLogQueue), and a thread of the access log's
 * own (access-log-thread.ts) forms them and posts them back in chunks, which are written to the
 * logger's destination and only then released from the queue. When the queue is full (the thread
 * held up for seconds) new lines are dropped and counted (`onDrop`), never waited for. Should the
 * thread fail, the lines it had not delivered are formed on the event loop, which goes on forming
 * them itself. On close and on exit (SIGTERM included) whatever is queued is formed on the event
 * loop and written through the destination's flushSync: a clean shutdown loses no line.
 *
 * Without the thread, lines are formed on the event loop into chunks of about 64 KiB, written
 * at the latest 100 ms after they were formed.
 *
 * Both share the destination's bound (logging.maxBuffer: past it lines are dropped and counted).
 * Rare lines (refused requests, tunnels, failures with an error object) are formed on the event
 * loop (`other()`, JSON.stringify per value) and queued in order with the others.
 */
export class AccessLog {
  private readonly lines: AccessLogLines;
  private readonly sink: LineSink;
  private readonly logger: Logger;
  private readonly onDrop: (lines: number) => void;
  private queue: AccessLogQueue | null = null;
  private thread: Worker | null = null;
  private timer: NodeJS.Timeout | null = null;
  private closed = false;

  constructor(logger: Logger, options: AccessLogOptions = {}) {
    const internals = logger as unknown as PinoInternals;
    const symbols = pino.symbols as unknown as Record<string, symbol>;
    const levels = internals[symbols.lsCacheSym!] as Record<number, string>;
    const time = internals[symbols.timeSym!] as () => string;
    const timeFormat: TimeFormat = time === pino.stdTimeFunctions.isoTime ? 'iso' : time === pino.stdTimeFunctions.epochTime ? 'epoch' : time;
    const shape: LineShape = { prefix: levels[logger.levels.values.info!]!, bindings: internals[symbols.chindingsSym!] as string, time: timeFormat };
    this.lines = new AccessLogLines(shape, internals[symbols.stringifySafeSym!] as (value: unknown) => string);
    this.sink = internals[symbols.streamSym!] as LineSink;
    this.logger = logger;
    this.onDrop = options.onDrop ?? (() => undefined);
    process.once('exit', this.flushOnExit);
    // A custom time function cannot run on another thread: those lines are formed here.
    if (options.thread === true && typeof timeFormat === 'string') this.startThread(shape, options.queueBytes ?? DEFAULT_QUEUE_BYTES);
    else this.timer = setInterval(this.flush, FLUSH_INTERVAL_MS).unref();
  }

  /** Whether lines are formed on the access log's own thread (false after it failed or closed). */
  get threaded(): boolean {
    return this.thread !== null;
  }

  /**
   * A forwarded request (the hot path). Positional arguments, in the order the fields are
   * written, so that recording a request allocates nothing but its record. `traceId`, `host`,
   * `path`, `userAgent` and `tls` (TLS connections only) are left out when undefined, as pino
   * leaves out undefined values.
   */
  request(
    requestId: string,
    traceId: string | undefined,
    method: string | undefined,
    host: string | undefined,
    path: string | undefined,
    status: number,
    bytesIn: number,
    bytesOut: number,
    /** Milliseconds; written rounded to the microsecond (as is upstreamMs). */
    durationMs: number,
    route: string,
    service: string,
    upstream: string,
    upstreamStatus: number,
    upstreamMs: number,
    retries: number,
    error: string | undefined,
    err: (Error & { code?: string }) | undefined,
    /** The client's address as resolved for the request (proxy/client-address.ts). */
    clientAddress: string,
    userAgent: string | undefined,
    /** "HTTP/1.1", "HTTP/1.0" or "HTTP/2". */
    protocol: string,
    /** The connection's TLS version ("TLSv1.3"); undefined on cleartext. */
    tls: string | undefined,
  ): void {
    const queue = this.queue;
    if (queue !== null && err === undefined) {
      const queued = queue.putRequest(
        Date.now(), requestId, traceId, method, host, path, status, bytesIn, bytesOut, durationMs, route, service, upstream, upstreamStatus, upstreamMs, retries, error,
        clientAddress, userAgent, protocol, tls,
      );
      if (!queued) this.onDrop(1);
      return;
    }
    const errJson = err === undefined ? undefined : this.lines.json(pino.stdSerializers.err(err));
    this.lines.request(
      Date.now(), requestId, traceId, method, host, path, status, bytesIn, bytesOut, durationMs, route, service, upstream, upstreamStatus, upstreamMs, retries, error, errJson,
      clientAddress, userAgent, protocol, tls,
    );
    this.formed();
  }

  /** Any other line: `fields` in their own order (undefined values left out), then `msg`. */
  other(fields: Record<string, unknown>, msg: string): void {
    this.lines.other(Date.now(), fields, msg);
    this.formed(true);
  }

  /**
   * Hands the lines formed on the event loop to the destination; with the thread, wakes it to
   * form what is queued now.
   */
  readonly flush = (): void => {
    this.queue?.wake();
    const chunk = this.lines.take();
    if (chunk !== null) this.sink.write(chunk);
  };

  /**
   * Stops the thread and writes everything queued or formed (the router calls it last on
   * shutdown). Lines recorded later are written at once.
   */
  close(): void {
    this.stopThread();
    this.flush();
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.closed = true;
    process.off('exit', this.flushOnExit);
  }

  /**
   * A line was formed on the event loop: queued behind the thread's lines, or written by chunk
   * (`atOnce`: a rare line, written now).
   */
  private formed(atOnce = false): void {
    if (this.queue !== null) {
      if (!this.queue.putLine(this.lines.takeText())) this.onDrop(1);
      this.queue.wake();
    } else if (atOnce || this.closed || this.lines.length >= CHUNK_CHARS) {
      this.flush();
    }
  }

  private startThread(shape: LineShape, queueBytes: number): void {
    const queue = new AccessLogQueue(queueBytes);
    const data: AccessLogThreadData = { memory: queue.memory, capacity: queue.capacity, shape };
    const thread = spawnThread(data);
    thread.unref();
    thread.on('message', this.onChunk);
    thread.on('error', this.onThreadError);
    thread.on('exit', this.onThreadExit);
    this.queue = queue;
    this.thread = thread;
  }

  /** A chunk of lines formed by the thread, for the queue positions [from, to). */
  private readonly onChunk = (message: [number, number, Uint8Array | null]): void => {
    const queue = this.queue;
    const [from, to, chunk] = message;
    // Nothing to do once the event loop took the queue over (it formed those lines itself).
    if (queue === null || from !== queue.start) return;
    if (chunk !== null) this.sink.write(Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength));
    queue.release(to);
  };

  private readonly onThreadError = (err: Error): void => {
    this.fallBack({ err }, 'access log thread failed');
  };

  private readonly onThreadExit = (exitCode: number): void => {
    this.fallBack({ exitCode }, 'access log thread exited');
  };

  /** The thread failed: what it had not delivered, and every later line, is formed on the event loop. */
  private fallBack(fields: Record<string, unknown>, what: string): void {
    if (this.thread === null) return;
    this.logger.error(fields, `${what}; access log lines are formed on the event loop from now on`);
    this.stopThread();
    this.timer = setInterval(this.flush, FLUSH_INTERVAL_MS).unref();
  }

  /** Stops the thread (if running) and forms on the event loop whatever it had not delivered. */
  private stopThread(): void {
    const thread = this.thread;
    const queue = this.queue;
    this.thread = null;
    this.queue = null;
    if (thread !== null) {
      thread.off('message', this.onChunk);
      thread.off('exit', this.onThreadExit);
      queue?.stop();
      thread.terminate().catch((err: unknown) => this.logger.error({ err }, 'access log thread did not stop'));
    }
    if (queue !== null) this.formQueued(queue);
  }

  /** Forms the lines of every record not yet released from the queue, on the event loop. */
  private formQueued(queue: AccessLogQueue): void {
    const from = queue.start;
    const to = queue.end;
    if (from === to) return;
    try {
      queue.read(from, to, this.lines, queue.defined);
    } catch (err) {
      this.logger.error({ err }, 'access log lines still queued could not be read; they are lost');
    }
    queue.release(to);
  }

  private readonly flushOnExit = (): void => {
    // The thread cannot run any more: what it had not delivered is formed here.
    if (this.queue !== null) {
      this.formQueued(this.queue);
      this.queue = null;
    }
    this.flush();
    // Runs whether or not the destination's own exit hook has run already.
    try {
      this.sink.flushSync?.();
    } catch (err) {
      process.stderr.write(`switchyard: access-log lines could not be written at exit: ${(err as Error).message}\n`);
    }
  };
}

/**
 * Starts access-log-thread next to this module. From TypeScript sources (the test suite) the
 * thread loads through tsx, which the test run has; the built router runs the compiled file.
 */
function spawnThread(data: AccessLogThreadData): Worker {
  const self = import.meta.url;
  if (!self.endsWith('.ts')) return new Worker(new URL('./access-log-thread.js', self), { workerData: data });
  const entry = JSON.stringify(new URL('./access-log-thread.ts', self).href);
  return new Worker(`import('tsx/esm/api').then((tsx) => { tsx.register(); return import(${entry}); });`, { eval: true, workerData: data });
}

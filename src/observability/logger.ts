import { pino, type Logger } from 'pino';

export type { Logger };

export interface LoggerOptions {
  level: string;
  /** Where lines go; standard output by default. */
  destination?: NodeJS.WritableStream;
  /** Bytes of output that may wait to be written before new lines are dropped (standard output only). */
  maxBuffer?: number;
}

/** Default logging.maxBuffer. */
const DEFAULT_MAX_BUFFER = 16 * 1024 * 1024;

/**
 * The process logger: one JSON object a line (pino), written asynchronously to standard output
 * through pino's SonicBoom destination, in batches of 32 KiB or every 100 ms, flushed on exit, and (with `maxLength`) drops new lines instead of growing past
 * `maxBuffer` while the output cannot keep up: a full disk or a reader that stopped never holds
 * requests back or grows memory without bound. Dropped lines are reported with the 'drop'
 * event (counted by the router in switchyard_log_lines_dropped_total); a write error other
 * than a closed pipe is reported once per error code on standard error.
 */
export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? standardOutput(options.maxBuffer ?? DEFAULT_MAX_BUFFER);
  return pino(
    {
      level: options.level,
      name: 'switchyard',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    destination,
  );
}

/**
 * Output is written once at least this much is waiting (or by the flush timer): each write is
 * a hand-off to libuv's thread pool and a system call, so writing line by line under load costs
 * more CPU than forming the lines (measured with `npm run bench:cpu`, docs/performance.md).
 */
const BATCH_BYTES = 32 * 1024;
/** The longest a line waits in the buffer on a quiet router. */
const FLUSH_INTERVAL_MS = 100;

/**
 * Set on the destination: its write that only batches (no prompt flush), for the access log.
 * Other lines (warnings, errors, start-up messages) are written by the next event-loop turn;
 * access-log lines wait for BATCH_BYTES or the flush timer.
 */
export const kBatchedWrite = Symbol('switchyard.batchedWrite');

function standardOutput(maxBuffer: number): ReturnType<typeof pino.destination> {
  const stream = pino.destination({ dest: 1, sync: false, minLength: BATCH_BYTES, maxWrite: 2 * BATCH_BYTES, maxLength: maxBuffer });
  const state = stream as unknown as { readonly writing: boolean; readonly destroyed: boolean; [kBatchedWrite]: (data: string) => boolean };
  // Whatever is below BATCH_BYTES goes out on the next turn (process log lines) or on the
  // timer (access-log lines); nothing is written while nothing was logged.
  let waiting = false;
  let flushSoon = false;
  let flushAfterWrite = false;
  const flush = (): void => {
    flushSoon = false;
    if (!waiting || state.destroyed) return;
    if (state.writing) {
      // A write is under way: SonicBoom writes the rest only once BATCH_BYTES wait, so flush
      // again when it ends ('write' is emitted after each completed write).
      if (!flushAfterWrite) {
        flushAfterWrite = true;
        stream.once('write', afterWrite);
      }
      return;
    }
    waiting = false;
    stream.flush();
  };
  const afterWrite = (): void => {
    flushAfterWrite = false;
    flush();
  };
  const write = stream.write.bind(stream);
  state[kBatchedWrite] = (data: string): boolean => {
    waiting = true;
    return write(data);
  };
  stream.write = (data: string): boolean => {
    waiting = true;
    if (!flushSoon) {
      flushSoon = true;
      setImmediate(flush);
    }
    return write(data);
  };
  setInterval(flush, FLUSH_INTERVAL_MS).unref();
  const reported = new Set<string>();
  stream.on('error', (err: Error & { code?: string }) => {
    const code = err.code ?? err.message;
    if (reported.has(code)) return;
    reported.add(code);
    process.stderr.write(
      `switchyard: cannot write log lines to standard output (${code}: ${err.message}); lines wait in memory up to logging.maxBuffer, then new ones are dropped and counted in switchyard_log_lines_dropped_total\n`,
    );
  });
  return stream;
}

/** Output lines dropped because the log destination's buffer was full ('drop' events of the destination). */
export function onDroppedLogLines(logger: Logger, count: (lines: number) => void): void {
  const stream = (logger as unknown as Record<symbol, unknown>)[(pino.symbols as unknown as Record<string, symbol>).streamSym!] as NodeJS.EventEmitter | undefined;
  if (stream === undefined || typeof stream.on !== 'function') return;
  stream.on('drop', (data: string | Buffer) => {
    const text = typeof data === 'string' ? data : data.toString('utf8');
    let lines = 0;
    for (let i = text.indexOf('\n'); i >= 0; i = text.indexOf('\n', i + 1)) lines++;
    count(Math.max(1, lines));
  });
}

/** A logger that drops everything (tests that do not read logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

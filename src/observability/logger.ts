import { pino, type Logger } from 'pino';
import { redactLogFields } from '../config/secret-redactor.js';
import { LogDestination } from './log-destination.js';

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
 * through a LogDestination, which batches whatever accumulates while a write is under way (the
 * access log hands it lines in 64 KiB chunks of its own), flushes on exit, and drops new lines
 * instead of growing past `maxBuffer` while the output cannot keep up: a full disk or a reader
 * that stopped never holds requests back or grows memory without bound. Dropped lines are
 * reported with the 'drop' event (counted by the router in switchyard_log_lines_dropped_total);
 * a write error is reported once per error code on standard error.
 *
 * Every line's fields pass through the secret redactor (config/secret-redactor.ts): a field
 * named like a secret (token, password, authorization, …), URL credentials in any string, and
 * the secrets of a `config` field are written as "(redacted)". The access log forms its lines
 * itself and carries no such field.
 */
export function createLogger(options: LoggerOptions): Logger {
  const destination = options.destination ?? standardOutput(options.maxBuffer ?? DEFAULT_MAX_BUFFER);
  return pino(
    {
      level: options.level,
      name: 'switchyard',
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }), log: redactLogFields },
    },
    destination,
  );
}

function standardOutput(maxBuffer: number): LogDestination {
  const stream = new LogDestination(1, maxBuffer);
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
    let lines = 0;
    for (let i = data.indexOf('\n'); i >= 0; i = data.indexOf('\n', i + 1)) lines++;
    count(Math.max(1, lines));
  });
}

/** A logger that drops everything (tests that do not read logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

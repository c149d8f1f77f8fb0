import { hostname } from 'node:os';
import { pino, type Logger } from 'pino';
import { redactLogFields } from '../config/secret-redactor.js';
import { LogDestination } from './log-destination.js';

export type { Logger };

export interface LoggerOptions {
  level: string;
  /** Where lines go (a LogDestination, or any stream); standard output by default. */
  destination?: LogOutput;
  /** Bytes of output that may wait to be written before new lines are dropped (standard output only). */
  maxBuffer?: number;
}

/**
 * How every line of the process log is formed. pino is configured from it, and the access log,
 * which forms its lines itself, reads it to write the same level field, time field, base
 * fields and message key as pino (a unit test compares the two).
 */
export interface LogFormat {
  /** The level field: the level's label (`"level":"info"`) or pino's number (`"level":30`). */
  readonly level: 'label' | 'number';
  /** The time field: ISO 8601 in UTC (`"time":"2026-11-30T05:11:23.402Z"`) or milliseconds since the epoch. */
  readonly time: 'iso' | 'epoch';
  /** Fields every line carries after the time, in this order (pid, hostname, name). */
  readonly base: Readonly<Record<string, string | number>>;
  /** The key of a line's message. */
  readonly messageKey: string;
}

/** Where the process log's lines go: the access log writes its chunks of lines there too. */
export interface LogOutput {
  write(chunk: string | Buffer): unknown;
  /** Writes what it holds synchronously (LogDestination; a plain stream has none). */
  flushSync?(): void;
}

/** The process log: the logger, the format of its lines, and where they go. */
export interface ProcessLog {
  readonly logger: Logger;
  readonly format: LogFormat;
  readonly output: LogOutput;
}

/** Default logging.maxBuffer. */
const DEFAULT_MAX_BUFFER = 16 * 1024 * 1024;

/** The router's line format: level labels, ISO time, pid, hostname and `"name":"switchyard"`, `msg`. */
export function routerLogFormat(): LogFormat {
  return { level: 'label', time: 'iso', base: { pid: process.pid, hostname: hostname(), name: 'switchyard' }, messageKey: 'msg' };
}

/**
 * The process log: one JSON object a line (pino) in the router's format, written
 * asynchronously to standard output through a LogDestination, which batches whatever
 * accumulates while a write is under way (the access log hands it lines in 64 KiB chunks of its
 * own), flushes on exit, and drops new lines instead of growing past `maxBuffer` while the
 * output cannot keep up: a full disk or a reader that stopped never holds requests back or
 * grows memory without bound. Dropped lines are reported with the 'drop' event (counted by the
 * router in switchyard_log_lines_dropped_total, see onDroppedLogLines); a write error is
 * reported once per error code on standard error.
 *
 * Every line's fields pass through the secret redactor (config/secret-redactor.ts): a field
 * named like a secret (token, password, authorization, …), URL credentials in any string, and
 * the secrets of a `config` field are written as "(redacted)". The access log forms its lines
 * itself and carries no such field.
 */
export function createProcessLog(options: LoggerOptions, format: LogFormat = routerLogFormat()): ProcessLog {
  const output = options.destination ?? standardOutput(options.maxBuffer ?? DEFAULT_MAX_BUFFER);
  const logger = pino(
    {
      level: options.level,
      base: format.base,
      messageKey: format.messageKey,
      timestamp: format.time === 'iso' ? pino.stdTimeFunctions.isoTime : pino.stdTimeFunctions.epochTime,
      formatters: format.level === 'label' ? { level: (label: string) => ({ level: label }), log: redactLogFields } : { log: redactLogFields },
    },
    output,
  );
  return { logger, format, output };
}

/** The logger of a process log built by createProcessLog (for code that only logs). */
export function createLogger(options: LoggerOptions): Logger {
  return createProcessLog(options).logger;
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

/**
 * Counts the output lines dropped because the log destination's buffer was full (its 'drop'
 * events). Nothing to count for an output that never drops (a plain stream given by a test).
 */
export function onDroppedLogLines(log: ProcessLog, count: (lines: number) => void): void {
  const output = log.output;
  if (!(output instanceof LogDestination)) return;
  output.on('drop', (data: Buffer) => {
    let lines = 0;
    for (let i = data.indexOf(0x0a); i >= 0; i = data.indexOf(0x0a, i + 1)) lines++;
    count(Math.max(1, lines));
  });
}

/** A logger that drops everything (tests that do not read logs). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}

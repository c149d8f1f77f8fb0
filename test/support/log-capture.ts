import { Writable } from 'node:stream';
import { createProcessLog, type Logger, type ProcessLog } from '../../src/observability/logger.js';

/** A process log in the router's format whose JSON lines (access lines included) are kept in memory for assertions. */
export interface CapturedLog {
  logger: Logger;
  /** The whole process log, for Switchyard.start. */
  log: ProcessLog;
  lines: Record<string, unknown>[];
  /** Lines whose message contains `text`. */
  find(text: string): Record<string, unknown>[];
}

export function captureLog(level = 'debug'): CapturedLog {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString('utf8').split('\n')) if (line) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  const log = createProcessLog({ level, destination: sink });
  return { logger: log.logger, log, lines, find: (text) => lines.filter((l) => String(l.msg).includes(text)) };
}

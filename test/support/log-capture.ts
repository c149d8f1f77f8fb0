import { Writable } from 'node:stream';
import { pino, type Logger } from 'pino';

/** A pino logger whose JSON lines are kept in memory for assertions. */
export interface CapturedLog {
  logger: Logger;
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
  const logger = pino({ level }, sink);
  return { logger, lines, find: (text) => lines.filter((l) => String(l.msg).includes(text)) };
}

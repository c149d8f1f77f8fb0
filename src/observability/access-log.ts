import { pino } from 'pino';
import { configure } from 'safe-stable-stringify';
import { AccessLogLines } from './access-log-lines.js';
import type { RequestLogRecord, TunnelLogRecord } from './access-log-record.js';
import type { LogOutput, ProcessLog } from './logger.js';

/**
 * Lines are handed to the destination in chunks of about this many bytes (or by the
 * flush timer), each line encoded into the chunk as it is formed: each write is a thread-pool
 * hand-off plus a system call, so line-by-line writes cost more CPU under load than forming
 * the lines (docs/performance.md).
 */
const CHUNK_BYTES = 64 * 1024;
/** The longest a line waits on a quiet router. */
const FLUSH_INTERVAL_MS = 100;

/** What pino writes for a value JSON.stringify cannot write (pino's depthLimit and edgeLimit defaults). */
const stringifySafe = configure({ maximumDepth: 5, maximumBreadth: 100 });

/**
 * The access log: one JSON line per request, byte for byte what pino would write for
 * `logger.child(bindings).info({...fields}, 'request')` on the process log (AccessLogLines
 * forms them from the process log's LogFormat). A line is formed from the request's record
 * (RequestLogRecord: the exchange itself), on the event loop, into chunks of about 64 KiB,
 * written to the process log's output at the latest 100 ms after they were formed. A closed
 * tunnel's line is written at once.
 *
 * Access lines share the output's bound with the process log (logging.maxBuffer: past it lines
 * are dropped and counted). On close and on exit (SIGTERM included) what was formed is written,
 * through the output's flushSync at exit: a clean shutdown loses no line.
 */
export class AccessLog {
  private readonly lines: AccessLogLines;
  private readonly output: LogOutput;
  private timer: NodeJS.Timeout | null;
  private closed = false;

  constructor(
    log: ProcessLog,
    /** Fields of every access line after the process log's base fields (`component: 'access'`). */
    bindings: Readonly<Record<string, string | number>>,
  ) {
    this.lines = new AccessLogLines(log.format, bindings, stringifySafe);
    this.output = log.output;
    this.timer = setInterval(this.flush, FLUSH_INTERVAL_MS).unref();
    process.once('exit', this.flushOnExit);
  }

  /** A request ended (the hot path): its line, formed from the record as it is. */
  request(r: RequestLogRecord): void {
    const err = r.upstreamError;
    const errJson = err === undefined ? undefined : this.lines.json(pino.stdSerializers.err(err));
    this.lines.request(Date.now(), r, errJson);
    if (this.closed || this.lines.length >= CHUNK_BYTES) this.flush();
  }

  /** A tunnel closed: its line, written at once. */
  tunnel(t: TunnelLogRecord): void {
    this.lines.tunnel(Date.now(), t);
    this.flush();
  }

  /** Hands the lines formed so far to the output. */
  readonly flush = (): void => {
    const chunk = this.lines.take();
    if (chunk !== null) this.output.write(chunk);
  };

  /** Writes everything formed (the router calls it last on shutdown). Lines recorded later are written at once. */
  close(): void {
    this.flush();
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.closed = true;
    process.off('exit', this.flushOnExit);
  }

  private readonly flushOnExit = (): void => {
    this.flush();
    // Runs whether or not the destination's own exit hook has run already.
    try {
      this.output.flushSync?.();
    } catch (err) {
      process.stderr.write(`switchyard: access-log lines could not be written at exit: ${(err as Error).message}\n`);
    }
  };
}

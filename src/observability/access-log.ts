import { pino, type Logger } from 'pino';
import { IsoTimeField } from './iso-time-field.js';

/** Where access-log lines go: the logger's own destination (LogDestination in production). */
interface LineSink {
  write(chunk: Buffer): unknown;
  /** Writes what it holds before the process exits. */
  flushSync?(): void;
}

/**
 * Lines are handed to the destination in chunks of about this many characters (or by the
 * flush timer), encoded once per chunk: each write is a thread-pool hand-off plus a system call,
 * so line-by-line writes cost more CPU under load than forming the lines (docs/performance.md).
 */
const CHUNK_CHARS = 64 * 1024;
/** The longest a line waits on a quiet router. */
const FLUSH_INTERVAL_MS = 100;

interface PinoInternals {
  [key: symbol]: unknown;
}

/**
 * The access log: one JSON line per request, byte for byte what pino would write for
 * `logger.info({...fields}, 'request')` on the given logger (same level field, time format,
 * bindings, field order; a test compares the two), built by a serialiser for this one fixed
 * shape instead of pino's generic one: strings that need no escaping (nearly all) are copied
 * as they are, and the time field is formed once per millisecond (its date once per second).
 * Lines go to the logger's destination in chunks of about 64 KiB, encoded once per chunk, at the
 * latest 100 ms after they were formed, and share its bound (logging.maxBuffer: past it lines
 * are dropped and counted); what is waiting is written on exit (SIGTERM included) through the
 * destination's flushSync.
 *
 * Rare lines (refused requests, tunnels, failures with an error object) take the generic path,
 * `other()`, with the same prefix and JSON.stringify per value.
 */
export class AccessLog {
  private readonly prefix: string;
  private readonly bindings: string;
  private readonly time: () => string;
  /** Set when the logger's time is pino's isoTime: then formatted here, the date once per second. */
  private readonly isoTime: IsoTimeField | null;
  private readonly sink: LineSink;
  /** Lines formed and not yet handed to the destination. */
  private pending = '';
  private readonly timer: NodeJS.Timeout;
  private readonly stringifySafe: (value: unknown) => string;
  private lastMs = -1;
  /** `{"level":…,"time":…` and the bindings for the millisecond `lastMs`. */
  private head = '';
  private headAscii: boolean;
  /** The level prefix and the bindings are ASCII (an ISO time always is). */
  private readonly fixedAscii: boolean;
  /** No character of `pending` is outside ASCII: it is encoded as Latin-1, which is then the same bytes and faster. */
  private ascii = true;

  constructor(logger: Logger) {
    const internals = logger as unknown as PinoInternals;
    const symbols = pino.symbols as unknown as Record<string, symbol>;
    const levels = internals[symbols.lsCacheSym!] as Record<number, string>;
    this.prefix = levels[logger.levels.values.info!]!;
    this.bindings = internals[symbols.chindingsSym!] as string;
    this.time = internals[symbols.timeSym!] as () => string;
    this.isoTime = this.time === pino.stdTimeFunctions.isoTime ? new IsoTimeField() : null;
    this.fixedAscii = isAscii(this.prefix) && isAscii(this.bindings);
    this.headAscii = this.fixedAscii;
    this.sink = internals[symbols.streamSym!] as LineSink;
    this.timer = setInterval(this.flush, FLUSH_INTERVAL_MS).unref();
    process.once('exit', this.flushOnExit);
    this.stringifySafe = internals[symbols.stringifySafeSym!] as (value: unknown) => string;
  }

  /**
   * A forwarded request (the hot path). Positional arguments, in the order the fields are
   * written, so that recording a request allocates nothing but the line. `traceId`, `host` and
   * `path` are left out when undefined, as pino leaves out undefined values.
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
  ): void {
    // Quotes are part of the constant pieces: esc() returns a string that needs no escaping (nearly
    // all) as it is, so no string is made per field.
    let line = `${this.start()},"requestId":"${this.esc(requestId)}"`;
    if (traceId !== undefined) line += `,"traceId":"${this.esc(traceId)}"`;
    if (method !== undefined) line += `,"method":"${this.esc(method)}"`;
    if (host !== undefined) line += `,"host":"${this.esc(host)}"`;
    if (path !== undefined) line += `,"path":"${this.esc(path)}"`;
    line +=
      `,"status":${num(status)},"bytesIn":${num(bytesIn)},"bytesOut":${num(bytesOut)},"durationMs":${millis(durationMs)}` +
      `,"route":"${this.esc(route)}","service":"${this.esc(service)}","upstream":"${this.esc(upstream)}","upstreamStatus":${num(upstreamStatus)}` +
      `,"upstreamMs":${millis(upstreamMs)},"retries":${num(retries)}`;
    if (error !== undefined) line += `,"error":"${this.esc(error)}"`;
    if (err !== undefined) {
      line += `,"err":${this.json(pino.stdSerializers.err(err))}`;
      this.ascii = false;
    }
    this.pending += `${line},"msg":"request"}\n`;
    if (this.pending.length >= CHUNK_CHARS) this.flush();
  }

  /** Any other line: `fields` in their own order (undefined values left out), then `msg`. */
  other(fields: Record<string, unknown>, msg: string): void {
    let line = this.start();
    for (const key in fields) {
      const value = fields[key];
      if (value === undefined) continue;
      line += `,${str(key)}:${typeof value === 'number' ? num(value) : this.json(value)}`;
    }
    this.pending += `${line},"msg":${str(msg)}}\n`;
    this.ascii = false;
    this.flush();
  }

  /** Hands the waiting lines to the destination. */
  readonly flush = (): void => {
    if (this.pending === '') return;
    const chunk = this.pending;
    this.pending = '';
    const encoding = this.ascii ? 'latin1' : 'utf8';
    this.ascii = true;
    this.sink.write(Buffer.from(chunk, encoding));
  };

  /** Stops the flush timer (a router that is replaced by a reload writes what it holds first). */
  close(): void {
    this.flush();
    clearInterval(this.timer);
    process.off('exit', this.flushOnExit);
  }

  private readonly flushOnExit = (): void => {
    this.flush();
    // Runs whether or not the destination's own exit hook has run already.
    try {
      this.sink.flushSync?.();
    } catch (err) {
      process.stderr.write(`switchyard: access-log lines could not be written at exit: ${(err as Error).message}\n`);
    }
  };

  /**
   * A value as JSON, as pino writes it: JSON.stringify, and for what it cannot write (a circular
   * structure, such as a TLS error's certificate chain) pino's own safe stringifier.
   */
  private json(value: unknown): string {
    try {
      return JSON.stringify(value);
    } catch {
      try {
        return this.stringifySafe(value);
      } catch {
        return '"[unable to serialize, circular reference is too complex to analyze]"';
      }
    }
  }

  /** `{"level":…,"time":…` plus the logger's bindings (pid, hostname, name, component). */
  private start(): string {
    const now = Date.now();
    if (now !== this.lastMs) {
      this.lastMs = now;
      if (this.isoTime !== null) {
        this.head = this.prefix + this.isoTime.format(now) + this.bindings;
      } else {
        const time = this.time();
        this.head = this.prefix + time + this.bindings;
        this.headAscii = this.fixedAscii && isAscii(time);
      }
    }
    if (!this.headAscii) this.ascii = false;
    return this.head;
  }

  /**
   * A JSON string's content without its quotes: `s` itself unless it has a character JSON must
   * escape (then JSON.stringify's). Notes a character outside ASCII.
   */
  private esc(s: string): string {
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c < 32 || c === 34 || c === 92 || (c >= 0xd800 && c <= 0xdfff)) {
        this.ascii = false;
        return JSON.stringify(s).slice(1, -1);
      }
      if (c > 0x7f) this.ascii = false;
    }
    return s;
  }
}

/** A JSON string (the rare lines' keys and messages). */
function str(s: string): string {
  return JSON.stringify(s);
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/**
 * A millisecond figure rounded to the microsecond, written as
 * JavaScript writes that number (`1.5`, `0.012`, `3`), from integers: formatting a fractional
 * double takes several times as long as formatting two integers. Anything else (negative, NaN,
 * huge) takes the general path.
 */
function millis(ms: number): string {
  if (!(ms >= 0 && ms < 1e9)) return num(ms);
  const us = Math.round(ms * 1000);
  const whole = Math.floor(us / 1000);
  const frac = us - whole * 1000;
  if (frac === 0) return `${whole}`;
  if (frac % 100 === 0) return `${whole}.${frac / 100}`;
  if (frac % 10 === 0) return `${whole}.${frac < 100 ? '0' : ''}${frac / 10}`;
  return `${whole}.${frac < 10 ? '00' : frac < 100 ? '0' : ''}${frac}`;
}

/** A JSON number, as pino writes it (null for NaN and infinities). */
function num(n: number): string {
  return Number.isFinite(n) ? `${n}` : 'null';
}

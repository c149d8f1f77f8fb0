import { IsoTimeField } from './iso-time-field.js';

/**
 * How the logger writes its time field: pino's `isoTime` (`,"time":"…Z"`), `epochTime`
 * (`,"time":1764482400000`), or any other function (called when the line is formed).
 */
export type TimeFormat = 'iso' | 'epoch' | (() => string);

/** What a line starts with, read from the logger once (plain data: it also crosses to the log thread). */
export interface LineShape {
  /** `{"level":"info"` */
  prefix: string;
  /** The logger's bindings, `,"pid":…,"hostname":…,"name":…,"component":"access"`. */
  bindings: string;
  time: TimeFormat;
}

/**
 * Access-log lines formed into chunks: byte for byte what pino writes for
 * `logger.info({...fields}, 'request')` (same level field, time format, bindings, field order;
 * a test compares the two), built by a serialiser for this one fixed shape instead of pino's
 * generic one: strings that need no escaping (nearly all) are copied as they are, the time
 * field is formed once per millisecond (its date once per second), and the chunk is encoded
 * once, as Latin-1 when every character is ASCII (the same bytes as UTF-8, encoded faster).
 *
 * Used where the lines are formed: on the access log's own thread (access-log-thread.ts, through LineBytes for most lines), or on the
 * event loop when the access log runs without one.
 */
export class AccessLogLines {
  /** Lines formed and not yet taken. */
  private pending = '';
  /** No character of `pending` is outside ASCII. */
  private ascii = true;
  /** Null when the logger's time is a function of its own (called per line). */
  private readonly head: LineHead | null;
  /** The level prefix and the bindings are ASCII (a time field of pino's always is). */
  private readonly fixedAscii: boolean;

  constructor(
    private readonly shape: LineShape,
    /** For values JSON.stringify cannot write (circular structures): pino's safe stringifier. */
    private readonly stringifySafe: ((value: unknown) => string) | null = null,
  ) {
    this.head = typeof shape.time === 'function' ? null : new LineHead(shape);
    this.fixedAscii = isAscii(shape.prefix) && isAscii(shape.bindings);
  }

  /** Characters waiting to be taken. */
  get length(): number {
    return this.pending.length;
  }

  /**
   * A forwarded request's line, positional arguments in the order the fields are written.
   * `traceId`, `host`, `path`, `userAgent` and `tls` are left out when undefined, as pino leaves
   * out undefined values; `errJson` is the `err` field already written as JSON.
   */
  request(
    timeMs: number,
    requestId: string,
    traceId: string | undefined,
    method: string | undefined,
    host: string | undefined,
    path: string | undefined,
    status: number,
    bytesIn: number,
    bytesOut: number,
    durationMs: number,
    route: string,
    service: string,
    upstream: string,
    upstreamStatus: number,
    upstreamMs: number,
    retries: number,
    error: string | undefined,
    errJson: string | undefined,
    clientAddress: string,
    userAgent: string | undefined,
    protocol: string,
    tls: string | undefined,
  ): void {
    // Quotes are part of the constant pieces: esc() returns a string that needs no escaping (nearly
    // all) as it is, so no string is made per field.
    let line = `${this.start(timeMs)},"requestId":"${this.esc(requestId)}"`;
    if (traceId !== undefined) line += `,"traceId":"${this.esc(traceId)}"`;
    if (method !== undefined) line += `,"method":"${this.esc(method)}"`;
    if (host !== undefined) line += `,"host":"${this.esc(host)}"`;
    if (path !== undefined) line += `,"path":"${this.esc(path)}"`;
    line +=
      `,"status":${num(status)},"bytesIn":${num(bytesIn)},"bytesOut":${num(bytesOut)},"durationMs":${millis(durationMs)}` +
      `,"route":"${this.esc(route)}","service":"${this.esc(service)}","upstream":"${this.esc(upstream)}","upstreamStatus":${num(upstreamStatus)}` +
      `,"upstreamMs":${millis(upstreamMs)},"retries":${num(retries)}`;
    if (error !== undefined) line += `,"error":"${this.esc(error)}"`;
    if (errJson !== undefined) {
      line += `,"err":${errJson}`;
      this.ascii = false;
    }
    line += `,"clientAddress":"${this.esc(clientAddress)}"`;
    if (userAgent !== undefined) line += `,"userAgent":"${this.esc(userAgent)}"`;
    line += `,"protocol":"${this.esc(protocol)}"`;
    if (tls !== undefined) line += `,"tls":"${this.esc(tls)}"`;
    this.pending += `${line},"msg":"request"}\n`;
  }

  /** Any other line: `fields` in their own order (undefined values left out), then `msg`. */
  other(timeMs: number, fields: Record<string, unknown>, msg: string): void {
    let line = this.start(timeMs);
    for (const key in fields) {
      const value = fields[key];
      if (value === undefined) continue;
      line += `,${JSON.stringify(key)}:${typeof value === 'number' ? num(value) : this.json(value)}`;
    }
    this.pending += `${line},"msg":${JSON.stringify(msg)}}\n`;
    this.ascii = false;
  }

  /** A line formed elsewhere, newline included; `ascii` when none of its characters is outside ASCII. */
  line(text: string, ascii: boolean): void {
    this.pending += text;
    if (!ascii) this.ascii = false;
  }

  /** The lines formed so far as text (for the access log's queue), emptied. */
  takeText(): string {
    const text = this.pending;
    this.pending = '';
    this.ascii = true;
    return text;
  }

  /** The lines formed so far, encoded, or null when there are none. */
  take(): Buffer | null {
    if (this.pending === '') return null;
    const chunk = this.pending;
    const encoding = this.ascii ? 'latin1' : 'utf8';
    this.pending = '';
    this.ascii = true;
    return Buffer.from(chunk, encoding);
  }

  /**
   * A value as JSON, as pino writes it: JSON.stringify, and for what it cannot write (a circular
   * structure, such as a TLS error's certificate chain) pino's own safe stringifier.
   */
  json(value: unknown): string {
    try {
      return JSON.stringify(value);
    } catch (err) {
      if (this.stringifySafe === null) return `"[unable to serialize: ${(err as Error).message}]"`;
      try {
        return this.stringifySafe(value);
      } catch {
        return '"[unable to serialize, circular reference is too complex to analyze]"';
      }
    }
  }

  /** `{"level":…,"time":…` plus the logger's bindings (pid, hostname, name, component). */
  private start(timeMs: number): string {
    if (this.head !== null) {
      if (!this.fixedAscii) this.ascii = false;
      return this.head.at(timeMs);
    }
    const field = (this.shape.time as () => string)();
    if (!(this.fixedAscii && isAscii(field))) this.ascii = false;
    return this.shape.prefix + field + this.shape.bindings;
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

/**
 * A line's start, `{"level":…,"time":…` and the logger's bindings, for the logger's time field
 * when it is pino's isoTime or epochTime: formed once per millisecond (the ISO date once per second).
 */
export class LineHead {
  private readonly isoTime: IsoTimeField | null;
  private lastMs = Number.NaN;
  private text = '';

  constructor(private readonly shape: LineShape) {
    if (typeof shape.time === 'function') throw new Error('LineHead: the time field must be pino\'s isoTime or epochTime');
    this.isoTime = shape.time === 'iso' ? new IsoTimeField() : null;
  }

  /** The start of a line of millisecond `ms` (the same string object for the same millisecond). */
  at(ms: number): string {
    if (ms !== this.lastMs) {
      this.lastMs = ms;
      this.text = this.shape.prefix + (this.isoTime !== null ? this.isoTime.format(ms) : `,"time":${ms}`) + this.shape.bindings;
    }
    return this.text;
  }
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

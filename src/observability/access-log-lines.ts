import type { RequestLogRecord, TunnelLogRecord } from './access-log-record.js';
import { IsoTimeField } from './iso-time-field.js';
import type { LogFormat } from './logger.js';

/**
 * Access-log lines formed into chunks: byte for byte what pino writes for
 * `logger.child(bindings).info({...fields}, 'request')` on a logger built from the same
 * LogFormat (same level field, time format, base fields, bindings, field order, message key; a
 * test compares the two), built by a serialiser for these few fixed shapes instead of pino's
 * generic one: strings that need no escaping (nearly all) are copied as they are, the start of
 * the line is formed once per millisecond (its date once per second).
 *
 * A forwarded request's line whose strings are plain ASCII (nearly every line) is written
 * straight into the chunk's bytes (requestBytes); any other line is formed as a string and
 * encoded into the chunk's Buffer as soon as it is formed, as Latin-1 when every character is
 * ASCII (the same bytes as UTF-8, encoded faster). Appending the lines to one
 * string and encoding it when the chunk is taken cost more: the string is a rope of a few
 * thousand pieces that lives through scavenges and is flattened at once, which took about 3 %
 * of a GET's CPU (docs/performance.md, "Third pass"); a line's own rope is flattened while it
 * is young and in cache.
 */
export class AccessLogLines {
  /** The chunk being filled, and the bytes of it used. */
  private chunk: Buffer = Buffer.allocUnsafeSlow(CHUNK_BUFFER_BYTES);
  private used = 0;
  /** No character of the line being formed is outside ASCII. */
  private ascii = true;
  private readonly head: LineHead;
  /** The level field, the bindings and the message key are ASCII (a time field always is). */
  private readonly fixedAscii: boolean;
  /** `,"msg":"request"}\n` and `,"msg":"tunnel"}\n` with the format's message key. */
  private readonly requestEnd: string;
  private readonly tunnelEnd: string;
  /** `requestEnd` encoded (used when fixedAscii). */
  private readonly requestEndBytes: Uint8Array;

  constructor(
    format: LogFormat,
    /** The access log's own fields after the format's base fields (`component: 'access'`). */
    bindings: Readonly<Record<string, string | number>>,
    /** For values JSON.stringify cannot write (circular structures): a safe stringifier. */
    private readonly stringifySafe: (value: unknown) => string | undefined,
  ) {
    const level = format.level === 'label' ? '{"level":"info"' : '{"level":30';
    let fields = '';
    for (const key in format.base) fields += `,${JSON.stringify(key)}:${JSON.stringify(format.base[key])}`;
    for (const key in bindings) fields += `,${JSON.stringify(key)}:${JSON.stringify(bindings[key])}`;
    const messageKey = JSON.stringify(format.messageKey);
    this.head = new LineHead(level, format.time, fields);
    this.fixedAscii = isAscii(level) && isAscii(fields) && isAscii(messageKey);
    this.requestEnd = `,${messageKey}:"request"}\n`;
    this.tunnelEnd = `,${messageKey}:"tunnel"}\n`;
    this.requestEndBytes = Buffer.from(this.requestEnd, 'utf8');
  }

  /** Bytes waiting to be taken. */
  get length(): number {
    return this.used;
  }

  /**
   * A request's line: the record's fields in their order. `traceId`, `method`, `host`, `path`,
   * `userAgent` and `tls` are left out when undefined, as pino leaves out undefined values; `upstreamStatus`
   * and `upstreamMs` when the request was not sent upstream. `errJson` is the `err` field
   * already written as JSON.
   */
  request(timeMs: number, r: RequestLogRecord, errJson: string | undefined): void {
    if (errJson === undefined && this.fixedAscii && this.requestBytes(timeMs, r)) return;
    // Quotes are part of the constant pieces: esc() returns a string that needs no escaping (nearly
    // all) as it is, so no string is made per field.
    this.ascii = true;
    let line = `${this.start(timeMs)},"requestId":"${this.esc(r.requestId)}"`;
    const traceId = r.traceId;
    if (traceId !== undefined) line += `,"traceId":"${this.esc(traceId)}"`;
    const method = r.method;
    if (method !== undefined) line += `,"method":"${this.esc(method)}"`;
    const host = r.host;
    if (host !== undefined) line += `,"host":"${this.esc(host)}"`;
    const target = r.target;
    if (target !== undefined) line += `,"path":"${this.esc(target)}"`;
    const route = r.routeName;
    const service = r.serviceName;
    const upstream = r.upstreamAddress;
    if (route !== null && service !== null && upstream !== null) {
      // A forwarded request (nearly all lines): one piece, so the line is a short rope.
      line +=
        `,"status":${num(r.status)},"bytesIn":${num(r.bytesIn)},"bytesOut":${num(r.bytesOut)},"durationMs":${millis(r.durationMs)}` +
        `,"route":"${this.esc(route)}","service":"${this.esc(service)}","upstream":"${this.esc(upstream)}"` +
        `,"upstreamStatus":${num(r.upstreamStatus)},"upstreamMs":${millis(r.upstreamMs)},"retries":${num(r.retries)}`;
    } else {
      // Answered by the proxy itself: no route matched, or the request was not sent upstream.
      line +=
        `,"status":${num(r.status)},"bytesIn":${num(r.bytesIn)},"bytesOut":${num(r.bytesOut)},"durationMs":${millis(r.durationMs)}` +
        `,"route":${this.nullable(route)},"service":${this.nullable(service)},"upstream":${this.nullable(upstream)}`;
      if (upstream !== null) line += `,"upstreamStatus":${num(r.upstreamStatus)},"upstreamMs":${millis(r.upstreamMs)}`;
      line += `,"retries":${num(r.retries)}`;
    }
    const error = r.errorCode;
    if (error !== undefined) line += `,"error":"${this.esc(error)}"`;
    if (errJson !== undefined) {
      line += `,"err":${errJson}`;
      this.ascii = false;
    }
    line += `,"clientAddress":"${this.esc(r.clientAddress)}"`;
    const userAgent = r.userAgent;
    if (userAgent !== undefined) line += `,"userAgent":"${this.esc(userAgent)}"`;
    line += `,"protocol":"${this.esc(r.httpProtocol)}"`;
    const tls = r.tlsVersion;
    if (tls !== undefined) line += `,"tls":"${this.esc(tls)}"`;
    this.append(line + this.requestEnd);
  }

  /** A closed tunnel's line (`msg: "tunnel"`), status 101. */
  tunnel(timeMs: number, t: TunnelLogRecord): void {
    this.ascii = true;
    let line = `${this.start(timeMs)},"requestId":"${this.esc(t.requestId)}"`;
    const method = t.method;
    if (method !== undefined) line += `,"method":"${this.esc(method)}"`;
    const host = t.host;
    if (host !== undefined) line += `,"host":"${this.esc(host)}"`;
    const target = t.target;
    if (target !== undefined) line += `,"path":"${this.esc(target)}"`;
    line +=
      `,"status":101,"protocol":"${this.esc(t.protocol)}","bytesIn":${num(t.bytesFromClient)},"bytesOut":${num(t.bytesToClient)}` +
      `,"durationMs":${millis(t.durationMs)},"tunnelMs":${millis(t.tunnelMs)}` +
      `,"route":"${this.esc(t.routeName)}","service":"${this.esc(t.serviceName)}","upstream":"${this.esc(t.upstreamAddress)}"` +
      `,"clientAddress":"${this.esc(t.clientAddress)}"`;
    const userAgent = t.userAgent;
    if (userAgent !== undefined) line += `,"userAgent":"${this.esc(userAgent)}"`;
    const tls = t.tlsVersion;
    if (tls !== undefined) line += `,"tls":"${this.esc(tls)}"`;
    this.append(line + this.tunnelEnd);
  }

  /**
   * The line of a forwarded request whose strings need no escaping and are ASCII (nearly every
   * line), written straight into the chunk's bytes: the same bytes as request()'s string path
   * (tests compare both with pino), without forming the line as a string of some forty
   * concatenated pieces and flattening it to encode it (about half of the access log's CPU,
   * docs/performance.md "Third pass"). Returns false, with nothing written, for any other line:
   * request() then forms it as a string.
   */
  private requestBytes(timeMs: number, r: RequestLogRecord): boolean {
    const route = r.routeName;
    const service = r.serviceName;
    const upstream = r.upstreamAddress;
    if (route === null || service === null || upstream === null) return false;
    const requestId = r.requestId;
    const traceId = r.traceId;
    const method = r.method;
    const host = r.host;
    const target = r.target;
    const clientAddress = r.clientAddress;
    const userAgent = r.userAgent;
    const protocol = r.httpProtocol;
    const tls = r.tlsVersion;
    const head = this.head.bytesAt(timeMs);
    // Room for the whole line: the strings (one byte a character when ASCII), numbers (at most
    // 24 bytes each as JavaScript writes them), the constant pieces.
    const room =
      head.length + requestId.length + (traceId?.length ?? 0) + (method?.length ?? 0) + (host?.length ?? 0) + (target?.length ?? 0) +
      route.length + service.length + upstream.length + clientAddress.length + (userAgent?.length ?? 0) + protocol.length + (tls?.length ?? 0) +
      this.requestEndBytes.length + 8 * 24 + 512;
    if (this.used + room > this.chunk.length) this.startChunk(room);
    const start = this.used;
    const out = this.chunk;
    out.set(head, start);
    this.used = start + head.length;
    if (
      !(
        this.putField(K_REQUEST_ID, requestId) &&
        (traceId === undefined || this.putField(K_TRACE_ID, traceId)) &&
        (method === undefined || this.putField(K_METHOD, method)) &&
        (host === undefined || this.putField(K_HOST, host)) &&
        (target === undefined || this.putField(K_PATH, target))
      )
    ) {
      this.used = start;
      return false;
    }
    this.putConstant(K_STATUS);
    this.putNumber(r.status);
    this.putConstant(K_BYTES_IN);
    this.putNumber(r.bytesIn);
    this.putConstant(K_BYTES_OUT);
    this.putNumber(r.bytesOut);
    this.putConstant(K_DURATION);
    this.putMillis(r.durationMs);
    if (!(this.putField(K_ROUTE, route) && this.putField(K_SERVICE, service) && this.putField(K_UPSTREAM, upstream))) {
      this.used = start;
      return false;
    }
    this.putConstant(K_UPSTREAM_STATUS);
    this.putNumber(r.upstreamStatus);
    this.putConstant(K_UPSTREAM_MS);
    this.putMillis(r.upstreamMs);
    this.putConstant(K_RETRIES);
    this.putNumber(r.retries);
    const error = r.errorCode;
    if (
      !(
        (error === undefined || this.putField(K_ERROR, error)) &&
        this.putField(K_CLIENT_ADDRESS, clientAddress) &&
        (userAgent === undefined || this.putField(K_USER_AGENT, userAgent)) &&
        this.putField(K_PROTOCOL, protocol) &&
        (tls === undefined || this.putField(K_TLS, tls))
      )
    ) {
      this.used = start;
      return false;
    }
    this.putConstant(this.requestEndBytes);
    return true;
  }

  /** `,"name":"` then `value` and its closing quote; false when the value needs escaping or is not ASCII. */
  private putField(name: Uint8Array, value: string): boolean {
    this.putConstant(name);
    const out = this.chunk;
    let at = this.used;
    for (let i = 0; i < value.length; i++) {
      const c = value.charCodeAt(i);
      if (c < 32 || c === 34 || c === 92 || c > 0x7f) return false;
      out[at++] = c;
    }
    out[at++] = 34; // "
    this.used = at;
    return true;
  }

  /** A constant piece, copied with TypedArray set() (a JavaScript loop over its bytes measured slower). */
  private putConstant(bytes: Uint8Array): void {
    this.chunk.set(bytes, this.used);
    this.used += bytes.length;
  }

  /** A JSON number as JavaScript writes it: digits for a whole number, num() for the rest. */
  private putNumber(n: number): void {
    if (Number.isInteger(n) && n >= 0 && n < 1e15) this.putDigits(n);
    else this.putAscii(num(n));
  }

  /** millis() written into the chunk: the same characters, without the string. */
  private putMillis(ms: number): void {
    if (!(ms >= 0 && ms < 1e9)) {
      this.putAscii(num(ms));
      return;
    }
    const us = Math.round(ms * 1000);
    const whole = Math.floor(us / 1000);
    const frac = us - whole * 1000;
    this.putDigits(whole);
    if (frac === 0) return;
    const out = this.chunk;
    let at = this.used;
    out[at++] = 46; // .
    const d1 = Math.floor(frac / 100);
    const d2 = Math.floor(frac / 10) % 10;
    const d3 = frac % 10;
    out[at++] = 48 + d1;
    if (d2 !== 0 || d3 !== 0) out[at++] = 48 + d2;
    if (d3 !== 0) out[at++] = 48 + d3;
    this.used = at;
  }

  /** A whole number 0 ≤ n < 1e15 in decimal. */
  private putDigits(n: number): void {
    let digits = 1;
    for (let p = 10; p <= n; p *= 10) digits++;
    const out = this.chunk;
    let at = this.used + digits;
    this.used = at;
    do {
      const q = Math.floor(n / 10);
      out[--at] = 48 + (n - q * 10);
      n = q;
    } while (n > 0);
  }

  /** An ASCII string (a number as num() writes it). */
  private putAscii(s: string): void {
    const out = this.chunk;
    let at = this.used;
    for (let i = 0; i < s.length; i++) out[at++] = s.charCodeAt(i);
    this.used = at;
  }

  /**
   * Encodes a formed line into the chunk (Latin-1 when it is ASCII). A line that might not fit
   * starts a new chunk: the full one is kept for take() in `full`.
   */
  private append(line: string): void {
    const ascii = this.ascii;
    // UTF-8 takes at most 3 bytes per UTF-16 code unit.
    const most = ascii ? line.length : line.length * 3;
    if (this.used + most > this.chunk.length) this.startChunk(most);
    this.used += this.chunk.write(line, this.used, ascii ? 'latin1' : 'utf8');
  }

  /** Chunks filled before the current one, not yet taken (rare: a chunk is taken at about 64 KiB). */
  private full: Buffer[] | null = null;

  private startChunk(room: number): void {
    if (this.used > 0) (this.full ??= []).push(this.chunk.subarray(0, this.used));
    this.chunk = Buffer.allocUnsafeSlow(Math.max(CHUNK_BUFFER_BYTES, room));
    this.used = 0;
  }

  /** The lines formed so far, encoded, or null when there are none. The caller owns the Buffer. */
  take(): Buffer | null {
    const full = this.full;
    if (this.used === 0 && full === null) return null;
    let taken: Buffer;
    if (full === null) {
      if (this.used < KEEP_CHUNK_BELOW) {
        // A few lines (a quiet router's timer, a tunnel's line): copied out, the chunk kept.
        taken = Buffer.allocUnsafe(this.used);
        this.chunk.copy(taken, 0, 0, this.used);
      } else {
        taken = this.chunk.subarray(0, this.used);
        this.chunk = Buffer.allocUnsafeSlow(CHUNK_BUFFER_BYTES);
      }
    } else {
      this.full = null;
      if (this.used > 0) full.push(this.chunk.subarray(0, this.used));
      taken = Buffer.concat(full);
    }
    this.used = 0;
    return taken;
  }

  /**
   * A value as JSON, as pino writes it: JSON.stringify, and for what it cannot write (a circular
   * structure, such as a TLS error's certificate chain) the safe stringifier pino uses.
   */
  json(value: unknown): string {
    try {
      return JSON.stringify(value);
    } catch {
      try {
        return this.stringifySafe(value) ?? 'null';
      } catch {
        return '"[unable to serialize, circular reference is too complex to analyze]"';
      }
    }
  }

  /** `{"level":…,"time":…` plus the base fields and bindings (pid, hostname, name, component). */
  private start(timeMs: number): string {
    if (!this.fixedAscii) this.ascii = false;
    return this.head.at(timeMs);
  }

  /** A string field's value, or `null`. */
  private nullable(s: string | null): string {
    return s === null ? 'null' : `"${this.esc(s)}"`;
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
 * A line's start, `{"level":…,"time":…` and the fields every access line carries, formed once
 * per millisecond (the ISO date once per second).
 */
class LineHead {
  private readonly isoTime: IsoTimeField | null;
  private lastMs = Number.NaN;
  private text = '';

  constructor(
    private readonly level: string,
    time: LogFormat['time'],
    private readonly fields: string,
  ) {
    this.isoTime = time === 'iso' ? new IsoTimeField() : null;
  }

  /** The start of a line of millisecond `ms` (the same string object for the same millisecond). */
  at(ms: number): string {
    if (ms !== this.lastMs) {
      this.lastMs = ms;
      this.text = this.level + (this.isoTime !== null ? this.isoTime.format(ms) : `,"time":${ms}`) + this.fields;
      this.bytes = null;
    }
    return this.text;
  }

  private bytes: Uint8Array | null = null;

  /** at(ms) encoded as UTF-8 (encoded once per millisecond). */
  bytesAt(ms: number): Uint8Array {
    const text = this.at(ms);
    return (this.bytes ??= Buffer.from(text, 'utf8'));
  }
}

/** The constant pieces between a request line's values, encoded. */
const K_REQUEST_ID = Buffer.from(',"requestId":"', 'latin1');
const K_TRACE_ID = Buffer.from(',"traceId":"', 'latin1');
const K_METHOD = Buffer.from(',"method":"', 'latin1');
const K_HOST = Buffer.from(',"host":"', 'latin1');
const K_PATH = Buffer.from(',"path":"', 'latin1');
const K_STATUS = Buffer.from(',"status":', 'latin1');
const K_BYTES_IN = Buffer.from(',"bytesIn":', 'latin1');
const K_BYTES_OUT = Buffer.from(',"bytesOut":', 'latin1');
const K_DURATION = Buffer.from(',"durationMs":', 'latin1');
const K_ROUTE = Buffer.from(',"route":"', 'latin1');
const K_SERVICE = Buffer.from(',"service":"', 'latin1');
const K_UPSTREAM = Buffer.from(',"upstream":"', 'latin1');
const K_UPSTREAM_STATUS = Buffer.from(',"upstreamStatus":', 'latin1');
const K_UPSTREAM_MS = Buffer.from(',"upstreamMs":', 'latin1');
const K_RETRIES = Buffer.from(',"retries":', 'latin1');
const K_ERROR = Buffer.from(',"error":"', 'latin1');
const K_CLIENT_ADDRESS = Buffer.from(',"clientAddress":"', 'latin1');
const K_USER_AGENT = Buffer.from(',"userAgent":"', 'latin1');
const K_PROTOCOL = Buffer.from(',"protocol":"', 'latin1');
const K_TLS = Buffer.from(',"tls":"', 'latin1');

/**
 * Bytes of a chunk's Buffer: the access log takes a chunk at 64 KiB (CHUNK_BYTES in
 * access-log.ts), so a chunk holds that much and the line that crossed it.
 */
const CHUNK_BUFFER_BYTES = 80 * 1024;
/** A chunk taken with fewer bytes than this is copied out and its Buffer filled again. */
const KEEP_CHUNK_BELOW = 8 * 1024;

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

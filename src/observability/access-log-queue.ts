import type { AccessLogLines } from './access-log-lines.js';
import { pieceOf, type LineBytes } from './access-log-line-bytes.js';

/**
 * The access log's records on their way from the event loop to the thread that forms the lines:
 * a ring of bytes in shared memory, one writer (the event loop) and one reader at a time.
 *
 * A request's record is its fields as they are (numbers as numbers, strings as their bytes), so
 * the event loop does a few stores and copies per request where forming the JSON line took about
 * five times as long (docs/performance.md). Strings that repeat from request to request (route,
 * service, upstream, method, error code) are sent once, as a definition record, and then by
 * number; the table is bounded (past it strings are sent inline), never reset, so that the
 * event loop can read any record still in the ring with its own copy of the table.
 *
 * Positions are byte counts since the start, kept as 32-bit integers that wrap (differences are
 * taken with `| 0`); a record never wraps around the end of the ring (a skip record fills the
 * rest). `tail` is advanced by the writer once a record is complete; `head` by the event loop once
 * the lines up to a position were handed to the log destination: space is freed only then, so
 * nothing is lost if the reading thread stops.
 *
 * Written by hand: no library offers a typed shared-memory record queue; Node's MessagePort
 * would clone an object per line, which costs more than forming the line.
 */

/** Control words (Int32Array indexes) in front of the data. */
const TAIL = 0;
const HEAD = 1;
/** Set to 1 with a notify when the reader should look now rather than at its next timeout. */
const WAKE = 2;
const STOP = 3;
const CONTROL_BYTES = 64;

const KIND_SKIP = 0;
const KIND_REQUEST = 1;
const KIND_DEFINE = 2;
const KIND_LINE = 3;

/** Bytes of a request record before its strings: header, 5 float64, 10 int32. */
const REQUEST_FIXED = 8 + 5 * 8 + 10 * 4;
/** Strings sent by number at most; later new ones go inline. */
const MAX_DEFINED = 4096;
/** An interned field that is undefined / sent inline. */
const FIELD_UNDEFINED = -2;
const FIELD_INLINE = -1;
/** A string that is undefined; the encodings of a string's bytes (low two bits of its length word). */
const STRING_UNDEFINED = -1;
const STRING_ASCII = 0;
const STRING_UTF8 = 1;
const STRING_UTF16 = 2;
const ENCODINGS = ['latin1', 'utf8', 'utf16le'] as const;

/** The constant pieces of a request line, for LineBytes (see AccessLogLines.request for the shape). */
const P_REQUEST_ID = pieceOf(',"requestId":"');
const P_TRACE_ID = pieceOf('","traceId":"');
const P_METHOD = pieceOf('","method":"');
const P_HOST = pieceOf('","host":"');
const P_PATH = pieceOf('","path":"');
const P_STATUS = pieceOf('","status":');
const P_BYTES_IN = pieceOf(',"bytesIn":');
const P_BYTES_OUT = pieceOf(',"bytesOut":');
const P_DURATION = pieceOf(',"durationMs":');
const P_ROUTE = pieceOf(',"route":"');
const P_SERVICE = pieceOf('","service":"');
const P_UPSTREAM = pieceOf('","upstream":"');
const P_UPSTREAM_STATUS = pieceOf('","upstreamStatus":');
const P_UPSTREAM_MS = pieceOf(',"upstreamMs":');
const P_RETRIES = pieceOf(',"retries":');
const P_ERROR = pieceOf(',"error":"');
const P_CLIENT_ADDRESS_AFTER_ERROR = pieceOf('","clientAddress":"');
const P_CLIENT_ADDRESS = pieceOf(',"clientAddress":"');
const P_USER_AGENT = pieceOf('","userAgent":"');
const P_PROTOCOL = pieceOf('","protocol":"');
const P_TLS = pieceOf('","tls":"');
const P_END = pieceOf('","msg":"request"}\n');
/** Bytes of those pieces and the numbers of a line, at most. */
const REQUEST_LINE_FIXED = 512;

/** What the reader gets back from a string slot (kept on the instance: no tuple per string). */
interface Cursor {
  at: number;
}

export class AccessLogQueue {
  readonly memory: SharedArrayBuffer;
  readonly capacity: number;
  private readonly control: Int32Array;
  private readonly bytes: Buffer;
  private readonly words: Int32Array;
  private readonly doubles: Float64Array;

  // Writer state (the event loop).
  private tail: number;
  private head: number;
  private readonly ids = new Map<string, number>();
  /** Every defined string by number (the writer's copy, also used to read records back). */
  readonly defined: string[] = [];
  /** Woken since the ring was last half empty. */
  private woken = false;

  private readonly cursor: Cursor = { at: 0 };

  /**
   * `capacity`: bytes of records the ring holds, a power of two. Pass `memory` to attach to a ring
   * made by another thread.
   */
  constructor(capacity: number, memory?: SharedArrayBuffer) {
    if (!(capacity >= 1024 && capacity <= 1 << 30 && (capacity & (capacity - 1)) === 0)) {
      throw new Error(`access log queue: capacity ${capacity} must be a power of two between 1 KiB and 1 GiB`);
    }
    this.capacity = capacity;
    this.memory = memory ?? new SharedArrayBuffer(CONTROL_BYTES + capacity);
    this.control = new Int32Array(this.memory, 0, CONTROL_BYTES / 4);
    this.bytes = Buffer.from(this.memory, CONTROL_BYTES, capacity);
    this.words = new Int32Array(this.memory, CONTROL_BYTES, capacity / 4);
    this.doubles = new Float64Array(this.memory, CONTROL_BYTES, capacity / 8);
    this.tail = Atomics.load(this.control, TAIL);
    this.head = Atomics.load(this.control, HEAD);
  }

  // ---- writer (event loop) ----

  /** Bytes of records written and not yet released. */
  get used(): number {
    return (this.tail - this.head) | 0;
  }

  /**
   * Queues a request's fields; false (nothing queued) when the ring has no room. Arguments as
   * AccessLogLines.request, `timeMs` first.
   */
  putRequest(
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
    clientAddress: string,
    userAgent: string | undefined,
    protocol: string,
    tls: string | undefined,
  ): boolean {
    const routeId = this.intern(route);
    const serviceId = this.intern(service);
    const upstreamId = this.intern(upstream);
    const methodId = method === undefined ? FIELD_UNDEFINED : this.intern(method);
    const errorId = error === undefined ? FIELD_UNDEFINED : this.intern(error);
    const protocolId = this.intern(protocol);
    const tlsId = tls === undefined ? FIELD_UNDEFINED : this.intern(tls);
    // Worst case: 3 bytes per UTF-16 unit, plus length word and padding for each of up to 13 strings.
    let bound = REQUEST_FIXED + 13 * 8 + 3 * (requestId.length + (traceId?.length ?? 0) + (host?.length ?? 0) + (path?.length ?? 0));
    bound += 3 * (clientAddress.length + (userAgent?.length ?? 0));
    if (routeId === FIELD_INLINE) bound += 3 * route.length;
    if (serviceId === FIELD_INLINE) bound += 3 * service.length;
    if (upstreamId === FIELD_INLINE) bound += 3 * upstream.length;
    if (methodId === FIELD_INLINE) bound += 3 * method!.length;
    if (errorId === FIELD_INLINE) bound += 3 * error!.length;
    if (protocolId === FIELD_INLINE) bound += 3 * protocol.length;
    if (tlsId === FIELD_INLINE) bound += 3 * tls!.length;
    const start = this.reserve(bound);
    if (start < 0) return false;
    const w = start >> 2;
    const d = start >> 3;
    const words = this.words;
    const doubles = this.doubles;
    words[w + 1] = KIND_REQUEST;
    doubles[d + 1] = timeMs;
    doubles[d + 2] = bytesIn;
    doubles[d + 3] = bytesOut;
    doubles[d + 4] = durationMs;
    doubles[d + 5] = upstreamMs;
    words[w + 12] = status;
    words[w + 13] = upstreamStatus;
    words[w + 14] = retries;
    words[w + 15] = routeId;
    words[w + 16] = serviceId;
    words[w + 17] = upstreamId;
    words[w + 18] = methodId;
    words[w + 19] = errorId;
    words[w + 20] = protocolId;
    words[w + 21] = tlsId;
    let at = start + REQUEST_FIXED;
    at = this.putString(requestId, at);
    at = this.putString(traceId, at);
    at = this.putString(host, at);
    at = this.putString(path, at);
    if (routeId === FIELD_INLINE) at = this.putString(route, at);
    if (serviceId === FIELD_INLINE) at = this.putString(service, at);
    if (upstreamId === FIELD_INLINE) at = this.putString(upstream, at);
    if (methodId === FIELD_INLINE) at = this.putString(method, at);
    if (errorId === FIELD_INLINE) at = this.putString(error, at);
    at = this.putString(clientAddress, at);
    at = this.putString(userAgent, at);
    if (protocolId === FIELD_INLINE) at = this.putString(protocol, at);
    if (tlsId === FIELD_INLINE) at = this.putString(tls, at);
    this.commit(start, at);
    return true;
  }

  /** Queues a line formed on the event loop (newline included); false when the ring has no room. */
  putLine(text: string): boolean {
    const start = this.reserve(8 + 8 + 3 * text.length);
    if (start < 0) return false;
    this.words[(start >> 2) + 1] = KIND_LINE;
    this.commit(start, this.putString(text, start + 8, false));
    return true;
  }

  /** Tells the reader that the records up to `position` were handled: their space is free again. */
  release(position: number): void {
    this.head = position;
    Atomics.store(this.control, HEAD, position);
    if (this.used < this.capacity >> 2) this.woken = false;
  }

  /** Position after the last complete record. */
  get end(): number {
    return this.tail;
  }

  /** Position of the first record not yet released. */
  get start(): number {
    return this.head;
  }

  /** Wakes the reader now (it also looks on its own every few milliseconds). */
  wake(): void {
    this.woken = true;
    Atomics.store(this.control, WAKE, 1);
    Atomics.notify(this.control, WAKE);
  }

  /** Asks the reader to stop. */
  stop(): void {
    Atomics.store(this.control, STOP, 1);
    this.wake();
  }

  /** The number of `s`, defining it first when new; FIELD_INLINE when the table is full or the ring has no room. */
  private intern(s: string): number {
    const id = this.ids.get(s);
    if (id !== undefined) return id;
    if (this.defined.length >= MAX_DEFINED) return FIELD_INLINE;
    const start = this.reserve(8 + 16 + 3 * s.length);
    if (start < 0) return FIELD_INLINE;
    const next = this.defined.length;
    this.words[(start >> 2) + 1] = KIND_DEFINE;
    this.words[(start >> 2) + 2] = next;
    this.commit(start, this.putString(s, start + 12));
    this.ids.set(s, next);
    this.defined.push(s);
    return next;
  }

  /**
   * Offset where a record of at most `bound` bytes can be written without wrapping (a skip record
   * fills the end of the ring when needed), or -1 when there is not that much room.
   */
  private reserve(bound: number): number {
    const size = (bound + 7) & ~7;
    const offset = this.tail & (this.capacity - 1);
    const toEnd = this.capacity - offset;
    const free = this.capacity - this.used;
    if (size <= toEnd) return size <= free ? offset : -1;
    if (toEnd + size > free) return -1;
    this.words[offset >> 2] = toEnd;
    this.words[(offset >> 2) + 1] = KIND_SKIP;
    this.tail = (this.tail + toEnd) | 0;
    return 0;
  }

  /** Completes the record that starts at `start` and whose last byte is before `at`. */
  private commit(start: number, at: number): void {
    const size = (at - start + 7) & ~7;
    this.words[start >> 2] = size;
    this.tail = (this.tail + size) | 0;
    Atomics.store(this.control, TAIL, this.tail);
    // The reader looks on its own every few milliseconds (waking another thread costs the event
    // loop a system call and, on a busy machine, a context switch); only a burst that fills half
    // the ring before then wakes it early.
    if (!this.woken && this.used >= this.capacity >> 1) this.wake();
  }

  /**
   * Writes a length word and the string's bytes at `at` (a multiple of 4); returns the next multiple
   * of 4 after them. ASCII is copied by a loop (no call into C++ for the short strings of a
   * request); anything else is written as UTF-16 (`wide`: a field's value, kept exactly, lone
   * surrogates included) or as UTF-8 (a formed line). The length word holds the byte length
   * times 4 plus the encoding (STRING_ASCII, STRING_UTF8, STRING_UTF16).
   */
  private putString(s: string | undefined, at: number, wide = true): number {
    if (s === undefined) {
      this.words[at >> 2] = STRING_UNDEFINED;
      return at + 4;
    }
    const bytes = this.bytes;
    const from = at + 4;
    const n = s.length;
    let i = 0;
    for (; i < n; i++) {
      const c = s.charCodeAt(i);
      if (c > 0x7f) break;
      bytes[from + i] = c;
    }
    let length = n;
    let encoding = STRING_ASCII;
    if (i !== n) {
      encoding = wide ? STRING_UTF16 : STRING_UTF8;
      length = bytes.write(s, from, wide ? 'utf16le' : 'utf8');
    }
    this.words[at >> 2] = length * 4 + encoding;
    return (from + length + 3) & ~3;
  }

  // ---- reader (the log thread, or the event loop at exit) ----

  /** Position up to which records are complete (read with acquire ordering). */
  readTail(): number {
    return Atomics.load(this.control, TAIL);
  }

  readHead(): number {
    return Atomics.load(this.control, HEAD);
  }

  /**
   * Waits up to `ms` for a wake-up (or returns at once if one is pending); true unless asked to stop.
   * For the log thread only: blocks the calling thread.
   */
  waitForRecords(ms: number): boolean {
    Atomics.wait(this.control, WAKE, 0, ms);
    Atomics.store(this.control, WAKE, 0);
    return Atomics.load(this.control, STOP) === 0;
  }

  /**
   * Forms the lines of the records from `from` to `to` into `lines`, learning definitions into
   * `strings` (the reading thread's table; the writer's own `defined` when read back on the event
   * loop); returns the position it reached (`to`). Throws when a record is malformed, which
   * means the ring was overwritten under the reader.
   */
  read(from: number, to: number, lines: AccessLogLines, strings: string[]): number {
    const words = this.words;
    const cursor = this.cursor;
    let position = from;
    while (position !== to) {
      const start = position & (this.capacity - 1);
      const size = this.recordSize(start, position, to);
      const kind = words[(start >> 2) + 1];
      if (kind === KIND_REQUEST) {
        this.formRequest(start, lines, strings);
      } else if (kind === KIND_DEFINE) {
        this.learnDefinition(start, strings);
      } else if (kind === KIND_LINE) {
        cursor.at = start + 8;
        const header = words[(start + 8) >> 2]!;
        lines.line(this.getString(cursor)!, (header & 3) === STRING_ASCII);
      } else if (kind !== KIND_SKIP) {
        throw new Error(`access log queue: unknown record kind ${kind} at ${position}`);
      }
      position = (position + size) | 0;
    }
    return position;
  }

  /**
   * As read(), with the lines written as bytes into `out` (the log thread's way): strings are
   * copied from the ring as they are. A record that cannot be written that way is formed by
   * `lines` and written as its text. Stops when `out`'s chunk has no room for the next record;
   * returns the position reached. `defined` holds each defined string's bytes, escaped for JSON.
   */
  readBytes(from: number, to: number, out: LineBytes, lines: AccessLogLines, strings: string[], defined: Uint8Array[]): number {
    const words = this.words;
    let position = from;
    while (position !== to) {
      const start = position & (this.capacity - 1);
      const size = this.recordSize(start, position, to);
      const w = start >> 2;
      const kind = words[w + 1];
      if (kind === KIND_REQUEST) {
        // Strings of the record at most 6 bytes each once escaped, plus the defined strings it names.
        let bound = out.headBound + REQUEST_LINE_FIXED + 6 * size;
        for (let f = 15; f <= 21; f++) if (words[w + f]! >= 0) bound += defined[words[w + f]!]?.length ?? 0;
        if (!out.room(bound)) break;
        const mark = out.at;
        if (!this.requestBytes(start, out, defined)) {
          out.at = mark;
          this.formRequest(start, lines, strings);
          out.text(lines.takeText());
        }
      } else if (kind === KIND_DEFINE) {
        const s = this.learnDefinition(start, strings);
        defined[words[w + 2]!] = Buffer.from(JSON.stringify(s).slice(1, -1), 'utf8');
      } else if (kind === KIND_LINE) {
        const length = words[w + 2]! >>> 2;
        if (!out.room(length)) break;
        out.raw(this.bytes, start + 12, length);
      } else if (kind !== KIND_SKIP) {
        throw new Error(`access log queue: unknown record kind ${kind} at ${position}`);
      }
      position = (position + size) | 0;
    }
    return position;
  }

  /** Reads the definition record at `start` into `strings`; returns the string. */
  private learnDefinition(start: number, strings: string[]): string {
    this.cursor.at = start + 12;
    const s = this.getString(this.cursor)!;
    strings[this.words[(start >> 2) + 2]!] = s;
    return s;
  }

  /** The size of the record at `start` (ring offset of `position`); throws when it is not a record. */
  private recordSize(start: number, position: number, to: number): number {
    const size = this.words[start >> 2]!;
    if (!(size >= 8 && (size & 7) === 0 && size <= this.capacity - start && ((to - position) | 0) >= size)) {
      throw new Error(`access log queue: malformed record at ${position} (size ${size})`);
    }
    return size;
  }

  /** Forms the line of the request record at `start` into `lines`. */
  private formRequest(start: number, lines: AccessLogLines, strings: string[]): void {
    const words = this.words;
    const doubles = this.doubles;
    const cursor = this.cursor;
    const w = start >> 2;
    const d = start >> 3;
    cursor.at = start + REQUEST_FIXED;
    const requestId = this.getString(cursor)!;
    const traceId = this.getString(cursor);
    const host = this.getString(cursor);
    const path = this.getString(cursor);
    const route = this.getField(words[w + 15]!, strings, cursor)!;
    const service = this.getField(words[w + 16]!, strings, cursor)!;
    const upstream = this.getField(words[w + 17]!, strings, cursor)!;
    const method = this.getField(words[w + 18]!, strings, cursor);
    const error = this.getField(words[w + 19]!, strings, cursor);
    const clientAddress = this.getString(cursor)!;
    const userAgent = this.getString(cursor);
    const protocol = this.getField(words[w + 20]!, strings, cursor)!;
    const tls = this.getField(words[w + 21]!, strings, cursor);
    lines.request(
      doubles[d + 1]!,
      requestId,
      traceId,
      method,
      host,
      path,
      words[w + 12]!,
      doubles[d + 2]!,
      doubles[d + 3]!,
      doubles[d + 4]!,
      route,
      service,
      upstream,
      words[w + 13]!,
      doubles[d + 5]!,
      words[w + 14]!,
      error,
      undefined,
      clientAddress,
      userAgent,
      protocol,
      tls,
    );
  }

  /**
   * Writes the line of the request record at `start` as bytes; false (part of a line written:
   * the caller takes it back) when a string needs escaping or is not ASCII, or a number is not
   * of the usual kind.
   */
  private requestBytes(start: number, out: LineBytes, defined: Uint8Array[]): boolean {
    const words = this.words;
    const doubles = this.doubles;
    const w = start >> 2;
    const d = start >> 3;
    // Where each string slot is (the record's order: request id, trace id, host, path, the fields sent
    // inline, client address, user agent, then protocol and TLS version when sent inline).
    const requestIdAt = start + REQUEST_FIXED;
    const traceIdAt = this.skipString(requestIdAt);
    const hostAt = this.skipString(traceIdAt);
    const pathAt = this.skipString(hostAt);
    let at = this.skipString(pathAt);
    const routeId = words[w + 15]!;
    const serviceId = words[w + 16]!;
    const upstreamId = words[w + 17]!;
    const methodId = words[w + 18]!;
    const errorId = words[w + 19]!;
    const protocolId = words[w + 20]!;
    const tlsId = words[w + 21]!;
    const routeAt = at;
    if (routeId === FIELD_INLINE) at = this.skipString(at);
    const serviceAt = at;
    if (serviceId === FIELD_INLINE) at = this.skipString(at);
    const upstreamAt = at;
    if (upstreamId === FIELD_INLINE) at = this.skipString(at);
    const methodAt = at;
    if (methodId === FIELD_INLINE) at = this.skipString(at);
    const errorAt = at;
    if (errorId === FIELD_INLINE) at = this.skipString(at);
    const clientAddressAt = at;
    const userAgentAt = this.skipString(clientAddressAt);
    const protocolAt = this.skipString(userAgentAt);
    const tlsAt = protocolId === FIELD_INLINE ? this.skipString(protocolAt) : protocolAt;

    out.start(doubles[d + 1]!);
    out.piece(P_REQUEST_ID);
    if (!this.stringBytes(requestIdAt, out)) return false;
    if (words[traceIdAt >> 2] !== STRING_UNDEFINED) {
      out.piece(P_TRACE_ID);
      if (!this.stringBytes(traceIdAt, out)) return false;
    }
    if (methodId !== FIELD_UNDEFINED) {
      out.piece(P_METHOD);
      if (!this.fieldBytes(methodId, methodAt, out, defined)) return false;
    }
    if (words[hostAt >> 2] !== STRING_UNDEFINED) {
      out.piece(P_HOST);
      if (!this.stringBytes(hostAt, out)) return false;
    }
    if (words[pathAt >> 2] !== STRING_UNDEFINED) {
      out.piece(P_PATH);
      if (!this.stringBytes(pathAt, out)) return false;
    }
    out.piece(P_STATUS);
    if (!out.integer(words[w + 12]!)) return false;
    out.piece(P_BYTES_IN);
    if (!out.integer(doubles[d + 2]!)) return false;
    out.piece(P_BYTES_OUT);
    if (!out.integer(doubles[d + 3]!)) return false;
    out.piece(P_DURATION);
    if (!out.millis(doubles[d + 4]!)) return false;
    out.piece(P_ROUTE);
    if (!this.fieldBytes(routeId, routeAt, out, defined)) return false;
    out.piece(P_SERVICE);
    if (!this.fieldBytes(serviceId, serviceAt, out, defined)) return false;
    out.piece(P_UPSTREAM);
    if (!this.fieldBytes(upstreamId, upstreamAt, out, defined)) return false;
    out.piece(P_UPSTREAM_STATUS);
    if (!out.integer(words[w + 13]!)) return false;
    out.piece(P_UPSTREAM_MS);
    if (!out.millis(doubles[d + 5]!)) return false;
    out.piece(P_RETRIES);
    if (!out.integer(words[w + 14]!)) return false;
    if (errorId !== FIELD_UNDEFINED) {
      out.piece(P_ERROR);
      if (!this.fieldBytes(errorId, errorAt, out, defined)) return false;
      out.piece(P_CLIENT_ADDRESS_AFTER_ERROR);
    } else {
      out.piece(P_CLIENT_ADDRESS);
    }
    if (!this.stringBytes(clientAddressAt, out)) return false;
    if (words[userAgentAt >> 2] !== STRING_UNDEFINED) {
      out.piece(P_USER_AGENT);
      if (!this.stringBytes(userAgentAt, out)) return false;
    }
    out.piece(P_PROTOCOL);
    if (!this.fieldBytes(protocolId, protocolAt, out, defined)) return false;
    if (tlsId !== FIELD_UNDEFINED) {
      out.piece(P_TLS);
      if (!this.fieldBytes(tlsId, tlsAt, out, defined)) return false;
    }
    out.piece(P_END);
    return true;
  }

  /** The slot after the string slot at `at`. */
  private skipString(at: number): number {
    const header = this.words[at >> 2]!;
    return header === STRING_UNDEFINED ? at + 4 : (at + 4 + (header >>> 2) + 3) & ~3;
  }

  /** The ASCII string in the slot at `at`, copied; false for one that is not ASCII or needs escapes. */
  private stringBytes(at: number, out: LineBytes): boolean {
    const header = this.words[at >> 2]!;
    if (header < 0 || (header & 3) !== STRING_ASCII) return false;
    return out.ascii(this.bytes, at + 4, header >>> 2);
  }

  /** A field sent by number (its escaped bytes) or inline. */
  private fieldBytes(id: number, inlineAt: number, out: LineBytes, defined: Uint8Array[]): boolean {
    if (id < 0) return this.stringBytes(inlineAt, out);
    const bytes = defined[id];
    if (bytes === undefined) throw new Error(`access log queue: string ${id} used before its definition`);
    out.piece(bytes);
    return true;
  }

  private getField(id: number, strings: string[], cursor: Cursor): string | undefined {
    if (id === FIELD_UNDEFINED) return undefined;
    if (id === FIELD_INLINE) return this.getString(cursor);
    const s = strings[id];
    if (s === undefined) throw new Error(`access log queue: string ${id} used before its definition`);
    return s;
  }

  private getString(cursor: Cursor): string | undefined {
    const header = this.words[cursor.at >> 2]!;
    if (header === STRING_UNDEFINED) {
      cursor.at += 4;
      return undefined;
    }
    const length = header >>> 2;
    const from = cursor.at + 4;
    cursor.at = (from + length + 3) & ~3;
    return this.bytes.toString(ENCODINGS[header & 3]!, from, from + length);
  }
}

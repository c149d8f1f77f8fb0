import type { AccessLogLines } from './access-log-lines.js';

/**
 * The access log's records on their way from the event loop to the thread that forms the lines:
 * a ring of bytes in shared memory, one writer (the event loop) and one reader at a time.
 *
 * A request's record is its fields as they are (numbers as numbers, strings as their bytes), so
 * the event loop does a few stores and copies per request where forming the JSON line took about
 * ten times as long (docs/performance.md). Strings that repeat from request to request (route,
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

/** Bytes of a request record before its strings: header, 5 float64, 8 int32. */
const REQUEST_FIXED = 8 + 5 * 8 + 8 * 4;
/** Strings sent by number at most; later new ones go inline. */
const MAX_DEFINED = 4096;
/** An interned field that is undefined / sent inline. */
const FIELD_UNDEFINED = -2;
const FIELD_INLINE = -1;
/** A string that is undefined. */
const STRING_UNDEFINED = -1;

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
  ): boolean {
    const routeId = this.intern(route);
    const serviceId = this.intern(service);
    const upstreamId = this.intern(upstream);
    const methodId = method === undefined ? FIELD_UNDEFINED : this.intern(method);
    const errorId = error === undefined ? FIELD_UNDEFINED : this.intern(error);
    // Worst case: 3 bytes per UTF-16 unit, plus length word and padding for each of up to 9 strings.
    let bound = REQUEST_FIXED + 9 * 8 + 3 * (requestId.length + (traceId?.length ?? 0) + (host?.length ?? 0) + (path?.length ?? 0));
    if (routeId === FIELD_INLINE) bound += 3 * route.length;
    if (serviceId === FIELD_INLINE) bound += 3 * service.length;
    if (upstreamId === FIELD_INLINE) bound += 3 * upstream.length;
    if (methodId === FIELD_INLINE) bound += 3 * method!.length;
    if (errorId === FIELD_INLINE) bound += 3 * error!.length;
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
    this.commit(start, at);
    return true;
  }

  /** Queues a line formed on the event loop (newline included); false when the ring has no room. */
  putLine(text: string): boolean {
    const start = this.reserve(8 + 8 + 3 * text.length);
    if (start < 0) return false;
    this.words[(start >> 2) + 1] = KIND_LINE;
    this.commit(start, this.putString(text, start + 8));
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
   * request); anything else is written as UTF-8 and so marked in the length word's low bit.
   */
  private putString(s: string | undefined, at: number): number {
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
    let header: number;
    let length: number;
    if (i === n) {
      length = n;
      header = n * 2;
    } else {
      length = bytes.write(s, from, 'utf8');
      header = length * 2 + 1;
    }
    this.words[at >> 2] = header;
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
   * loop), until `lines` holds `maxChars` characters; returns the position it reached. Throws when
   * a record is malformed, which means the ring was overwritten under the reader.
   */
  read(from: number, to: number, lines: AccessLogLines, strings: string[], maxChars = Infinity): number {
    const words = this.words;
    const doubles = this.doubles;
    const cursor = this.cursor;
    let position = from;
    while (position !== to && lines.length < maxChars) {
      const start = position & (this.capacity - 1);
      const w = start >> 2;
      const size = words[w]!;
      if (!(size >= 8 && (size & 7) === 0 && size <= this.capacity - start && ((to - position) | 0) >= size)) {
        throw new Error(`access log queue: malformed record at ${position} (size ${size})`);
      }
      const kind = words[w + 1];
      if (kind === KIND_REQUEST) {
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
        );
      } else if (kind === KIND_DEFINE) {
        cursor.at = start + 12;
        strings[words[w + 2]!] = this.getString(cursor)!;
      } else if (kind === KIND_LINE) {
        cursor.at = start + 8;
        const header = words[(start + 8) >> 2]!;
        lines.line(this.getString(cursor)!, (header & 1) === 0);
      } else if (kind !== KIND_SKIP) {
        throw new Error(`access log queue: unknown record kind ${kind} at ${position}`);
      }
      position = (position + size) | 0;
    }
    return position;
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
    const length = header >>> 1;
    const from = cursor.at + 4;
    cursor.at = (from + length + 3) & ~3;
    return this.bytes.toString((header & 1) === 0 ? 'latin1' : 'utf8', from, from + length);
  }
}

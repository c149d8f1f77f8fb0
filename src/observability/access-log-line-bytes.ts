import { LineHead, type LineShape } from './access-log-lines.js';

/**
 * Access-log lines written as bytes straight into a chunk, for the log thread: the request
 * record's strings are already bytes in the queue, so they are copied as they are (checked for
 * characters JSON must escape on the way) instead of being decoded into strings, joined into a
 * line and encoded again. The bytes are the ones AccessLogLines forms (tests compare the two);
 * a record with anything unusual (a character to escape, text outside ASCII, a number outside
 * the integer range) is formed by AccessLogLines instead and its text written here with `text()`.
 *
 * Byte loops rather than Buffer methods for the short pieces: each Buffer call is a call into
 * C++ that costs more than copying a few dozen bytes in JavaScript (docs/performance.md).
 */
export class LineBytes {
  private chunk: Buffer;
  /** Bytes written into `chunk`. */
  at = 0;
  private readonly head: LineHead;
  /** The bytes of `headText`, the line start of the last millisecond written. */
  private headText = '';
  private headBytes: Uint8Array = new Uint8Array(0);

  constructor(
    private readonly shape: LineShape,
    private readonly chunkBytes: number,
  ) {
    this.chunk = Buffer.allocUnsafeSlow(chunkBytes);
    this.head = new LineHead(shape);
  }

  /** Room for `n` more bytes in this chunk (a record larger than a chunk gets a chunk of its own size). */
  room(n: number): boolean {
    if (this.at + n <= this.chunk.length) return true;
    if (this.at === 0) {
      this.chunk = Buffer.allocUnsafeSlow(n);
      return true;
    }
    return false;
  }

  /**
   * The bytes written so far, in memory of their own (transferable to another thread), or null
   * when there are none; the next lines go to a new chunk.
   */
  take(): Buffer | null {
    const length = this.at;
    if (length === 0) return null;
    this.at = 0;
    const full = this.chunk;
    if (length < this.chunkBytes >> 2 && full.length === this.chunkBytes) {
      // A few lines (a quiet router): copied out, the chunk kept for the next ones.
      const few = Buffer.allocUnsafeSlow(length);
      full.copy(few, 0, 0, length);
      return few;
    }
    this.chunk = Buffer.allocUnsafeSlow(this.chunkBytes);
    return full.subarray(0, length);
  }

  /** `{"level":…,"time":…` and the bindings, for a line of millisecond `ms`. */
  start(ms: number): void {
    const text = this.head.at(ms);
    if (text !== this.headText) {
      this.headText = text;
      this.headBytes = Buffer.from(text, 'utf8');
    }
    this.piece(this.headBytes);
  }

  /** Bytes fit for the line as they are: a constant piece, or a defined string escaped when it was defined. */
  piece(bytes: Uint8Array): void {
    const chunk = this.chunk;
    const n = bytes.length;
    let at = this.at;
    if (n > 32) {
      // A long piece: one memory copy beats the loop despite the call.
      chunk.set(bytes, at);
      this.at = at + n;
      return;
    }
    for (let i = 0; i < n; i++) chunk[at++] = bytes[i]!;
    this.at = at;
  }

  /**
   * ASCII bytes of a string from `source`; false (nothing to keep: the caller starts the record
   * again) when one of them is a character JSON must escape.
   */
  ascii(source: Uint8Array, from: number, length: number): boolean {
    const chunk = this.chunk;
    let at = this.at;
    for (let i = from, end = from + length; i < end; i++) {
      const c = source[i]!;
      if (c < 32 || c === 34 || c === 92) return false;
      chunk[at++] = c;
    }
    this.at = at;
    return true;
  }

  /** A non-negative integer below 2^53; false for anything else. */
  integer(n: number): boolean {
    if (!(n >= 0 && n <= Number.MAX_SAFE_INTEGER && Math.floor(n) === n)) return false;
    this.digits(n);
    return true;
  }

  /**
   * A millisecond figure rounded to the microsecond as AccessLogLines writes it (the integer part,
   * then up to three decimals without trailing zeros); false outside 0 ≤ ms < 1e9.
   */
  millis(ms: number): boolean {
    if (!(ms >= 0 && ms < 1e9)) return false;
    const us = Math.round(ms * 1000);
    const whole = Math.floor(us / 1000);
    const frac = us - whole * 1000;
    this.digits(whole);
    if (frac === 0) return true;
    const chunk = this.chunk;
    chunk[this.at++] = 0x2e; // '.'
    const d1 = Math.floor(frac / 100);
    const d2 = Math.floor(frac / 10) % 10;
    const d3 = frac % 10;
    chunk[this.at++] = 0x30 + d1;
    if (d2 !== 0 || d3 !== 0) chunk[this.at++] = 0x30 + d2;
    if (d3 !== 0) chunk[this.at++] = 0x30 + d3;
    return true;
  }

  /** A line formed as text (UTF-8); the caller made room for it. */
  text(s: string): void {
    this.at += this.chunk.write(s, this.at, 'utf8');
  }

  /** At most the bytes of a line's start (prefix, time and bindings). */
  get headBound(): number {
    return 3 * (this.shape.prefix.length + this.shape.bindings.length) + 64;
  }

  /** Bytes of a line formed elsewhere, copied as they are. */
  raw(source: Uint8Array, from: number, length: number): void {
    this.chunk.set(source.subarray(from, from + length), this.at);
    this.at += length;
  }

  private digits(n: number): void {
    const chunk = this.chunk;
    if (n < 10) {
      chunk[this.at++] = 0x30 + n;
      return;
    }
    let count = 0;
    for (let v = n; v >= 1; v = Math.floor(v / 10)) count++;
    let at = this.at + count;
    this.at = at;
    for (let v = n; v >= 1; v = Math.floor(v / 10)) chunk[--at] = 0x30 + (v % 10);
  }
}

/** The ASCII bytes of a constant piece of the line. */
export function pieceOf(s: string): Uint8Array {
  return Buffer.from(s, 'latin1');
}

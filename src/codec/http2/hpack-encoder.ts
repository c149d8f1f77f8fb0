import { STATIC_TABLE } from './hpack-static-table.js';

/**
 * HPACK encoder for request and response header blocks, kept simple: whole static-table entries where one
 * matches (":method GET", ":scheme https"...), otherwise literals without indexing (RFC 7541
 * §6.2.2) with the name as a static-table index where it has one, never Huffman, never the
 * dynamic table. So the peer's SETTINGS_HEADER_TABLE_SIZE never matters (nothing is inserted)
 * and encoding keeps no state: one encoder serves every connection. The encoded prefix of each
 * static name is prepared at load; a request allocates nothing here beyond the lower-cased
 * name of a field sent in mixed case.
 */

/** Literal-without-indexing prefix bytes of each static-table name (its first index). */
const NAME_PREFIX = new Map<string, Buffer>();
/** The one-byte indexed representation of whole static entries worth matching. */
const INDEXED = new Map<string, number>();
for (let i = STATIC_TABLE.length - 1; i >= 0; i--) {
  const [name, value] = STATIC_TABLE[i]!;
  NAME_PREFIX.set(name, integerBytes(0x00, 4, i + 1));
  if (value !== '') INDEXED.set(`${name}\u0000${value}`, 0x80 | (i + 1));
}
const METHOD_GET = 0x82;
const METHOD_POST = 0x83;
const SCHEME_HTTP = 0x86;
const SCHEME_HTTPS = 0x87;
const PATH_ROOT = 0x84;

function integerBytes(flags: number, prefixBits: number, value: number): Buffer {
  const out: number[] = [];
  const max = (1 << prefixBits) - 1;
  if (value < max) out.push(flags | value);
  else {
    out.push(flags | max);
    value -= max;
    while (value >= 128) {
      out.push((value & 0x7f) | 0x80);
      value >>>= 7;
    }
    out.push(value);
  }
  return Buffer.from(out);
}

/** Writes an HPACK integer with an N-bit prefix at `pos`; returns the end offset. */
function writeInteger(buf: Buffer, pos: number, flags: number, prefixBits: number, value: number): number {
  const max = (1 << prefixBits) - 1;
  if (value < max) {
    buf[pos++] = flags | value;
    return pos;
  }
  buf[pos++] = flags | max;
  value -= max;
  while (value >= 128) {
    buf[pos++] = (value & 0x7f) | 0x80;
    value >>>= 7;
  }
  buf[pos++] = value;
  return pos;
}

/** Upper bound of the bytes one field takes: prefix, two lengths of up to 5 bytes, the strings. */
export function fieldBound(name: string, value: string): number {
  return 12 + name.length + value.length;
}

/**
 * Strings up to this length are written byte by byte in JavaScript: for the short names and
 * values of a head that costs less than Buffer#write's call into C++ (its argument checks and
 * the crossing); longer ones go through it.
 */
const INLINE_STRING = 64;

/** Writes a string literal without Huffman (latin1: each character's low byte); returns the end offset. */
function writeString(buf: Buffer, pos: number, s: string): number {
  const length = s.length;
  pos = writeInteger(buf, pos, 0x00, 7, length);
  if (length > INLINE_STRING) return pos + buf.write(s, pos, 'latin1');
  for (let i = 0; i < length; i++) buf[pos + i] = s.charCodeAt(i) & 0xff;
  return pos + length;
}

/** Writes the literal field `name: value` (name already lower case) at `pos`; returns the end offset. */
export function writeField(buf: Buffer, pos: number, name: string, value: string): number {
  const prefix = NAME_PREFIX.get(name);
  if (prefix !== undefined) {
    // One byte for static names 1–14, two beyond (a 4-bit prefix integer).
    buf[pos++] = prefix[0]!;
    if (prefix.length > 1) buf[pos++] = prefix[1]!;
  } else {
    buf[pos++] = 0x00;
    pos = writeString(buf, pos, name);
  }
  return writeString(buf, pos, value);
}

/** Writes :method, :scheme, :authority and :path (in that order) at `pos`; returns the end offset. */
export function writePseudoHeaders(buf: Buffer, pos: number, method: string, https: boolean, authority: string, path: string): number {
  if (method === 'GET') buf[pos++] = METHOD_GET;
  else if (method === 'POST') buf[pos++] = METHOD_POST;
  else pos = writeField(buf, pos, ':method', method);
  buf[pos++] = https ? SCHEME_HTTPS : SCHEME_HTTP;
  pos = writeField(buf, pos, ':authority', authority);
  if (path === '/') buf[pos++] = PATH_ROOT;
  else pos = writeField(buf, pos, ':path', path);
  return pos;
}

/** The :status values with a whole static-table entry (RFC 7541 Appendix A), by status. */
const STATUS_INDEXED = new Map<number, number>([
  [200, 0x88],
  [204, 0x89],
  [206, 0x8a],
  [304, 0x8b],
  [400, 0x8c],
  [404, 0x8d],
  [500, 0x8e],
]);
/** The three digits of every status from 100 to 999, made once (none per response). */
const STATUS_TEXT: string[] = Array.from({ length: 1000 }, (_, i) => String(i));

/** Writes :status (a response head's first field) at `pos`; returns the end offset. */
export function writeStatus(buf: Buffer, pos: number, status: number): number {
  const indexed = STATUS_INDEXED.get(status);
  if (indexed !== undefined) {
    buf[pos++] = indexed;
    return pos;
  }
  return writeField(buf, pos, ':status', status >= 100 && status <= 999 ? STATUS_TEXT[status]! : String(status));
}

/** Whether `name: value` is a whole static entry (tests and callers that want the index). */
export function staticIndex(name: string, value: string): number | undefined {
  const b = INDEXED.get(`${name}\u0000${value}`);
  return b === undefined ? undefined : b & 0x7f;
}

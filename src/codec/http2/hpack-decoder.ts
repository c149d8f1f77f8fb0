import { HpackError } from './hpack-error.js';
import { huffmanDecode } from './huffman.js';
import { STATIC_TABLE } from './hpack-static-table.js';

/** Bytes an entry costs in the dynamic table beyond its name and value (RFC 7541 §4.1). */
const ENTRY_OVERHEAD = 32;

/**
 * HPACK decoder (RFC 7541) for one connection's response header blocks: static and dynamic
 * table, dynamic table size updates up to the size we advertised (SETTINGS_HEADER_TABLE_SIZE),
 * Huffman strings, and bounds checks on every integer, index and string length. A block that
 * breaks the rules throws HpackError (a connection error: the table is out of step).
 *
 * The dynamic table is a ring of names and values, newest first by index; strings are latin1
 * (field values are octets, RFC 9110 §5.5).
 */
export class HpackDecoder {
  private names: string[];
  private values: string[];
  /** Ring position of the newest entry. */
  private head = 0;
  private count = 0;
  private size = 0;
  /** The table's current maximum, set by size updates from the peer, at most `limit`. */
  private maxSize: number;
  /** Whether the list being decoded went over its limit (the block is still decoded to the end). */
  overflowed = false;

  /** `limit`: our SETTINGS_HEADER_TABLE_SIZE (4096 unless we advertise otherwise). */
  constructor(private readonly limit = 4096) {
    this.maxSize = limit;
    const capacity = Math.floor(limit / ENTRY_OVERHEAD) + 1;
    this.names = new Array<string>(capacity).fill('');
    this.values = new Array<string>(capacity).fill('');
  }

  /** Entries in the dynamic table (tests). */
  get dynamicEntries(): [string, string][] {
    const out: [string, string][] = [];
    for (let i = 0; i < this.count; i++) out.push(this.entry(i));
    return out;
  }

  /** Size of the dynamic table in RFC 7541 §4.1 terms (tests). */
  get dynamicSize(): number {
    return this.size;
  }

  /**
   * Decodes the block `src[start, end)`, appending name, value, name, value... to `out`. Once the
   * decoded list is larger than `maxListSize` (RFC 9113 SETTINGS_MAX_HEADER_LIST_SIZE terms:
   * name + value + 32 a field), fields stop being appended and `overflowed` is set, but the
   * block is decoded to its end so the dynamic table stays in step.
   */
  decode(src: Buffer, start: number, end: number, out: string[], maxListSize: number): void {
    this.overflowed = false;
    let listSize = 0;
    let pos = start;
    let fieldSeen = false;
    while (pos < end) {
      const byte = src[pos]!;
      let name: string;
      let value: string;
      if (byte & 0x80) {
        // Indexed field (§6.1).
        const index = this.readInteger(src, pos, end, 7);
        pos = this.next;
        if (index === 0) throw new HpackError('an indexed header field has index 0 (RFC 7541 §6.1)');
        const field = this.lookup(index);
        name = field[0];
        value = field[1];
      } else if ((byte & 0xe0) === 0x20) {
        // Dynamic table size update (§6.3): only at the start of a block.
        if (fieldSeen) throw new HpackError('a dynamic table size update follows a header field (RFC 7541 §4.2)');
        const size = this.readInteger(src, pos, end, 5);
        pos = this.next;
        if (size > this.limit) throw new HpackError(`a dynamic table size update to ${size} exceeds the ${this.limit} bytes allowed (RFC 7541 §6.3)`);
        this.maxSize = size;
        this.evict(0);
        continue;
      } else {
        // Literal: with incremental indexing (01xxxxxx, 6-bit index), without indexing
        // (0000xxxx) or never indexed (0001xxxx), 4-bit index.
        const indexing = (byte & 0xc0) === 0x40;
        const index = this.readInteger(src, pos, end, indexing ? 6 : 4);
        pos = this.next;
        if (index === 0) {
          name = this.readString(src, pos, end);
          pos = this.next;
        } else {
          name = this.lookup(index)[0];
        }
        value = this.readString(src, pos, end);
        pos = this.next;
        if (indexing) this.insert(name, value);
      }
      fieldSeen = true;
      listSize += name.length + value.length + ENTRY_OVERHEAD;
      if (listSize > maxListSize) this.overflowed = true;
      else out.push(name, value);
    }
  }

  /** End offset of the last integer or string read. */
  private next = 0;

  /** An HPACK integer with an N-bit prefix at src[pos] (§5.1); at most 2^28 - 1, more is refused. */
  private readInteger(src: Buffer, pos: number, end: number, prefixBits: number): number {
    const max = (1 << prefixBits) - 1;
    let value = src[pos]! & max;
    pos++;
    if (value < max) {
      this.next = pos;
      return value;
    }
    let shift = 0;
    for (;;) {
      if (pos >= end) throw new HpackError('a header block ends inside an integer (RFC 7541 §5.1)');
      const b = src[pos++]!;
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
      if (shift > 21) throw new HpackError('an integer in a header block is longer than 4 continuation bytes (more than 2^28)');
    }
    this.next = pos;
    return value;
  }

  private readString(src: Buffer, pos: number, end: number): string {
    if (pos >= end) throw new HpackError('a header block ends before a string literal (RFC 7541 §5.2)');
    const huffman = (src[pos]! & 0x80) !== 0;
    const length = this.readInteger(src, pos, end, 7);
    const from = this.next;
    if (length > end - from) throw new HpackError(`a string literal of ${length} bytes runs past the end of the header block (RFC 7541 §5.2)`);
    this.next = from + length;
    return huffman ? huffmanDecode(src, from, from + length) : src.toString('latin1', from, from + length);
  }

  private lookup(index: number): readonly [string, string] {
    if (index <= STATIC_TABLE.length) return STATIC_TABLE[index - 1]!;
    const dynamic = index - STATIC_TABLE.length - 1;
    if (dynamic >= this.count) throw new HpackError(`header field index ${index} is beyond the static table and the ${this.count} dynamic entries (RFC 7541 §2.3.3)`);
    return this.entry(dynamic);
  }

  /** Dynamic entry `i` (0 = newest). */
  private entry(i: number): [string, string] {
    const slot = (this.head + i) % this.names.length;
    return [this.names[slot]!, this.values[slot]!];
  }

  private insert(name: string, value: string): void {
    const cost = name.length + value.length + ENTRY_OVERHEAD;
    if (cost > this.maxSize) {
      // Larger than the table: the table is emptied and the entry not added (§4.4).
      this.count = 0;
      this.size = 0;
      return;
    }
    this.evict(cost);
    const capacity = this.names.length;
    this.head = (this.head - 1 + capacity) % capacity;
    this.names[this.head] = name;
    this.values[this.head] = value;
    this.count++;
    this.size += cost;
  }

  /** Drops the oldest entries until `room` more bytes fit in maxSize. */
  private evict(room: number): void {
    const capacity = this.names.length;
    while (this.count > 0 && this.size + room > this.maxSize) {
      const slot = (this.head + this.count - 1) % capacity;
      this.size -= this.names[slot]!.length + this.values[slot]!.length + ENTRY_OVERHEAD;
      this.names[slot] = '';
      this.values[slot] = '';
      this.count--;
    }
  }
}

import { setImmediate as nextTurn } from 'node:timers/promises';
import { isSpace, skipSpace } from './sliced-json-array.js';

/** Pieces handled between two turns of the event loop by `updateInSlices`. */
const PIECES_PER_TURN = 2_000;

/** What changed between two answers: the decoded values of the pieces that went and came. */
export interface PieceChanges<V> {
  readonly removed: readonly V[];
  readonly added: readonly V[];
}

/** Old pieces looked at past the next one when a new piece does not match it (deletions in a row). */
const LOOKAHEAD = 8;

/**
 * The last answer of a large Consul read (a JSON array of objects, or a JSON object), kept as
 * its text and the bounds of its top-level pieces, so that reading the next answer costs a
 * compare of each piece with the piece expected at that place: only pieces whose text is new
 * are parsed. Consul's answers are mostly the same from one read to the next (a registration
 * scan of 20,000 checks after a few dozen writes), and parsing the whole answer and its
 * garbage was most of the registry's CPU under churn.
 *
 * Pieces, for an answer that is compact JSON (what Consul sends without `?pretty`):
 * - an array `[{"K":…},{"K":…}]` whose elements are objects with the same first key `K`: a
 *   piece is one element; a new piece ends at the next `},{"K":` (for /v1/health/state/any,
 *   `K` is `Node`);
 * - an object `{"a":[…],"b":[…]}`: a piece is one or more members; a new piece ends at the
 *   next `],"`.
 * The answers keep their order from one read to the next (Consul sorts them; the emulator
 * keeps insertion order), so the new text is walked once: where it starts with the next old
 * piece followed by `,` (or the end), that piece is unchanged; else one of the next
 * LOOKAHEAD old pieces may match (those before it were removed); else the new piece is cut at
 * the delimiter and decoded (added), and an old piece it replaced is removed. Old pieces never
 * matched are removed. A reordered answer is still read right, at the cost of decoding more.
 * Before the walk, the longest common prefix and suffix of the two texts are found by comparing
 * large slices; old pieces that lie in the prefix (with their comma), and the old pieces from
 * where the walk enters the suffix at an old piece's start, are taken over as they are (shifted
 * by the change in length), which is what the walk would have matched one by one.
 * (A Map from piece text to value was tried first: hashing every piece cost as much as
 * JSON.parse of the whole answer.)
 *
 * Why this is sound: a cut can fall inside a value (a nested object with the same first key,
 * a string holding `],`); then the piece before it is not a whole element (brackets or a
 * string left open) and decoding it fails, and `update` answers null: the caller parses the
 * answer whole (and calls `replace`). Every piece is either decoded now or equal to a piece
 * that decoded before, so the answer is the opening bracket, valid pieces joined by commas,
 * and the closing one: valid JSON whose elements are exactly the pieces.
 * Hand-written: no JSON library hands out the text of each element, and the proof above needs
 * only JSON.parse.
 */
export class JsonPieceIndex<V> {
  private text = '';
  private starts: number[] = [];
  private ends: number[] = [];
  private vals: V[] = [];

  /**
   * `decode` turns one piece into its value (for an array, the piece is one element's text;
   * for an object, one or more members without the braces) and throws when it is not one.
   */
  constructor(
    private readonly kind: 'array' | 'object',
    private readonly decode: (piece: string) => V,
  ) {}

  /** Pieces known from the last answer. */
  get size(): number {
    return this.vals.length;
  }

  /** The values of the pieces known from the last answer. */
  values(): readonly V[] {
    return this.vals;
  }

  /** Compares `text` with the last answer and keeps it; null when it cannot be cut (see above). */
  update(text: string): PieceChanges<V> | null {
    const run = this.run(text);
    for (let step = run.next(); ; step = run.next()) if (step.done) return step.value;
  }

  /** As `update`, with a turn of the event loop every few thousand pieces. */
  async updateInSlices(text: string): Promise<PieceChanges<V> | null> {
    const run = this.run(text);
    for (let step = run.next(); ; step = run.next()) {
      if (step.done) return step.value;
      await nextTurn();
    }
  }

  /**
   * Replaces what is known after an answer was parsed whole (one that could not be cut):
   * `pieces` are the answer's elements, each with a text of its own (JSON.stringify of the
   * element; for an object, of `"name":value`). A piece whose text differs from the next
   * answer's only costs its decode then.
   */
  replace(pieces: Iterable<readonly [string, V]>): void {
    const [opener, closer] = this.kind === 'array' ? ['[', ']'] : ['{', '}'];
    let text = opener;
    const starts: number[] = [];
    const ends: number[] = [];
    const vals: V[] = [];
    for (const [piece, value] of pieces) {
      if (vals.length > 0) text += ',';
      starts.push(text.length);
      text += piece;
      ends.push(text.length);
      vals.push(value);
    }
    this.text = text + closer;
    this.starts = starts;
    this.ends = ends;
    this.vals = vals;
  }

  private *run(text: string): Generator<void, PieceChanges<V> | null, void> {
    const open = skipSpace(text, 0);
    let close = text.length - 1;
    while (close > open && isSpace(text.charCodeAt(close))) close--;
    const [opener, closer] = this.kind === 'array' ? ['[', ']'] : ['{', '}'];
    if (text[open] !== opener || text[close] !== closer || close === open) return null;
    const first = skipSpace(text, open + 1);
    const { text: oldText, starts: os, ends: oe, vals: ov } = this;
    // The text both answers start and end with (a few native compares of large slices): the old
    // pieces inside it are where they were, or shifted by the change in length, and are taken
    // over without a compare each. A service list with one service changed walks that one piece.
    // The two may overlap (a removed piece that starts and ends like its neighbour): each is used
    // on its own, the prefix for the first pieces, the suffix from where the walk reaches it.
    const shared = Math.min(text.length, oldText.length);
    const prefix = ov.length === 0 ? 0 : commonPrefix(text, oldText, shared);
    const suffixFrom = text.length - (ov.length === 0 ? 0 : commonSuffix(text, oldText, shared));
    const shift = text.length - oldText.length;
    // Old pieces that lie whole in the common prefix, each with the comma after it.
    let i = 0;
    if (ov.length > 0 && os[0] === first) while (i < ov.length && oe[i]! < prefix && text.charCodeAt(oe[i]!) === 0x2c) i++;
    const starts: number[] = os.slice(0, i);
    const ends: number[] = oe.slice(0, i);
    const vals: V[] = ov.slice(0, i);
    const added: V[] = [];
    const removed: V[] = [];
    /** Where old piece `k` ends if the new text has it at `at` followed by a comma or the end; else -1. */
    const matchAt = (k: number, at: number): number => {
      const end = at + (oe[k]! - os[k]!);
      if (end > close || (end !== close && text.charCodeAt(end) !== 0x2c)) return -1;
      // Two slices compared with ===: a native compare of the characters (startsWith compares one at a time, several times slower).
      return text.slice(at, end) === oldText.slice(os[k], oe[k]) ? end : -1;
    };
    if (first < close) {
      const delimiter = this.kind === 'array' ? arrayDelimiter(text, first) : '],"';
      if (delimiter === null) return null;
      let j = i === 0 ? first : oe[i - 1]! + 1;
      for (let pieces = i + 1; ; pieces++) {
        // In the common suffix at the start of an old piece: it and every old piece after it are
        // the rest of the answer, shifted; the old pieces skipped on the way went.
        if (j >= suffixFrom && i < ov.length) {
          const k = pieceStartingAt(os, j - shift, i);
          if (k !== -1) {
            for (let d = i; d < k; d++) removed.push(ov[d]!);
            for (let m = k; m < ov.length; m++) {
              starts.push(os[m]! + shift);
              ends.push(oe[m]! + shift);
              vals.push(ov[m]!);
            }
            i = ov.length;
            break;
          }
        }
        let end = i < ov.length ? matchAt(i, j) : -1;
        for (let k = 1; end === -1 && k <= LOOKAHEAD && i + k < ov.length; k++) {
          end = matchAt(i + k, j);
          if (end !== -1) {
            for (let d = 0; d < k; d++) removed.push(ov[i + d]!);
            i += k;
          }
        }
        if (end !== -1) {
          vals.push(ov[i]!);
          i += 1;
        } else {
          const at = text.indexOf(delimiter, j);
          end = at === -1 || at >= close ? close : at + 1;
          let value: V;
          try {
            value = this.decode(text.slice(j, end));
          } catch {
            // Not a whole element: a cut fell inside a value. The caller parses the answer whole.
            return null;
          }
          added.push(value);
          vals.push(value);
          // Replaced: the old piece expected here does not come next, the one after it does.
          if (end < close && i + 1 < ov.length && matchAt(i, end + 1) === -1 && matchAt(i + 1, end + 1) !== -1) {
            removed.push(ov[i]!);
            i += 1;
          }
        }
        starts.push(j);
        ends.push(end);
        if (end === close) break;
        j = end + 1;
        if (pieces % PIECES_PER_TURN === 0) yield;
      }
    }
    for (; i < ov.length; i++) removed.push(ov[i]!);
    this.text = text;
    this.starts = starts;
    this.ends = ends;
    this.vals = vals;
    return { removed, added };
  }
}

/** Largest block compared at once when looking for the common prefix or suffix. */
const MAX_BLOCK = 1 << 16;

/** Length of the longest common prefix of `a` and `b`, at most `max`. */
function commonPrefix(a: string, b: string, max: number): number {
  return commonRun(a, b, max, false);
}

/** Length of the longest common suffix of `a` and `b`, at most `max`. */
function commonSuffix(a: string, b: string, max: number): number {
  return commonRun(a, b, max, true);
}

/**
 * Length of the longest run `a` and `b` share at their start (or, `fromEnd`, at their end), at
 * most `max`: blocks compared as slices (native), doubled while equal, halved around a difference.
 */
function commonRun(a: string, b: string, max: number, fromEnd: boolean): number {
  let n = 0;
  let block = 1 << 12;
  while (n < max) {
    const len = Math.min(block, max - n);
    const same = fromEnd ? a.slice(a.length - n - len, a.length - n) === b.slice(b.length - n - len, b.length - n) : a.slice(n, n + len) === b.slice(n, n + len);
    if (same) {
      n += len;
      if (block < MAX_BLOCK) block *= 2;
    } else if (len === 1) {
      break;
    } else {
      block = len >>> 1;
    }
  }
  return n;
}

/** The index k ≥ `from` with starts[k] === at (starts ascending), or -1. */
function pieceStartingAt(starts: readonly number[], at: number, from: number): number {
  let lo = from;
  let hi = starts.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (starts[mid]! < at) lo = mid + 1;
    else hi = mid;
  }
  return lo < starts.length && starts[lo] === at ? lo : -1;
}

/** `},{"K":` for an array whose first element starts with key `K`; null when it does not start so. */
function arrayDelimiter(text: string, first: number): string | null {
  if (text[first] !== '{' || text[first + 1] !== '"') return null;
  const end = text.indexOf('"', first + 2);
  if (end === -1 || text[end + 1] !== ':') return null;
  const key = text.slice(first + 2, end);
  if (key.includes('\\')) return null;
  return `},{"${key}":`;
}

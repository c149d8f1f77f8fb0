import { setImmediate as nextTurn } from 'node:timers/promises';

/** Characters of JSON text parsed per slice (~0.3 ms of JSON.parse), between two turns of the event loop. */
const SLICE_CHARS = 64 * 1024;

/** Cut points tried per slice before the rest is parsed in one go (see below). */
const MAX_CUT_TRIES = 8;

/**
 * Parses `text`, a JSON array of objects, a slice of elements at a time, handing each slice's
 * elements to `onElements` and giving the event loop a turn between slices, so a multi-megabyte
 * answer (every check of a datacenter) never holds the loop longer than one slice: requests
 * keep flowing while it is read. `JSON.parse` of the whole text would be one block of tens of
 * milliseconds.
 *
 * A slice ends at a `},{` found by `indexOf` (native speed) past `sliceChars`, and is parsed by
 * `JSON.parse` as `[` + slice + `]`. That parse succeeding proves the cut was between two
 * top-level elements: a cut inside a string leaves it unterminated, a cut inside a nested value
 * leaves it unclosed, and both fail to parse. On failure the next `},{` is tried; after
 * MAX_CUT_TRIES failures (strings full of `},{`) the rest is parsed whole, which is still right,
 * only not sliced. Arrays of other values than objects are parsed whole too.
 *
 * Throws a SyntaxError naming the position when the text is not one JSON array.
 */
export async function parseArrayInSlices(text: string, onElements: (elements: unknown[]) => void, sliceChars = SLICE_CHARS): Promise<void> {
  const open = skipSpace(text, 0);
  if (text[open] !== '[') throw new SyntaxError(`expected a JSON array at position ${open}`);
  let close = text.length - 1;
  while (close > open && isSpace(text.charCodeAt(close))) close--;
  if (close === open || text[close] !== ']') throw new SyntaxError(`the array is not closed (${text.length} characters)`);
  const first = open + 1;
  let start = first;
  for (;;) {
    let parsed: unknown[] | null = null;
    let cut = start + sliceChars < close ? text.indexOf('},{', start + sliceChars) : -1;
    for (let tries = 0; cut !== -1 && cut < close && tries < MAX_CUT_TRIES; tries++) {
      parsed = tryParse(text.slice(start, cut + 1));
      if (parsed !== null) break;
      cut = text.indexOf('},{', cut + 2);
    }
    if (parsed === null) {
      const rest = text.slice(start, close);
      if (rest.trim() === '') {
        if (start !== first) throw new SyntaxError(`a comma before the closing bracket at position ${close}`);
        return;
      }
      onElements(parseSlice(rest, start));
      return;
    }
    onElements(parsed);
    start = cut + 2;
    await nextTurn();
  }
}

function tryParse(elements: string): unknown[] | null {
  try {
    return JSON.parse(`[${elements}]`) as unknown[];
  } catch {
    // Not a cut between elements (or not JSON): the caller tries further on, then parses the rest whole.
    return null;
  }
}

function parseSlice(elements: string, at: number): unknown[] {
  try {
    return JSON.parse(`[${elements}]`) as unknown[];
  } catch (err) {
    throw new SyntaxError(`invalid JSON in the elements from position ${at}: ${(err as Error).message}`);
  }
}

/** JSON white space (RFC 8259 §2). */
export function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** The first position at or after `from` that is not JSON white space. */
export function skipSpace(text: string, from: number): number {
  let i = from;
  while (i < text.length && isSpace(text.charCodeAt(i))) i++;
  return i;
}

import { setImmediate as nextTurn } from 'node:timers/promises';

/** Characters of JSON text parsed per slice (~0.5 ms of work), between two turns of the event loop. */
const SLICE_CHARS = 64 * 1024;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COMMA = 0x2c;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;

/**
 * Parses `text`, a JSON array, a slice of elements at a time, handing each slice's elements to
 * `onElements` and giving the event loop a turn between slices, so a multi-megabyte answer (every
 * check of a datacenter) never holds the loop longer than one slice: requests keep flowing while
 * it is read. `JSON.parse` of the whole text would be one block of tens of milliseconds.
 *
 * Element boundaries are found by a scan that follows strings (and their escapes) and nesting;
 * each slice of whole elements is then parsed by `JSON.parse`, which also validates it. Throws
 * a SyntaxError naming the position when the text is not one JSON array.
 */
export async function parseArrayInSlices(text: string, onElements: (elements: unknown[]) => void, sliceChars = SLICE_CHARS): Promise<void> {
  let pos = skipSpace(text, 0);
  if (text.charCodeAt(pos) !== OPEN_BRACKET) throw new SyntaxError(`expected a JSON array at position ${pos}`);
  const first = pos + 1;
  let start = first;
  let depth = 0;
  let inString = false;
  let sliceEnd = Math.min(text.length, start + sliceChars);
  for (pos = start; pos < text.length; pos++) {
    const c = text.charCodeAt(pos);
    if (inString) {
      if (c === BACKSLASH) pos++;
      else if (c === QUOTE) inString = false;
      continue;
    }
    if (c === QUOTE) inString = true;
    else if (c === OPEN_BRACE || c === OPEN_BRACKET) depth++;
    else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      if (depth === 0) {
        // The array's own closing bracket: the last slice, then nothing but white space.
        if (c !== CLOSE_BRACKET) throw new SyntaxError(`unexpected "}" at position ${pos}`);
        const rest = text.slice(start, pos);
        if (rest.trim() !== '') onElements(parseSlice(rest, start));
        // After a slice boundary (a comma) an element must follow.
        else if (start !== first) throw new SyntaxError(`a comma before the closing bracket at position ${pos}`);
        const end = skipSpace(text, pos + 1);
        if (end !== text.length) throw new SyntaxError(`unexpected text after the array at position ${end}`);
        return;
      }
      depth--;
    } else if (c === COMMA && depth === 0 && pos >= sliceEnd) {
      onElements(parseSlice(text.slice(start, pos), start));
      start = pos + 1;
      sliceEnd = Math.min(text.length, start + sliceChars);
      await nextTurn();
    }
  }
  throw new SyntaxError(`the array is not closed (${text.length} characters)`);
}

function parseSlice(elements: string, at: number): unknown[] {
  try {
    return JSON.parse(`[${elements}]`) as unknown[];
  } catch (err) {
    throw new SyntaxError(`invalid JSON in the elements from position ${at}: ${(err as Error).message}`);
  }
}

function skipSpace(text: string, from: number): number {
  let i = from;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    if (c !== 0x20 && c !== 0x0a && c !== 0x0d && c !== 0x09) break;
    i++;
  }
  return i;
}

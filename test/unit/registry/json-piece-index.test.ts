import { describe, expect, it } from 'vitest';
import { JsonPieceIndex } from '../../../src/registry/consul/json-piece-index.js';

interface Check {
  Node: string;
  CheckID: string;
  Status: string;
  Output?: string;
  Definition?: unknown;
}

/** An index over arrays of checks whose value is the element's text as parsed and printed again (so values can be compared). */
function checkIndex(decoded: string[] = []) {
  return new JsonPieceIndex<string>('array', (piece) => {
    const value: unknown = JSON.parse(piece);
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
    decoded.push(piece);
    return JSON.stringify(value);
  });
}

/** What went and came between two lists, as multisets (the reference the index must agree with). */
function multisetDiff(before: readonly unknown[], after: readonly unknown[]): { removed: string[]; added: string[] } {
  const left = before.map((x) => JSON.stringify(x));
  const added: string[] = [];
  for (const x of after.map((y) => JSON.stringify(y))) {
    const i = left.indexOf(x);
    if (i === -1) added.push(x);
    else left.splice(i, 1);
  }
  return { removed: left.sort(), added: added.sort() };
}

const check = (n: number, status = 'passing', extra: Partial<Check> = {}): Check => ({ Node: `node-${n % 7}`, CheckID: `service:svc-${n}`, Status: status, ...extra });

/** A small deterministic random source (mulberry32), so a failure can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe('JsonPieceIndex (array)', () => {
  it('decodes every element of the first answer, then only the elements whose text is new', () => {
    const decoded: string[] = [];
    const index = checkIndex(decoded);
    const first = [check(1), check(2), check(3), check(4)];
    expect(index.update(JSON.stringify(first))).toEqual({ removed: [], added: first.map((c) => JSON.stringify(c)) });
    expect(decoded).toHaveLength(4);
    decoded.length = 0;
    // 2 failed, 3 left, 5 came: only the failed 2 and the new 5 are parsed.
    const second = [check(1), check(2, 'critical'), check(4), check(5)];
    const changes = index.update(JSON.stringify(second))!;
    expect(decoded.map((p) => JSON.parse(p) as Check).map((c) => c.CheckID)).toEqual(['service:svc-2', 'service:svc-5']);
    expect({ removed: [...changes.removed].sort(), added: [...changes.added].sort() }).toEqual(multisetDiff(first, second));
    expect(index.size).toBe(4);
    // The same text again: nothing parsed, nothing changed.
    decoded.length = 0;
    expect(index.update(JSON.stringify(second))).toEqual({ removed: [], added: [] });
    expect(decoded).toEqual([]);
  });

  it('reads an empty array, whitespace around the answer, and an answer becoming empty', () => {
    const index = checkIndex();
    expect(index.update(' [] \n')).toEqual({ removed: [], added: [] });
    expect(index.update(`${JSON.stringify([check(1), check(1)])}\n`)?.added).toHaveLength(2);
    expect(index.update('[]')).toEqual({ removed: [JSON.stringify(check(1)), JSON.stringify(check(1))], added: [] });
  });

  it('over random edits, reorders and duplicates, what went and came turns the last list into the new one, parsing little when the order holds', () => {
    const next = random(27);
    let list: Check[] = Array.from({ length: 60 }, (_, i) => check(i));
    const index = checkIndex();
    index.update(JSON.stringify(list));
    for (let round = 0; round < 300; round++) {
      const after = list.slice();
      const edits = 1 + Math.floor(next() * 6);
      let reordered = false;
      for (let e = 0; e < edits; e++) {
        const at = Math.floor(next() * (after.length + 1));
        const kind = next();
        if (kind < 0.25 && after.length > 0) after.splice(Math.min(at, after.length - 1), 1);
        else if (kind < 0.5) after.splice(at, 0, check(Math.floor(next() * 200), 'critical'));
        else if (kind < 0.7 && after.length > 0) after[Math.min(at, after.length - 1)] = check(Math.floor(next() * 200), next() < 0.5 ? 'warning' : 'passing', { Output: 'x' });
        else if (kind < 0.8 && after.length > 0) after.push(after[Math.min(at, after.length - 1)]!);
        else if (kind < 0.9 && after.length > 1) {
          after.reverse();
          reordered = true;
        }
      }
      const changes = index.update(JSON.stringify(after));
      expect(changes, `round ${round}`).not.toBeNull();
      // The last list, less what went, plus what came, is the new list (a reorder may report an
      // element as gone and come back: the registry counts net changes, so that is still right).
      const applied = list.map((c) => JSON.stringify(c));
      for (const gone of changes!.removed) {
        const i = applied.indexOf(gone);
        expect(i, `round ${round}: removed ${gone} was not there`).not.toBe(-1);
        applied.splice(i, 1);
      }
      applied.push(...changes!.added);
      expect(applied.sort(), `round ${round}`).toEqual(after.map((c) => JSON.stringify(c)).sort());
      if (!reordered) expect(changes!.added.length, `round ${round}`).toBeLessThanOrEqual(multisetDiff(list, after).added.length + 2 * edits);
      expect(index.size).toBe(after.length);
      list = after;
    }
  });

  it('in a large answer, decodes only the pieces of the one region that changed, wherever it is, and reports a long run of removed pieces without decoding', () => {
    const next = random(5000);
    let list: Check[] = Array.from({ length: 3000 }, (_, i) => check(i));
    const decoded: string[] = [];
    const index = checkIndex(decoded);
    index.update(JSON.stringify(list));
    for (let round = 0; round < 200; round++) {
      // One region: at the start, the end or anywhere; a few pieces replaced, inserted or (up to 40) removed.
      const at = round % 5 === 0 ? 0 : round % 5 === 1 ? list.length : Math.floor(next() * list.length);
      const cut = Math.min(Math.floor(next() * (round % 3 === 0 ? 40 : 3)), list.length - at);
      const inserted = Array.from({ length: Math.floor(next() * 3) }, () => check(3000 + Math.floor(next() * 500), 'critical', { Output: `r${round}` }));
      const after = [...list.slice(0, at), ...inserted, ...list.slice(at + cut)];
      decoded.length = 0;
      const changes = index.update(JSON.stringify(after));
      expect(changes, `round ${round}`).not.toBeNull();
      expect(decoded, `round ${round}: only the inserted pieces are decoded`).toHaveLength(inserted.length);
      expect({ removed: [...changes!.removed].sort(), added: [...changes!.added].sort() }, `round ${round}`).toEqual(multisetDiff(list, after));
      expect(index.size).toBe(after.length);
      list = after;
    }
    // What it keeps is right: the same text again changes nothing and decodes nothing.
    decoded.length = 0;
    expect(index.update(JSON.stringify(list))).toEqual({ removed: [], added: [] });
    expect(decoded).toEqual([]);
  });

  it('after a common prefix and suffix, a bad piece between them still makes the answer be parsed whole, and what it knew stays', () => {
    const list = Array.from({ length: 500 }, (_, i) => check(i));
    const index = checkIndex();
    index.update(JSON.stringify(list));
    const text = JSON.stringify(list);
    const middle = text.indexOf(JSON.stringify(check(250)));
    // A trailing comma inside the array, a non-object element, a cut inside a nested value.
    for (const bad of [
      `${text.slice(0, middle)}1,${text.slice(middle)}`,
      `${text.slice(0, middle)},${text.slice(middle)}`,
      `${text.slice(0, middle)}${JSON.stringify({ Node: 'n', Definition: { List: [{ x: 1 }, { Node: 'inner' }] } })},${text.slice(middle)}`,
      `${text.slice(0, -1)},]`,
    ]) {
      expect(index.update(bad), bad.slice(middle - 20, middle + 60)).toBeNull();
    }
    expect(index.update(text)).toEqual({ removed: [], added: [] });
  });

  it('answers null (parse it whole) when a cut falls inside a value: a nested object with the same first key, or a string holding the delimiter', () => {
    const nested = [{ Node: 'a', CheckID: 'c1', Status: 'passing', Definition: { List: [{ x: 1 }, { Node: 'inner' }] } }];
    expect(checkIndex().update(JSON.stringify(nested))).toBeNull();
    // A string cannot hold an unescaped quote, so `},{"Node":` inside Output is escaped and is not a cut.
    const tricky = [check(1, 'critical', { Output: '},{"Node":"x"}' }), check(2)];
    expect(checkIndex().update(JSON.stringify(tricky))?.added).toHaveLength(2);
  });

  it('answers null for text that is not a compact array of objects, and keeps what it knew', () => {
    const index = checkIndex();
    const list = [check(1), check(2)];
    index.update(JSON.stringify(list));
    for (const bad of ['{"a":1}', '[1,2]', '[{"Node":"a"},2]', JSON.stringify(list, null, 2), '[{"Node":"a"}', 'null', '[{"Node":"a"},]']) {
      expect(index.update(bad), bad).toBeNull();
    }
    // What it knew is intact: the same list again changes nothing.
    expect(index.update(JSON.stringify(list))).toEqual({ removed: [], added: [] });
  });

  it('after replace() (an answer parsed whole), the next answer is compared with the replaced pieces', () => {
    const decoded: string[] = [];
    const index = checkIndex(decoded);
    const list = [check(1), check(2), check(3)];
    index.replace(list.map((c) => [JSON.stringify(c), JSON.stringify(c)] as const));
    expect(index.values()).toHaveLength(3);
    const next = [check(1), check(3), check(4)];
    const changes = index.update(JSON.stringify(next))!;
    expect(decoded).toHaveLength(1);
    expect({ removed: [...changes.removed].sort(), added: [...changes.added].sort() }).toEqual(multisetDiff(list, next));
  });
});

describe('JsonPieceIndex (object)', () => {
  const catalogIndex = (decoded: string[] = []) =>
    new JsonPieceIndex<[string, unknown][]>('object', (piece) => {
      const value = JSON.parse(`{${piece}}`) as Record<string, unknown>;
      decoded.push(piece);
      return Object.entries(value);
    });

  it('cuts a service list into its members and parses only the members that changed; null values ride along with the next member', () => {
    const decoded: string[] = [];
    const index = catalogIndex(decoded);
    const first = { a: ['x'], b: null, c: ['y', 'z'], d: [] };
    expect(index.update(JSON.stringify(first))!.added.flat()).toEqual(Object.entries(first));
    decoded.length = 0;
    const second = { a: ['x'], b: null, c: ['y'], d: [], e: ['w'] };
    const changes = index.update(JSON.stringify(second))!;
    expect(changes.removed.flat()).toEqual([['b', null], ['c', ['y', 'z']]]);
    expect(changes.added.flat()).toEqual([['b', null], ['c', ['y']], ['e', ['w']]]);
    expect(decoded).toHaveLength(changes.added.length);
  });

  it('answers null when a tag holds the delimiter so that a cut falls inside a string', () => {
    expect(catalogIndex().update(JSON.stringify({ a: ['p],'], b: ['q'] }))).toBeNull();
    expect(catalogIndex().update('{}')).toEqual({ removed: [], added: [] });
  });
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PersistentSortedMap } from '../../../src/registry/persistent-sorted-map.js';

/** Keys from a small alphabet, so that changes hit, miss, and land before, between and after chunks. */
const key = fc.stringMatching(/^[a-d]{0,4}$/);
/** One version's changes: a number sets the key, null removes it. */
const changes = fc.array(fc.tuple(key, fc.option(fc.integer(), { nil: null })), { maxLength: 300 });

function sortedEntries(m: ReadonlyMap<string, number>): [string, number][] {
  return [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

describe('PersistentSortedMap', () => {
  it('agrees with a native Map after every version, iterates in key order, and leaves earlier versions as they were', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(key, fc.integer()), { maxLength: 400 }), fc.array(changes, { maxLength: 12 }), (initial, versions) => {
        const model = new Map(initial);
        let map = PersistentSortedMap.from(initial);
        const history: { map: PersistentSortedMap<number>; expected: [string, number][] }[] = [];
        for (const version of versions) {
          history.push({ map, expected: sortedEntries(model) });
          const batch = new Map<string, number | undefined>();
          for (const [k, v] of version) batch.set(k, v ?? undefined);
          for (const [k, v] of batch) {
            if (v === undefined) model.delete(k);
            else model.set(k, v);
          }
          map = map.withChanges(batch);
          expect(map.size).toBe(model.size);
          expect([...map]).toEqual(sortedEntries(model));
          expect([...map.keys()]).toEqual(sortedEntries(model).map(([k]) => k));
          for (const [k] of version) {
            expect(map.get(k)).toBe(model.get(k));
            expect(map.has(k)).toBe(model.has(k));
          }
        }
        for (const { map: old, expected } of history) {
          expect([...old.entries()]).toEqual(expected);
          expect(old.size).toBe(expected.length);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('shares unchanged chunks: a version with one key changed among 10,000 holds the others by the same references', () => {
    const base = PersistentSortedMap.from(Array.from({ length: 10_000 }, (_, i) => [`svc-${i}`, { i }] as const));
    const next = base.withChanges(new Map([['svc-5000', { i: -1 }]]));
    expect(next.get('svc-5000')).toEqual({ i: -1 });
    expect(base.get('svc-5000')).toEqual({ i: 5000 });
    const changed = [...next.keys()].filter((k) => next.get(k) !== base.get(k));
    expect(changed).toEqual(['svc-5000']);
    expect(next.withChanges(new Map())).toBe(next);
  });

  it('grows from empty through chunk splits and shrinks back to empty', () => {
    let map = PersistentSortedMap.empty<number>();
    const keys = Array.from({ length: 1_000 }, (_, i) => `k${String(i).padStart(4, '0')}`).reverse();
    for (const k of keys) map = map.withChanges(new Map([[k, 1]]));
    expect([...map.keys()]).toEqual([...keys].sort());
    for (const k of keys) map = map.withChanges(new Map([[k, undefined]]));
    expect(map.size).toBe(0);
    expect([...map]).toEqual([]);
    expect(map.get('k0001')).toBeUndefined();
  });

  it('forEach passes value, key and the map, in key order', () => {
    const map = PersistentSortedMap.from([['b', 2], ['a', 1]]);
    const seen: [string, number][] = [];
    map.forEach((v, k, m) => {
      expect(m).toBe(map);
      seen.push([k, v]);
    });
    expect(seen).toEqual([['a', 1], ['b', 2]]);
  });
});

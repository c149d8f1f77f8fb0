import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { PrefixIndex } from '../../../src/routing/prefix-index.js';
import type { Route } from '../../../src/routing/route.js';

/** Only what PrefixIndex reads of a route: name, prefix, conditions, order. */
function route(name: string, prefix: string, methods: string[] | null = null): Route {
  return { name, prefix, methods: methods === null ? null : new Set(methods), headers: [], order: 0, source: 'tags', host: undefined } as unknown as Route;
}

/** The index's content as sorted [prefix, route names in order] pairs. */
function content(index: PrefixIndex): [string, string[]][] {
  return [...index.entries()].map(([p, list]) => [p, list.map((r) => r.name)] as [string, string[]]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The reference: prefix → route names, ordered as PrefixIndex orders equal routes (conditions first, then by name). */
function expected(model: Map<string, Route>): [string, string[]][] {
  const byPrefix = new Map<string, Route[]>();
  for (const r of model.values()) byPrefix.set(r.prefix, [...(byPrefix.get(r.prefix) ?? []), r]);
  return [...byPrefix]
    .map(([p, list]) => [p, list.sort((a, b) => (b.methods ? 1 : 0) - (a.methods ? 1 : 0) || (a.name < b.name ? -1 : 1)).map((r) => r.name)] as [string, string[]])
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The route a path gets from the model: the longest prefix on a segment boundary, conditions first. */
function expectedMatch(model: Map<string, Route>, path: string, method: string): string | undefined {
  const hits = [...model.values()].filter((r) => (r.prefix === '/' || path === r.prefix || path.startsWith(`${r.prefix}/`)) && (r.methods === null || r.methods.has(method)));
  hits.sort((a, b) => b.prefix.length - a.prefix.length || (b.methods ? 1 : 0) - (a.methods ? 1 : 0) || (a.name < b.name ? -1 : 1));
  return hits[0]?.name;
}

describe('PrefixIndex copies (properties)', () => {
  it('a chain of copies, each changed and sealed, always holds what its changes say, folds its overlay without a trace, and never changes a sealed index', () => {
    const prefixes = Array.from({ length: 120 }, (_, i) => `/s${i % 60}${i >= 60 ? '/v2' : ''}`);
    const step = fc.array(
      fc.record({ remove: fc.boolean(), prefix: fc.constantFrom(...prefixes), name: fc.integer({ min: 0, max: 3 }), get: fc.boolean() }),
      { minLength: 1, maxLength: 6 },
    );
    fc.assert(
      fc.property(fc.array(step, { minLength: 1, maxLength: 120 }), (steps) => {
        const model = new Map<string, Route>();
        let index = new PrefixIndex().seal();
        const sealed: { index: PrefixIndex; snapshot: [string, string[]][] }[] = [];
        for (const changes of steps) {
          const next = index.copy();
          for (const c of changes) {
            const key = `${c.prefix}#${c.name}`;
            const held = model.get(key);
            if (c.remove) {
              if (held === undefined) continue;
              expect(next.remove(held)).toBe(true);
              model.delete(key);
            } else if (held === undefined) {
              const r = route(key, c.prefix, c.get ? ['GET'] : null);
              next.add(r);
              model.set(key, r);
            }
          }
          index = next.seal();
          const now = expected(model);
          expect(content(index)).toEqual(now);
          expect(index.size).toBe(model.size);
          expect(index.empty).toBe(model.size === 0);
          for (const path of ['/s1', '/s1/v2', '/s1/v2/x', '/s59/a', '/s7/v2', '/nothing']) {
            for (const method of ['GET', 'POST']) expect(index.match(path, method, {})?.name, `${method} ${path}`).toBe(expectedMatch(model, path, method));
          }
          sealed.push({ index, snapshot: now });
        }
        // Copy-on-write: every sealed index still holds what it held when sealed.
        for (const s of sealed) expect(content(s.index)).toEqual(s.snapshot);
      }),
      { numRuns: 60 },
    );
  });

  it('a sealed index refuses changes, and removing a route it does not hold says so', () => {
    const index = new PrefixIndex();
    const a = route('a', '/a');
    index.add(a);
    index.seal();
    expect(() => index.add(route('b', '/b'))).toThrow(/sealed/);
    const next = index.copy();
    expect(next.remove(route('a', '/a'))).toBe(false);
    expect(next.remove(a)).toBe(true);
    expect(next.remove(a)).toBe(false);
    expect(content(next.seal())).toEqual([]);
    expect(content(index)).toEqual([['/a', ['a']]]);
  });
});

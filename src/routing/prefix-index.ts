import type { IncomingHttpHeaders } from 'node:http';
import { conditionCount, conditionsMatch, type Route } from './route.js';

/**
 * Routes of one host group indexed by path prefix. Lookup tries the prefix lengths present
 * in the group from longest to shortest, only where the path has a segment boundary, with one
 * Map probe each: cost grows with the number of distinct prefix lengths, not with the number
 * of routes.
 *
 * Copy-on-write: a sealed index is never changed (requests may be reading it). `copy()` gives
 * an unsealed index that shares the route lists of the original; `add` and `remove` copy a list
 * before changing it, and `seal()` orders only the lists that changed. Updating a group for a
 * few routes costs one Map copy of the group plus the changed lists, not a rebuild.
 */
export class PrefixIndex {
  private readonly byPrefix: Map<string, Route[]>;
  /** How many prefixes of each length the group has (lengths come and go with their last prefix). */
  private readonly lengthCounts: Map<number, number>;
  /** Distinct prefix lengths, longest first. */
  private lengths: number[];
  /** Prefixes whose list this (unsealed) index owns: copied or created since `copy()`/construction, to sort at seal. */
  private owned: Set<string> | null = new Set();

  constructor(from?: PrefixIndex) {
    this.byPrefix = new Map(from?.byPrefix);
    this.lengthCounts = new Map(from?.lengthCounts);
    this.lengths = from?.lengths ?? [];
  }

  /** An unsealed copy sharing this index's route lists; change it, then seal it. */
  copy(): PrefixIndex {
    return new PrefixIndex(this);
  }

  add(route: Route): void {
    this.own(route.prefix).push(route);
  }

  /** Removes this route object; false when the index does not hold it. */
  remove(route: Route): boolean {
    const shared = this.byPrefix.get(route.prefix);
    if (shared === undefined || !shared.includes(route)) return false;
    const list = this.own(route.prefix);
    list.splice(list.indexOf(route), 1);
    if (list.length === 0) {
      this.byPrefix.delete(route.prefix);
      this.owned!.delete(route.prefix);
      const n = this.lengthCounts.get(route.prefix.length)! - 1;
      if (n === 0) this.lengthCounts.delete(route.prefix.length);
      else this.lengthCounts.set(route.prefix.length, n);
    }
    return true;
  }

  /** Orders what changed once all routes are added or removed; the index is read-only after. */
  seal(): this {
    if (this.owned === null) return this;
    this.lengths = [...this.lengthCounts.keys()].sort((a, b) => b - a);
    for (const prefix of this.owned) this.byPrefix.get(prefix)!.sort(precedence);
    this.owned = null;
    return this;
  }

  get size(): number {
    let n = 0;
    for (const list of this.byPrefix.values()) n += list.length;
    return n;
  }

  /** Every route, prefix by prefix in precedence order (for comparisons and admin views). */
  *entries(): IterableIterator<readonly [string, readonly Route[]]> {
    yield* this.byPrefix;
  }

  match(path: string, method: string, headers: IncomingHttpHeaders): Route | undefined {
    const lengths = this.lengths;
    const pathLength = path.length;
    for (let i = 0; i < lengths.length; i++) {
      const len = lengths[i]!;
      if (len > pathLength) continue;
      // "/" (length 1) matches every path; other prefixes only end at "/" or the path's end.
      if (len > 1 && len < pathLength && path.charCodeAt(len) !== 47) continue;
      const list = this.byPrefix.get(len === pathLength ? path : path.slice(0, len));
      if (list === undefined) continue;
      for (let j = 0; j < list.length; j++) {
        const route = list[j]!;
        if (conditionsMatch(route, method, headers)) return route;
      }
    }
    return undefined;
  }

  /** The list of `prefix` that this index may change (copied from the shared one on first use). */
  private own(prefix: string): Route[] {
    const owned = this.owned;
    if (owned === null) throw new Error('PrefixIndex is sealed: copy() it to change it');
    const list = this.byPrefix.get(prefix);
    if (list !== undefined && owned.has(prefix)) return list;
    const mine = list === undefined ? [] : [...list];
    if (list === undefined) this.lengthCounts.set(prefix.length, (this.lengthCounts.get(prefix.length) ?? 0) + 1);
    this.byPrefix.set(prefix, mine);
    owned.add(prefix);
    return mine;
  }
}

/**
 * More conditions first, then declaration order; routes of equal order (tag routes share one)
 * by name, so the result does not depend on the order routes were added in.
 */
function precedence(a: Route, b: Route): number {
  return conditionCount(b) - conditionCount(a) || a.order - b.order || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}

import type { IncomingHttpHeaders } from 'node:http';
import { conditionCount, conditionsMatch, type Route } from './route.js';

/** Changed prefixes an index carries beside its shared map before it folds them in: at least this many… */
const OVERLAY_MIN = 16;
/** …or this share of the shared map's prefixes (1/32). */
const OVERLAY_SHARE_SHIFT = 5;

/** An overlay entry for a prefix the index no longer has (the shared map still lists it). */
const GONE: Route[] = [];

/**
 * Routes of one host group indexed by path prefix. Lookup tries the prefix lengths present
 * in the group from longest to shortest, only where the path has a segment boundary, with one
 * Map probe each (two while the index carries changes, see below): cost grows with the number
 * of distinct prefix lengths, not with the number of routes.
 *
 * Copy-on-write: a sealed index is never changed (requests may be reading it). `copy()` gives
 * an unsealed index that shares the route lists of the original; `add` and `remove` copy a list
 * before changing it, and `seal()` orders only the lists that changed.
 *
 * The prefixes live in a shared map, never written once an index using it is sealed, plus a
 * small overlay of the prefixes changed since (a removed prefix maps to an empty list there).
 * `copy()` copies the overlay, not the shared map, so a change of a few routes in a group of
 * thousands costs a copy of a few dozen entries; once the overlay holds more than
 * max(OVERLAY_MIN, 1/32 of the shared map) prefixes, `seal()` folds it into a new shared map.
 * A copy of the whole group then happens once per ~1/32 of its size in changes, not per change
 * (the group of 5,000 tag routes under registry churn was copied on every publish). Lookups
 * probe the overlay first only while it is not empty.
 */
export class PrefixIndex {
  /** Shared between copies; written only while this index is unsealed and owns it (a fold). */
  private byPrefix: Map<string, Route[]>;
  /** Prefixes changed since the shared map was made: their list here wins (GONE: removed). */
  private overlay: Map<string, Route[]>;
  /** How many prefixes of each length the group has (lengths come and go with their last prefix). */
  private readonly lengthCounts: Map<number, number>;
  /** Distinct prefix lengths, longest first. */
  private lengths: number[];
  /** Prefixes whose list this (unsealed) index owns: copied or created since `copy()`/construction, to sort at seal. */
  private owned: Set<string> | null = new Set();

  constructor(from?: PrefixIndex) {
    this.byPrefix = from?.byPrefix ?? new Map();
    this.overlay = new Map(from?.overlay);
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
    const shared = this.listOf(route.prefix);
    if (shared === undefined || !shared.includes(route)) return false;
    const list = this.own(route.prefix);
    list.splice(list.indexOf(route), 1);
    if (list.length === 0) {
      this.overlay.set(route.prefix, GONE);
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
    for (const prefix of this.owned) this.overlay.get(prefix)!.sort(precedence);
    this.owned = null;
    // A new index (a full build) folds at once: its lookups probe one map.
    if (this.byPrefix.size === 0 || this.overlay.size > Math.max(OVERLAY_MIN, this.byPrefix.size >>> OVERLAY_SHARE_SHIFT)) {
      // Folded into a new shared map: the old one may be read by a published index.
      const folded = new Map(this.byPrefix);
      for (const [prefix, list] of this.overlay) {
        if (list.length === 0) folded.delete(prefix);
        else folded.set(prefix, list);
      }
      this.byPrefix = folded;
      this.overlay = new Map();
    }
    return this;
  }

  /** True when the group has no route (every prefix length is counted while a prefix of it has routes). */
  get empty(): boolean {
    return this.lengthCounts.size === 0;
  }

  get size(): number {
    let n = 0;
    for (const [, list] of this.entries()) n += list.length;
    return n;
  }

  /** Every prefix with its routes in precedence order (for comparisons and admin views). */
  *entries(): IterableIterator<readonly [string, readonly Route[]]> {
    for (const entry of this.byPrefix) if (!this.overlay.has(entry[0])) yield entry;
    for (const entry of this.overlay) if (entry[1].length > 0) yield entry;
  }

  match(path: string, method: string, headers: IncomingHttpHeaders): Route | undefined {
    const lengths = this.lengths;
    const pathLength = path.length;
    const overlay = this.overlay.size === 0 ? null : this.overlay;
    for (let i = 0; i < lengths.length; i++) {
      const len = lengths[i]!;
      if (len > pathLength) continue;
      // "/" (length 1) matches every path; other prefixes only end at "/" or the path's end.
      if (len > 1 && len < pathLength && path.charCodeAt(len) !== 47) continue;
      const key = len === pathLength ? path : path.slice(0, len);
      const list = (overlay === null ? undefined : overlay.get(key)) ?? this.byPrefix.get(key);
      if (list === undefined) continue;
      for (let j = 0; j < list.length; j++) {
        const route = list[j]!;
        if (conditionsMatch(route, method, headers)) return route;
      }
    }
    return undefined;
  }

  /** The routes of `prefix` (an empty list or undefined when it has none). */
  private listOf(prefix: string): Route[] | undefined {
    return this.overlay.get(prefix) ?? this.byPrefix.get(prefix);
  }

  /** The list of `prefix` that this index may change (copied from the shared one on first use). */
  private own(prefix: string): Route[] {
    const owned = this.owned;
    if (owned === null) throw new Error('PrefixIndex is sealed: copy() it to change it');
    const list = this.listOf(prefix);
    if (list !== undefined && owned.has(prefix)) return list;
    const present = list !== undefined && list.length > 0;
    const mine = present ? [...list] : [];
    if (!present) this.lengthCounts.set(prefix.length, (this.lengthCounts.get(prefix.length) ?? 0) + 1);
    this.overlay.set(prefix, mine);
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

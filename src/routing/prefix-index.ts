import type { IncomingHttpHeaders } from 'node:http';
import { conditionCount, conditionsMatch, type Route } from './route.js';

/**
 * Routes of one host group indexed by path prefix. Lookup tries the prefix lengths present
 * in the group from longest to shortest, only where the path has a segment boundary, with one
 * Map probe each: cost grows with the number of distinct prefix lengths, not with the number
 * of routes.
 */
export class PrefixIndex {
  private readonly byPrefix = new Map<string, Route[]>();
  /** Distinct prefix lengths, longest first. */
  private lengths: number[] = [];

  add(route: Route): void {
    let list = this.byPrefix.get(route.prefix);
    if (!list) {
      list = [];
      this.byPrefix.set(route.prefix, list);
      this.lengths.push(route.prefix.length);
    }
    list.push(route);
  }

  /** Orders everything once all routes are added. */
  seal(): this {
    this.lengths = [...new Set(this.lengths)].sort((a, b) => b - a);
    for (const list of this.byPrefix.values()) {
      list.sort((a, b) => conditionCount(b) - conditionCount(a) || a.order - b.order);
    }
    return this;
  }

  get size(): number {
    let n = 0;
    for (const list of this.byPrefix.values()) n += list.length;
    return n;
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
}

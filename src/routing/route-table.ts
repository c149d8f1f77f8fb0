import type { IncomingHttpHeaders } from 'node:http';
import { PrefixIndex } from './prefix-index.js';
import type { Route } from './route.js';

/**
 * An immutable routing snapshot. Built off the hot path by `buildRouteTable` (everything) or
 * `withChanges` (a few routes) and swapped in with one reference assignment, so a request
 * always sees one whole table.
 *
 * Copy-on-write: `withChanges` returns a new table that shares every host group it does not
 * touch with this one; a touched group is copied (PrefixIndex.copy) and changed before the new
 * table exists. Nothing reachable from a published table is ever written to, so a request that
 * read the old reference keeps a consistent table while the new one is being made. A persistent
 * map (HAMT) would make a change O(log n), but every request would pay for its slower lookups;
 * native Maps keep lookups as they were, and a group's copy shares its prefix map and copies only
 * the small overlay of prefixes changed since (PrefixIndex), so a change costs a few dozen
 * entries and the whole group (about a millisecond at 10,000 routes) once per ~1/32 of its size.
 *
 * Precedence: the exact host's routes, then wildcard hosts from the most specific suffix
 * ("*.a.example.com" before "*.example.com"), then routes with no host. Within a host group
 * the longest matching path prefix wins; among routes with the same prefix, the one with more
 * method/header conditions wins, then the one declared first. A group whose routes all fail
 * falls through to the next group.
 */
export class RouteTable {
  constructor(
    readonly routes: readonly Route[],
    private readonly exactHosts: ReadonlyMap<string, PrefixIndex>,
    /** Keyed by suffix including the leading dot: "*.example.com" → ".example.com". */
    private readonly wildcardHosts: ReadonlyMap<string, PrefixIndex>,
    private readonly anyHost: PrefixIndex,
  ) {}

  static empty(): RouteTable {
    return new RouteTable([], new Map(), new Map(), new PrefixIndex().seal());
  }

  /**
   * A new table with `removed` taken out of their host groups and `added` put in, listing
   * `routes` (the caller's new route list, in the order a full build would give). Removed
   * routes are matched by identity. This table is left as it was.
   */
  withChanges(routes: readonly Route[], removed: readonly Route[], added: readonly Route[]): RouteTable {
    const exact = new Map(this.exactHosts);
    const wildcard = new Map(this.wildcardHosts);
    let any = this.anyHost;
    const touched = new Set<PrefixIndex>();
    const groupFor = (host: string | undefined): PrefixIndex => {
      if (host === undefined) {
        if (!touched.has(any)) touched.add((any = any.copy()));
        return any;
      }
      const isWildcard = host.startsWith('*.');
      const map = isWildcard ? wildcard : exact;
      const key = isWildcard ? host.slice(1) : host;
      let group = map.get(key);
      if (group === undefined || !touched.has(group)) {
        group = group === undefined ? new PrefixIndex() : group.copy();
        touched.add(group);
        map.set(key, group);
      }
      return group;
    };
    for (const route of removed) {
      if (!groupFor(route.host).remove(route)) throw new Error(`route "${route.name}" is not in the table it is removed from`);
    }
    for (const route of added) groupFor(route.host).add(route);
    for (const group of touched) group.seal();
    // A group left empty goes, as a full build would not have made it.
    for (const map of [exact, wildcard]) for (const [key, group] of map) if (touched.has(group) && group.empty) map.delete(key);
    return new RouteTable(routes, exact, wildcard, any);
  }

  /** Host groups with their prefixes, for comparing tables (tests) and admin views. */
  groups(): { exact: ReadonlyMap<string, PrefixIndex>; wildcard: ReadonlyMap<string, PrefixIndex>; any: PrefixIndex } {
    return { exact: this.exactHosts, wildcard: this.wildcardHosts, any: this.anyHost };
  }

  /** `host` is the lower-case host name without port. */
  match(host: string, path: string, method: string, headers: IncomingHttpHeaders): Route | undefined {
    if (host !== '') {
      const exact = this.exactHosts.get(host);
      if (exact !== undefined) {
        const r = exact.match(path, method, headers);
        if (r !== undefined) return r;
      }
      if (this.wildcardHosts.size > 0) {
        let dot = host.indexOf('.');
        while (dot >= 0) {
          const group = this.wildcardHosts.get(host.slice(dot));
          if (group !== undefined) {
            const r = group.match(path, method, headers);
            if (r !== undefined) return r;
          }
          dot = host.indexOf('.', dot + 1);
        }
      }
    }
    return this.anyHost.match(path, method, headers);
  }
}

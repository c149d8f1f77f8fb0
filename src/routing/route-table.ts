import type { IncomingHttpHeaders } from 'node:http';
import { PrefixIndex } from './prefix-index.js';
import type { Route } from './route.js';

/**
 * An immutable routing snapshot. Built off the hot path by `buildRouteTable` and swapped in
 * with one reference assignment, so a request always sees one whole table.
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

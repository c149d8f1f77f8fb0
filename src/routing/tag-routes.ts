import type { RegistryConfig, RouteConfig } from '../config/schema.js';
import { routeSchema } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { RegistrySnapshot } from '../registry/service-instance.js';
import type { RouteDeclaration } from './route-table-builder.js';
import { parseUrlprefixTag, type UrlprefixRoute } from './urlprefix-tag.js';

/** The tag prefix that declares routes, or null when the registry does not route from tags. */
export function tagRoutePrefix(registry: RegistryConfig): string | null {
  return registry.type === 'consul' && registry.tagRoutes ? registry.tagPrefix : null;
}

/** Slots a fabio share is expressed in: a share of 0.0001 (0.01%) is the smallest kept. */
const SHARE_SLOTS = 10_000;

/** A parsed tag route of one service, before merging. */
interface TagClaim {
  service: string;
  tag: string;
  route: UrlprefixRoute;
}

type Problems = Map<string, Record<string, unknown>>;

/** What one service's tags declare: its claims by route key and its own problems. */
interface ServiceClaims {
  tags: readonly string[];
  claims: Map<string, TagClaim>;
  /** Tags that do not parse or whose route a config route already has. */
  problems: Problems;
}

/** The tag declarations that changed in an update: the old ones to take out, the new ones to put in. */
export interface TagRouteChanges {
  removed: RouteDeclaration[];
  added: RouteDeclaration[];
}

/**
 * Turns registry service tags (`urlprefix-<host>/<path> [opts]`) into route declarations,
 * merged under the config's routes: a tag route whose host and path equal a config route's
 * is dropped (config wins). Of several services tagging the same host and path:
 * - when none of their tags has `weight=`, the service that sorts first wins;
 * - when any has `weight=`, they share one route as a weighted split with fabio's semantics:
 *   a service with `weight=w` gets the fixed share w (0.2 = 20%); fixed shares adding up to
 *   more than 1 are scaled down to 1, and when every service has one and they add up to less
 *   than 1 they are scaled up; the services without a weight share what is left evenly (none
 *   when the fixed shares take it all). Unlike fabio, a share belongs to the service, not to
 *   each of its instances: the service's balancer spreads it over its instances. The services
 *   must agree on the route's options (strip=, host=); one that does not is left out.
 * Problems are logged once when they appear, not on every rebuild.
 *
 * Incremental: `declarations` reads every service; `update` then re-reads only the services
 * named (those a registry change touched) and re-decides only the routes (host and path) their
 * tags claimed before or claim now. Both give the same declarations: each route is decided
 * from its claimants alone, sorted by service name.
 */
export class TagRoutes {
  private prefix: string | null = null;
  /** Route key → who already has it (config routes). */
  private taken = new Map<string, string>();
  private services = new Map<string, ServiceClaims>();
  /** Route key → the services claiming it. */
  private claimants = new Map<string, Map<string, TagClaim>>();
  private decided = new Map<string, RouteDeclaration>();
  /** Route key → problems found deciding it (conflicts between services). */
  private routeProblems = new Map<string, Problems>();

  constructor(private readonly logger: Logger) {}

  /** Every tag route, sorted by name; starts the state `update` continues from. */
  declarations(snapshot: RegistrySnapshot, prefix: string | null, configRoutes: readonly RouteConfig[]): RouteDeclaration[] {
    const before = this.allProblems();
    this.prefix = prefix;
    this.taken = new Map();
    this.services = new Map();
    this.claimants = new Map();
    this.decided = new Map();
    this.routeProblems = new Map();
    if (prefix === null) return [];
    for (const r of configRoutes) this.taken.set(routeKey(r.match.host, r.match.path), `config route "${r.name}"`);
    for (const [name, entry] of snapshot.services) this.claim(name, this.claimsOf(name, entry.tags));
    for (const key of this.claimants.keys()) this.decide(key);
    this.logNew(before, this.allProblems());
    return [...this.decided.values()].sort(byName);
  }

  /**
   * Re-reads the named services from `snapshot` (changed, added or removed) and returns the
   * declarations that changed. Continues from the last `declarations` call (same prefix and
   * config routes).
   */
  update(snapshot: RegistrySnapshot, names: Iterable<string>): TagRouteChanges {
    const changes: TagRouteChanges = { removed: [], added: [] };
    if (this.prefix === null) return changes;
    const dirty = new Set<string>();
    for (const name of names) {
      const entry = snapshot.services.get(name);
      const old = this.services.get(name);
      if (old !== undefined && entry !== undefined && sameList(old.tags, entry.tags)) continue;
      const next = entry === undefined ? null : this.claimsOf(name, entry.tags);
      if (next !== null) this.logNew(old?.problems ?? new Map(), next.problems);
      for (const key of this.claim(name, next)) dirty.add(key);
    }
    for (const key of dirty) {
      const before = this.decided.get(key);
      const problems = this.routeProblems.get(key) ?? new Map();
      this.decide(key);
      this.logNew(problems, this.routeProblems.get(key) ?? new Map());
      const after = this.decided.get(key);
      if (before !== undefined) changes.removed.push(before);
      if (after !== undefined) changes.added.push(after);
    }
    return changes;
  }

  /** Parses one service's tags. */
  private claimsOf(service: string, tags: readonly string[]): ServiceClaims {
    const claims = new Map<string, TagClaim>();
    const problems: Problems = new Map();
    for (const tag of tags) {
      const parsed = parseUrlprefixTag(tag, this.prefix!);
      if (parsed === null) continue;
      if (!parsed.ok) {
        problems.set(`${service}\u0000${tag}\u0000${parsed.reason}`, { service, tag, reason: parsed.reason, msg: 'route tag ignored' });
        continue;
      }
      const key = routeKey(parsed.route.host, parsed.route.path);
      const owner = this.taken.get(key);
      if (owner !== undefined) {
        problems.set(`${service}\u0000${tag}\u0000${owner}`, { service, tag, winner: owner, msg: 'route tag conflicts with another route for the same host and path; the other route wins' });
        continue;
      }
      // One claim per service and route: a service's repeated tag adds nothing.
      if (!claims.has(key)) claims.set(key, { service, tag, route: parsed.route });
    }
    return { tags, claims, problems };
  }

  /** Replaces a service's claims (null: the service is gone); returns the route keys whose claimants changed. */
  private claim(service: string, next: ServiceClaims | null): string[] {
    const old = this.services.get(service);
    if (next === null) this.services.delete(service);
    else this.services.set(service, next);
    const changed: string[] = [];
    for (const [key, c] of old?.claims ?? []) {
      if (next?.claims.get(key)?.tag === c.tag) continue;
      const list = this.claimants.get(key)!;
      list.delete(service);
      if (list.size === 0) this.claimants.delete(key);
      changed.push(key);
    }
    for (const [key, c] of next?.claims ?? []) {
      if (old?.claims.get(key)?.tag === c.tag) continue;
      let list = this.claimants.get(key);
      if (list === undefined) this.claimants.set(key, (list = new Map()));
      list.set(service, c);
      if (old?.claims.has(key) !== true) changed.push(key);
    }
    return changed;
  }

  /** Decides one route from its claimants (sorted by service name). */
  private decide(key: string): void {
    const found = this.claimants.get(key);
    this.routeProblems.delete(key);
    this.decided.delete(key);
    if (found === undefined || found.size === 0) return;
    const list = [...found.values()].sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0));
    const problems: Problems = new Map();
    const first = list[0]!;
    const weighted = list.some((c) => c.route.weight !== undefined);
    const members: TagClaim[] = [first];
    for (const c of list.slice(1)) {
      const winner = `tag route of service "${first.service}"`;
      if (!weighted) {
        problems.set(`${c.service}\u0000${c.tag}\u0000${winner}`, { service: c.service, tag: c.tag, winner, msg: 'route tag conflicts with another route for the same host and path; the other route wins' });
      } else if (!sameOptions(c.route, first.route)) {
        problems.set(`${c.service}\u0000${c.tag}\u0000options`, {
          service: c.service,
          tag: c.tag,
          winner,
          msg: 'route tag of a weighted route has other strip=/host= options than the first service\'s tag; give all services the same options',
        });
      } else {
        members.push(c);
      }
    }
    const { host, path, stripPrefix, rewritePrefix, hostRewrite } = first.route;
    const shared = { match: { host, path }, stripPrefix, rewritePrefix, hostRewrite };
    const config =
      members.length === 1
        ? routeSchema.parse({ name: `tag:${first.service}:${host ?? ''}${path}`, service: first.service, ...shared })
        : routeSchema.parse({
            name: `tag:${members.map((m) => m.service).join('+')}:${host ?? ''}${path}`,
            backends: fabioShares(members.map((m) => m.route.weight)).map((weight, i) => ({ service: members[i]!.service, weight })),
            ...shared,
          });
    this.decided.set(key, { config, source: 'tags' });
    if (problems.size > 0) this.routeProblems.set(key, problems);
  }

  private allProblems(): Problems {
    const all: Problems = new Map();
    for (const s of this.services.values()) for (const [k, v] of s.problems) all.set(k, v);
    for (const p of this.routeProblems.values()) for (const [k, v] of p) all.set(k, v);
    return all;
  }

  /** Logs the problems of `now` that `before` did not have. */
  private logNew(before: Problems, now: Problems): void {
    for (const [key, fields] of now) {
      if (before.has(key)) continue;
      const { msg, ...rest } = fields;
      this.logger.warn(rest, String(msg));
    }
  }
}

/**
 * fabio's share computation (route.weighTargets) per service, as whole weights out of
 * SHARE_SLOTS: fixed shares first (scaled to 1 when they exceed it, or when all services have
 * one and they fall short), the rest split evenly among the services without a weight. Every
 * service with a share above 0 keeps at least one slot, as in fabio's ring.
 */
export function fabioShares(fixed: readonly (number | undefined)[]): number[] {
  let sumFixed = 0;
  let nFixed = 0;
  for (const w of fixed) {
    if (w !== undefined) {
      sumFixed += w;
      nFixed++;
    }
  }
  if (nFixed === 0) return fixed.map(() => 1);
  const scale = sumFixed > 1 || (nFixed === fixed.length && sumFixed < 1) ? 1 / sumFixed : 1;
  const dynamic = nFixed === fixed.length ? 0 : Math.max(0, (1 - sumFixed) / (fixed.length - nFixed));
  return fixed.map((w) => {
    const share = w === undefined ? dynamic : w * scale;
    return share > 0 ? Math.max(1, Math.round(share * SHARE_SLOTS)) : 0;
  });
}

function sameOptions(a: UrlprefixRoute, b: UrlprefixRoute): boolean {
  return a.stripPrefix === b.stripPrefix && a.rewritePrefix === b.rewritePrefix && a.hostRewrite === b.hostRewrite;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a === b || (a.length === b.length && a.every((v, i) => v === b[i]));
}

function byName(a: RouteDeclaration, b: RouteDeclaration): number {
  return a.config.name < b.config.name ? -1 : a.config.name > b.config.name ? 1 : 0;
}

function routeKey(host: string | undefined, path: string): string {
  return `${host ?? ''} ${path}`;
}

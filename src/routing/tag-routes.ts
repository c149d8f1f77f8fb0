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
 */
export class TagRoutes {
  private logged = new Set<string>();

  constructor(private readonly logger: Logger) {}

  declarations(snapshot: RegistrySnapshot, prefix: string | null, configRoutes: readonly RouteConfig[]): RouteDeclaration[] {
    if (prefix === null) return [];
    const taken = new Map<string, string>();
    for (const r of configRoutes) taken.set(routeKey(r.match.host, r.match.path), `config route "${r.name}"`);
    const problems = new Map<string, Record<string, unknown>>();
    const claims = new Map<string, TagClaim[]>();
    const names = [...snapshot.services.keys()].sort();
    for (const service of names) {
      for (const tag of snapshot.services.get(service)!.tags) {
        const parsed = parseUrlprefixTag(tag, prefix);
        if (parsed === null) continue;
        if (!parsed.ok) {
          problems.set(`${service}\u0000${tag}\u0000${parsed.reason}`, { service, tag, reason: parsed.reason, msg: 'route tag ignored' });
          continue;
        }
        const key = routeKey(parsed.route.host, parsed.route.path);
        const owner = taken.get(key);
        if (owner !== undefined) {
          problems.set(`${service}\u0000${tag}\u0000${owner}`, { service, tag, winner: owner, msg: 'route tag conflicts with another route for the same host and path; the other route wins' });
          continue;
        }
        let list = claims.get(key);
        if (list === undefined) claims.set(key, (list = []));
        // One claim per service and route: a service's repeated tag adds nothing.
        if (!list.some((c) => c.service === service)) list.push({ service, tag, route: parsed.route });
      }
    }
    const out: RouteDeclaration[] = [];
    for (const list of claims.values()) {
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
      out.push({ config, source: 'tags' });
    }
    const next = new Set(problems.keys());
    for (const [key, fields] of problems) {
      if (this.logged.has(key)) continue;
      const { msg, ...rest } = fields;
      this.logger.warn(rest, String(msg));
    }
    this.logged = next;
    return out;
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

function routeKey(host: string | undefined, path: string): string {
  return `${host ?? ''} ${path}`;
}

import type { RegistryConfig, RouteConfig } from '../config/schema.js';
import { routeSchema } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { RegistrySnapshot } from '../registry/service-instance.js';
import type { RouteDeclaration } from './route-table-builder.js';
import { parseUrlprefixTag } from './urlprefix-tag.js';

/** The tag prefix that declares routes, or null when the registry does not route from tags. */
export function tagRoutePrefix(registry: RegistryConfig): string | null {
  return registry.type === 'consul' && registry.tagRoutes ? registry.tagPrefix : null;
}

/**
 * Turns registry service tags (`urlprefix-<host>/<path> [opts]`) into route declarations,
 * merged under the config's routes: a tag route whose host and path equal a config route's
 * is dropped (config wins), and of two tag routes with the same host and path the one of the
 * service that sorts first wins. Problems are logged once when they appear, not on every
 * rebuild.
 */
export class TagRoutes {
  private logged = new Set<string>();

  constructor(private readonly logger: Logger) {}

  declarations(snapshot: RegistrySnapshot, prefix: string | null, configRoutes: readonly RouteConfig[]): RouteDeclaration[] {
    if (prefix === null) return [];
    const taken = new Map<string, string>();
    for (const r of configRoutes) taken.set(routeKey(r.match.host, r.match.path), `config route "${r.name}"`);
    const out: RouteDeclaration[] = [];
    const problems = new Map<string, Record<string, unknown>>();
    const names = [...snapshot.services.keys()].sort();
    for (const service of names) {
      for (const tag of snapshot.services.get(service)!.tags) {
        const parsed = parseUrlprefixTag(tag, prefix);
        if (parsed === null) continue;
        if (!parsed.ok) {
          problems.set(`${service}\u0000${tag}\u0000${parsed.reason}`, { service, tag, reason: parsed.reason, msg: 'route tag ignored' });
          continue;
        }
        const { host, path, stripPrefix, rewritePrefix, hostRewrite } = parsed.route;
        const key = routeKey(host, path);
        const owner = taken.get(key);
        if (owner !== undefined) {
          problems.set(`${service}\u0000${tag}\u0000${owner}`, { service, tag, winner: owner, msg: 'route tag conflicts with another route for the same host and path; the other route wins' });
          continue;
        }
        const config = routeSchema.parse({
          name: `tag:${service}:${host ?? ''}${path}`,
          match: { host, path },
          service,
          stripPrefix,
          rewritePrefix,
          hostRewrite,
        });
        taken.set(key, `tag route of service "${service}"`);
        out.push({ config, source: 'tags' });
      }
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

function routeKey(host: string | undefined, path: string): string {
  return `${host ?? ''} ${path}`;
}

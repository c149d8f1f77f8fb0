import type { RouteDeclaration } from '../routing/route-table-builder.js';
import type { RegistrySnapshot } from '../registry/service-instance.js';

/**
 * Egress routes for every known service S: `Host: S` (any path, forwarded unchanged) and the
 * path prefix `/S` (prefix stripped: `/S/orders/1` → `/orders/1`). Host routes take
 * precedence, so `Host: S` wins over a path that happens to name another service. Both routes
 * are named S: the route label of the request metrics is the service called.
 */
export function egressRoutes(snapshot: RegistrySnapshot): RouteDeclaration[] {
  const names = [...snapshot.services.keys()].sort();
  const routes: RouteDeclaration[] = [];
  for (const name of names) {
    routes.push({ config: { name, match: { host: name.toLowerCase(), path: '/' }, service: name, stripPrefix: false }, source: 'config' });
    routes.push({ config: { name, match: { path: `/${name}` }, service: name, stripPrefix: true }, source: 'config' });
  }
  return routes;
}

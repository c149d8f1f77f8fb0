import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import { rewritePath, type Route } from '../routing/route.js';
import { RouteTable } from '../routing/route-table.js';
import type { Endpoint } from '../upstream/endpoint.js';
import { ForwardExchange } from './forward-exchange.js';
import type { ProxyContext } from './proxy-context.js';
import { rawProxyErrorResponse, sendProxyError, type ProxyErrorCode } from './proxy-error.js';
import { buildUpstreamHeaders } from './request-headers.js';
import { requestIdFor } from './request-id.js';
import { hasRequestBody, hostOf } from './request-target.js';
import { tunnelUpgrade } from './upgrade-tunnel.js';

/** A routed request, or the reason it cannot be routed. */
type Resolution =
  | { ok: true; route: Route; endpoint: Endpoint; path: string }
  | { ok: false; code: ProxyErrorCode; detail?: string; route?: Route };

/**
 * The request entry point: match the route on the current table, pick an endpoint, forward.
 * `table` and `context` are replaced whole (one assignment each) on reload; a request reads
 * each once at its start.
 */
export class ProxyHandler {
  table: RouteTable = RouteTable.empty();

  constructor(
    public context: ProxyContext,
    private readonly proto: 'http' | 'https',
  ) {}

  readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const startedAt = performance.now();
    const ctx = this.context;
    const idHeader = ctx.headers.requestIdHeader;
    const requestId = requestIdFor(req.headers[idHeader]);
    const r = this.resolve(req);
    if (!r.ok) {
      sendProxyError(res, r.code, idHeader, requestId, r.detail);
      ctx.observer.requestRejected(req, res, r.route ?? null, requestId, r.code, startedAt);
      return;
    }
    const headers = buildUpstreamHeaders(req, ctx.headers, requestId, r.route.hostRewrite, this.proto, null);
    const hasBody = hasRequestBody(req.headers['content-length'], req.headers['transfer-encoding']);
    new ForwardExchange(ctx, req, res, r.route, r.endpoint, requestId).start(r.path, headers, hasBody);
  };

  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const ctx = this.context;
    const idHeader = ctx.headers.requestIdHeader;
    const requestId = requestIdFor(req.headers[idHeader]);
    const r = this.resolve(req);
    if (!r.ok) {
      socket.end(rawProxyErrorResponse(r.code, idHeader, requestId));
      return;
    }
    const upgrade = req.headers.upgrade ?? '';
    const headers = buildUpstreamHeaders(req, ctx.headers, requestId, r.route.hostRewrite, this.proto, upgrade);
    tunnelUpgrade(ctx, req, socket, head, r.route, r.endpoint, requestId, r.path, headers);
  };

  private resolve(req: IncomingMessage): Resolution {
    const url = req.url ?? '';
    if (url.charCodeAt(0) !== 47 /* / */) {
      return { ok: false, code: 'bad_request', detail: 'the request target must be a path starting with "/"' };
    }
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    const route = this.table.match(hostOf(req.headers.host), path, method, req.headers);
    if (route === undefined) return { ok: false, code: 'no_route', detail: `${method} ${path}` };
    const endpoint = route.cluster.pick(req);
    if (endpoint === undefined) return { ok: false, code: 'no_healthy_endpoint', detail: `service "${route.cluster.name}"`, route };
    return { ok: true, route, endpoint, path: rewritePath(route, path, q < 0 ? '' : url.slice(q)) };
  }
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isLoopbackAddress } from '../config/loopback-address.js';
import type { Logger } from '../observability/logger.js';
import type { AdminView } from './admin-view.js';
import { OverrideRejected, StateNotSaved } from './admin-view.js';
import { AdminAccess, type AccessRefusal } from './admin-access.js';
import { BadRequestBody, readJsonBody } from './json-body.js';
import { STATUS_PAGE_ASSETS } from './status-page.js';
import { closeNow, listenExclusive } from './server-lifecycle.js';

export interface AdminServerOptions {
  /** Bearer token for mutations (and reads); required when the listener is not on loopback. */
  token?: string | undefined;
  /** Bearer token that reads need (admin.readToken); `token` is accepted for reads too. */
  readToken?: string | undefined;
  logger: Logger;
}

type Reply = { status: number; body: unknown };

/**
 * The admin listener: `/healthz`, `/readyz`, `/metrics`, the JSON API under `/api/v1` and the
 * status page at `/`. Reads are open unless `readToken` is set; mutations (POST, DELETE) need
 * the bearer token when one is configured, and a token is mandatory off loopback (AdminAccess).
 * Requests from a browser page of another origin are refused for mutations (no cross-site
 * reload or drain). The configuration it shows has every secret redacted (AdminView.config).
 */
export class AdminServer {
  readonly server: Server;
  private readonly access: AdminAccess;

  constructor(
    private readonly view: AdminView,
    options: AdminServerOptions,
  ) {
    this.access = new AdminAccess(options);
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        options.logger.error({ err, method: req.method, path: pathOf(req.url) }, 'admin request failed');
        if (!res.headersSent) json(res, 500, { error: 'internal', message: `the admin request failed: ${(err as Error).message}` });
        else res.destroy();
      });
    });
  }

  async listen(port: number, address: string): Promise<AddressInfo> {
    if (!this.access.mutationsGuarded && !isLoopbackAddress(address)) {
      throw new Error(`the admin listener on ${address} is reachable from other hosts: set admin.token, or bind admin.address to 127.0.0.1`);
    }
    return listenExclusive(this.server, port, address);
  }

  close(): Promise<void> {
    return closeNow(this.server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';

    if (method === 'GET' || method === 'HEAD') {
      const refused = this.access.checkRead(path, req.headers.authorization);
      if (refused !== null) return refuse(res, refused);
      const asset = STATUS_PAGE_ASSETS.get(path);
      if (asset !== undefined) return sendAsset(res, asset.contentType, asset.body);
      if (path === '/metrics') {
        const m = await this.view.metrics();
        res.writeHead(200, { 'content-type': m.contentType, 'content-length': Buffer.byteLength(m.body), 'cache-control': 'no-store' });
        res.end(m.body);
        return;
      }
      if (path === '/api/v1/traffic' && q >= 0 && new URLSearchParams(url.slice(q + 1)).get('raw') === '1') return json(res, 200, this.view.rawTraffic());
      const r = this.read(path);
      return json(res, r.status, r.body);
    }
    if (method !== 'POST' && method !== 'DELETE') {
      return json(res, 405, { error: 'method_not_allowed', message: `${method} is not supported by the admin API (use GET, POST or DELETE)` });
    }
    const origin = req.headers.origin;
    if (origin !== undefined && origin !== `http://${req.headers.host}`) {
      return json(res, 403, { error: 'cross_origin', message: `mutations from another origin (${origin}) are refused` });
    }
    const refused = this.access.checkMutation(req.headers.authorization);
    if (refused !== null) return refuse(res, refused);
    let body: unknown;
    try {
      body = await readJsonBody(req);
    } catch (err) {
      if (err instanceof BadRequestBody) return json(res, 400, { error: 'bad_request', message: err.message });
      throw err;
    }
    let r: Reply;
    try {
      r = await this.mutate(method, path, body);
    } catch (err) {
      if (!(err instanceof StateNotSaved)) throw err;
      r = { status: 503, body: { error: 'state_not_saved', message: err.message } };
    }
    json(res, r.status, r.body);
  }

  private read(path: string): Reply {
    const v = this.view;
    switch (path) {
      case '/healthz':
        return { status: 200, body: { status: 'ok' } };
      case '/readyz': {
        const ready = v.ready();
        return { status: ready ? 200 : 503, body: { status: ready ? 'ready' : 'not ready' } };
      }
      case '/api/v1/status':
        return { status: 200, body: v.status() };
      case '/api/v1/routes':
        return { status: 200, body: v.routes() };
      case '/api/v1/services':
        return { status: 200, body: v.services() };
      case '/api/v1/config':
        return { status: 200, body: v.config() };
      case '/api/v1/registry':
        return { status: 200, body: v.registry() };
      case '/api/v1/overrides':
        return { status: 200, body: v.overrides() };
      case '/api/v1/traffic':
        return { status: 200, body: v.traffic() };
    }
    const service = matchParam(path, '/api/v1/services/');
    if (service !== null) {
      const found = v.services().find((s) => s.name === service);
      return found ? { status: 200, body: found } : notFound(`no service named "${service}"`);
    }
    return notFound(`no admin endpoint GET ${path}`);
  }

  private async mutate(method: string, path: string, body: unknown): Promise<Reply> {
    const v = this.view;
    if (method === 'POST') {
      switch (path) {
        case '/api/v1/reload': {
          const r = await v.reload();
          return r.ok ? { status: 200, body: { status: 'reloaded' } } : { status: 422, body: { error: 'config_rejected', message: r.error } };
        }
        case '/api/v1/readiness/fail':
        case '/api/v1/readiness/restore':
          return { status: 200, body: v.setReadinessFailed(path.endsWith('/fail')) };
        case '/api/v1/endpoints/drain':
        case '/api/v1/endpoints/undrain': {
          const { endpoint, service } = (body ?? {}) as { endpoint?: unknown; service?: unknown };
          if (typeof endpoint !== 'string' || endpoint === '') return badRequest('body field "endpoint" must name an endpoint as "address:port" or an instance id');
          if (service !== undefined && typeof service !== 'string') return badRequest('body field "service" must be a service name when given');
          const r = await v.setDrained(endpoint, service, path.endsWith('/drain'));
          if (r.endpoints.length === 0 && r.forgotten === 0) return notFound(`no endpoint "${endpoint}"${service ? ` in service "${service}"` : ''}`);
          // An undrain that only removed stored drains of instances gone from the registry answers [].
          return { status: 200, body: r.endpoints };
        }
        case '/api/v1/overrides':
          try {
            return { status: 201, body: await v.addOverride(body) };
          } catch (err) {
            if (err instanceof OverrideRejected) return badRequest(err.message);
            throw err;
          }
      }
    } else {
      if (path === '/api/v1/overrides') {
        await v.clearOverrides();
        return { status: 200, body: { status: 'cleared' } };
      }
      const id = matchParam(path, '/api/v1/overrides/');
      if (id !== null) {
        const n = Number(id);
        if (!Number.isInteger(n)) return badRequest(`"${id}" is not an override id (a number from GET /api/v1/overrides)`);
        return (await v.removeOverride(n)) ? { status: 200, body: { status: 'removed', id: n } } : notFound(`no override with id ${n}`);
      }
    }
    return notFound(`no admin endpoint ${method} ${path}`);
  }
}

/** The decoded rest of `path` after `prefix` (one segment), or null. */
function matchParam(path: string, prefix: string): string | null {
  if (!path.startsWith(prefix)) return null;
  const rest = path.slice(prefix.length);
  if (rest === '' || rest.includes('/')) return null;
  try {
    return decodeURIComponent(rest);
  } catch {
    // A malformed %-escape cannot name anything: treat it as no match (404).
    return null;
  }
}

function notFound(message: string): Reply {
  return { status: 404, body: { error: 'not_found', message } };
}

function badRequest(message: string): Reply {
  return { status: 400, body: { error: 'bad_request', message } };
}

/** A request target's path, without the query (never logged: it is not ours to keep). */
export function pathOf(url: string | undefined): string {
  const target = url ?? '/';
  const q = target.indexOf('?');
  return q < 0 ? target : target.slice(0, q);
}

function refuse(res: ServerResponse, r: AccessRefusal): void {
  for (const [name, value] of Object.entries(r.headers)) res.setHeader(name, value);
  json(res, r.status, r.body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
  });
  res.end(text);
}

const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

function sendAsset(res: ServerResponse, contentType: string, body: string): void {
  res.writeHead(200, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'content-security-policy': CSP,
    'x-content-type-options': 'nosniff',
    'cache-control': 'no-cache',
  });
  res.end(body);
}

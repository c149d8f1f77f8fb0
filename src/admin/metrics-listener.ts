import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../observability/logger.js';
import { closeNow, listenExclusive } from './server-lifecycle.js';

/** What the metrics listener serves, read on each request. */
export interface MetricsSource {
  metrics(): Promise<{ contentType: string; body: string }>;
  /** Whether the router serves (the admin listener's /readyz). */
  ready(): boolean | Promise<boolean>;
}

/**
 * The metrics-and-health listener (admin.metricsListener): GET or HEAD of `/metrics`,
 * `/healthz` and `/readyz`, answered as the admin listener answers them, without a token;
 * every other path is 404 and other methods on these paths 405. It holds nothing else of the
 * admin API, so it may bind an address other hosts reach (a Prometheus server, a load
 * balancer's health check) while the admin listener stays on loopback or behind its tokens.
 */
export class MetricsListener {
  readonly server: Server;

  constructor(
    private readonly source: MetricsSource,
    logger: Logger,
  ) {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        logger.error({ err, method: req.method, path: (req.url ?? '/').split('?')[0] }, 'metrics listener request failed');
        if (!res.headersSent) send(res, 500, 'application/json', JSON.stringify({ error: 'internal', message: `the request failed: ${(err as Error).message}` }));
        else res.destroy();
      });
    });
  }

  listen(port: number, address: string): Promise<AddressInfo> {
    return listenExclusive(this.server, port, address);
  }

  close(): Promise<void> {
    return closeNow(this.server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (path !== '/metrics' && path !== '/healthz' && path !== '/readyz') {
      return send(res, 404, 'application/json', JSON.stringify({ error: 'not_found', message: `the metrics listener serves only GET /metrics, /healthz and /readyz (the admin API is on the admin listener)` }));
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      return send(res, 405, 'application/json', JSON.stringify({ error: 'method_not_allowed', message: `${req.method} is not supported here (use GET or HEAD)` }), { allow: 'GET, HEAD' });
    }
    if (path === '/metrics') {
      const m = await this.source.metrics();
      return send(res, 200, m.contentType, m.body);
    }
    if (path === '/healthz') return send(res, 200, 'application/json', JSON.stringify({ status: 'ok' }));
    const ready = await this.source.ready();
    send(res, ready ? 200 : 503, 'application/json', JSON.stringify({ status: ready ? 'ready' : 'not ready' }));
  }
}

function send(res: ServerResponse, status: number, contentType: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': contentType,
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    'x-content-type-options': 'nosniff',
    ...extra,
  });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

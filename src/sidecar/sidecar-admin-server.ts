import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../observability/logger.js';

/** What the admin server shows; both are read when asked, off every request path. */
export interface SidecarAdminSources {
  /** Prometheus text exposition. */
  metrics(): Promise<string>;
  /** The sidecar's status as a JSON-serialisable object. */
  status(): Promise<unknown>;
}

/**
 * The sidecar's small admin listener (default 127.0.0.1:9902): `GET /metrics` (Prometheus
 * text) and `GET /status` (JSON: instances, their processes, cgroup limits and usage).
 * Read-only; the router's admin API is not used in sidecar mode.
 */
export class SidecarAdminServer {
  private readonly server: Server;

  constructor(
    private readonly settings: { address: string; port: number },
    private readonly sources: SidecarAdminSources,
    private readonly logger: Logger,
  ) {
    this.server = createServer((req, res) => void this.handle(req, res));
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen({ port: this.settings.port, host: this.settings.address }, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  get address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  /** Closes the listener and every connection (admin traffic needs no drain). */
  close(): Promise<void> {
    return new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const path = (req.url ?? '/').split('?')[0];
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(res, 405, 'text/plain', 'only GET and HEAD are allowed\n', { allow: 'GET, HEAD' });
    try {
      if (path === '/metrics') return send(res, 200, 'text/plain; version=0.0.4; charset=utf-8', await this.sources.metrics());
      if (path === '/status') return send(res, 200, 'application/json', `${JSON.stringify(await this.sources.status(), null, 2)}\n`);
    } catch (err) {
      this.logger.error({ err, path }, 'sidecar admin request failed');
      return send(res, 500, 'text/plain', `cannot read ${path}: ${(err as Error).message}\n`);
    }
    send(res, 404, 'text/plain', 'not found: the sidecar serves GET /metrics and GET /status\n');
  }
}

function send(res: ServerResponse, status: number, type: string, body: string, extra: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': type, 'content-length': Buffer.byteLength(body), ...extra });
  res.end(res.req.method === 'HEAD' ? undefined : body);
}

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AdminToken } from './admin-token.js';

/** What the admin listener reads from the running router. Read only. */
export interface AdminView {
  ready(): boolean;
}

/**
 * The admin listener: `/healthz` (process alive) and `/readyz` (config loaded, registry synced),
 * open to anyone who can reach it (probes). With a token, every other path needs
 * `Authorization: Bearer <token>` (401 otherwise). No CORS headers are ever sent, so browsers
 * refuse cross-origin reads of admin responses.
 */
export class AdminServer {
  readonly server: Server;
  private readonly token: AdminToken | null;

  constructor(
    private readonly view: AdminView,
    options: { token?: string } = {},
  ) {
    this.token = options.token === undefined ? null : new AdminToken(options.token);
    this.server = createServer((req, res) => this.handle(req, res));
  }

  async listen(port: number, address: string): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, address, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      this.server.close(() => resolve());
      this.server.closeAllConnections();
    });
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz') return json(res, 200, { status: 'ok' });
    if (path === '/readyz') {
      const ready = this.view.ready();
      return json(res, ready ? 200 : 503, { status: ready ? 'ready' : 'not ready' });
    }
    if (this.token !== null && !this.token.matches(req.headers.authorization)) {
      res.setHeader('www-authenticate', 'Bearer realm="switchyard-admin"');
      return json(res, 401, { error: 'unauthorized', message: 'this admin endpoint needs "Authorization: Bearer <admin.token>"' });
    }
    json(res, 404, { error: 'not_found', message: `no admin endpoint ${path}` });
  }
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

import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the admin listener reads from the running router. Read only. */
export interface AdminView {
  ready(): boolean;
}

/** The admin listener: `/healthz` (process alive) and `/readyz` (config loaded, registry synced). */
export class AdminServer {
  readonly server: Server;

  constructor(private readonly view: AdminView) {
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
    json(res, 404, { error: 'not_found', message: `no admin endpoint ${path}` });
  }
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}

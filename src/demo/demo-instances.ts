import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Small built-in upstreams for the out-of-the-box demo (config `demo:`; off when absent).
 * Each answers every request with JSON naming itself, so alternating instances are visible.
 */
export class DemoInstances {
  private readonly servers: Server[] = [];

  constructor(
    private readonly address: string,
    private readonly ports: readonly number[],
  ) {}

  async start(): Promise<AddressInfo[]> {
    const addresses: AddressInfo[] = [];
    for (let i = 0; i < this.ports.length; i++) {
      const name = `demo-${i + 1}`;
      const server = createServer((req, res) => respond(name, req, res));
      this.servers.push(server);
      await new Promise<void>((resolve, reject) => {
        server.once('error', (err) => reject(new Error(`demo instance ${name} cannot listen on ${this.address}:${this.ports[i]}: ${err.message}. Free the port or change demo.ports in the config.`)));
        server.listen(this.ports[i], this.address, () => resolve());
      });
      addresses.push(server.address() as AddressInfo);
    }
    return addresses;
  }

  async close(): Promise<void> {
    await Promise.all(
      this.servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
  }
}

function respond(instance: string, req: IncomingMessage, res: ServerResponse): void {
  req.resume();
  req.on('end', () => {
    const body = JSON.stringify({
      instance,
      method: req.method,
      path: req.url,
      host: req.headers.host,
      forwardedFor: req.headers['x-forwarded-for'],
      requestId: req.headers['x-request-id'],
    });
    res.writeHead(200, { 'content-type': 'application/json', 'x-demo-instance': instance });
    res.end(`${body}\n`);
  });
}

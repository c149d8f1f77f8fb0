import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

export type UpstreamHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** A real HTTP server on 127.0.0.1 that tests use as a service instance. */
export interface TestUpstream {
  readonly name: string;
  readonly server: Server;
  readonly port: number;
  readonly url: string;
  /** Requests received so far. */
  readonly requests: IncomingMessage[];
  close(): Promise<void>;
}

/** Starts an upstream; the default handler is `echoHandler(name)`. */
export async function startUpstream(name: string, handler: UpstreamHandler = echoHandler(name)): Promise<TestUpstream> {
  const requests: IncomingMessage[] = [];
  const sockets = new Set<Socket>();
  const server = createServer((req, res) => {
    requests.push(req);
    handler(req, res);
  });
  server.on('connection', (s: Socket) => {
    sockets.add(s);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const port = (server.address() as AddressInfo).port;
  return {
    name,
    server,
    port,
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

/** What the echo handler answers: the request as the upstream saw it. */
export interface EchoReply {
  instance: string;
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  rawHeaders: string[];
  bodyBytes: number;
}

/** Answers 200 with JSON describing the request (after reading its whole body). */
export function echoHandler(instance: string): UpstreamHandler {
  return (req, res) => {
    let bodyBytes = 0;
    req.on('data', (c: Buffer) => (bodyBytes += c.length));
    req.on('end', () => {
      const reply: EchoReply = { instance, method: req.method!, url: req.url!, headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes };
      const body = JSON.stringify(reply);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-instance': instance });
      res.end(body);
    });
  };
}

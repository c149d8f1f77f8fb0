import { createSecureServer, createServer, type Http2SecureServer, type Http2Server, type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import type { AddressInfo } from 'node:net';

export type Http2UpstreamHandler = (req: Http2ServerRequest, res: Http2ServerResponse) => void;

/** A real node:http2 server on 127.0.0.1 used as a service instance (h2c, or h2 with `tls`). */
export interface Http2Upstream {
  readonly server: Http2Server | Http2SecureServer;
  readonly port: number;
  /** Requests received so far. */
  readonly requests: Http2ServerRequest[];
  close(): Promise<void>;
}

/** What the echo handler answers: the request as the upstream saw it. */
export interface Http2EchoReply {
  instance: string;
  httpVersion: string;
  method: string;
  url: string;
  headers: Record<string, string | string[] | undefined>;
  bodyBytes: number;
}

/** Answers 200 with JSON describing the request (after reading its whole body). */
export function http2EchoHandler(instance: string): Http2UpstreamHandler {
  return (req, res) => {
    let bodyBytes = 0;
    req.on('data', (c: Buffer) => (bodyBytes += c.length));
    req.on('end', () => {
      const reply: Http2EchoReply = { instance, httpVersion: req.httpVersion, method: req.method, url: req.url, headers: req.headers, bodyBytes };
      const body = JSON.stringify(reply);
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), 'x-instance': instance });
      res.end(body);
    });
  };
}

/** Starts an HTTP/2 upstream: cleartext (prior knowledge) or, with `tls`, HTTP/2 over TLS by ALPN. */
export async function startHttp2Upstream(instance: string, handler: Http2UpstreamHandler = http2EchoHandler(instance), tls?: { cert: Buffer; key: Buffer }): Promise<Http2Upstream> {
  const requests: Http2ServerRequest[] = [];
  const onRequest = (req: Http2ServerRequest, res: Http2ServerResponse) => {
    requests.push(req);
    handler(req, res);
  };
  const server = tls === undefined ? createServer(onRequest) : createSecureServer({ ...tls }, onRequest);
  const sessions = new Set<import('node:http2').Http2Session>();
  server.on('session', (s) => {
    sessions.add(s);
    s.once('close', () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  return {
    server,
    port: (server.address() as AddressInfo).port,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}

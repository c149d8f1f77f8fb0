import type { IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { connect as connectTls } from 'node:tls';
import type { Duplex } from 'node:stream';
import type { Route } from '../routing/route.js';
import type { Endpoint } from '../upstream/endpoint.js';
import { endConnection } from './closing-connection.js';
import type { ProxyContext } from './proxy-context.js';
import { classifyUpstreamError, rawProxyErrorResponse } from './proxy-error.js';

/**
 * Tunnels an HTTP/1.1 Upgrade (WebSocket and others): opens a TCP connection to the endpoint,
 * replays the request head with the rewritten headers, then pipes bytes both ways. The
 * upstream's 101 (or refusal) reaches the client unchanged. Either side closing closes both.
 */
export function tunnelUpgrade(
  ctx: ProxyContext,
  req: IncomingMessage,
  client: Duplex,
  head: Buffer,
  route: Route,
  endpoint: Endpoint,
  requestId: string,
  path: string,
  headers: readonly string[],
): void {
  const target = { host: endpoint.instance.address, port: endpoint.instance.port };
  const upstream: Socket = endpoint.tls === null ? connect(target) : connectTls({ ...target, ...endpoint.tls });
  upstream.setNoDelay(true);
  const connectTimer = setTimeout(() => upstream.destroy(Object.assign(new Error('connect timeout'), { code: 'UND_ERR_CONNECT_TIMEOUT' })), route.cluster.settings.connectTimeout);
  let connected = false;
  endpoint.tries++;

  upstream.once(endpoint.tls === null ? 'connect' : 'secureConnect', () => {
    connected = true;
    clearTimeout(connectTimer);
    let text = `${req.method} ${path} HTTP/1.1\r\n`;
    for (let i = 0; i < headers.length; i += 2) text += `${headers[i]}: ${headers[i + 1]}\r\n`;
    upstream.write(`${text}\r\n`);
    if (head.length > 0) upstream.write(head);
    upstream.pipe(client);
    client.pipe(upstream);
  });

  upstream.on('error', (err: Error & { code?: string }) => {
    clearTimeout(connectTimer);
    if (!connected) {
      const code = classifyUpstreamError(err);
      ctx.logger.warn({ requestId, route: route.name, service: route.cluster.name, endpoint: endpoint.key, errorCode: err.code, error: err.message }, 'upgrade: upstream connection failed');
      endConnection(client, rawProxyErrorResponse(code, ctx.headers.requestIdHeader, requestId));
    } else {
      ctx.logger.debug({ requestId, endpoint: endpoint.key, error: err.message }, 'upgrade: upstream connection error');
      client.destroy();
    }
  });
  upstream.once('close', () => {
    clearTimeout(connectTimer);
    endpoint.triesEnded++;
    if (connected) client.destroy();
  });
  client.on('error', (err) => {
    ctx.logger.debug({ requestId, error: err.message }, 'upgrade: client connection error');
    upstream.destroy();
  });
  client.once('close', () => upstream.destroy());
}

import { ServerResponse, type IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { endConnection } from './closing-connection.js';

/**
 * A ServerResponse on a connection that Node's parser gave up for an upgrade, so that answers
 * other than a tunnel (proxy errors, an upstream's refusal) are written by Node's own response
 * code (framing, Date, header checks) exactly as on any other connection. The connection is
 * closed once the response is written: it is never read as HTTP again, so bytes the client
 * sent after its request head go nowhere.
 *
 * `new ServerResponse(req)` and `assignSocket` are how Node's server builds each response;
 * the tunnel path gives the socket back with `detachSocket` before it writes raw bytes.
 */
export function responseOnUpgradeConnection(req: IncomingMessage, socket: Duplex): ServerResponse {
  const res = new ServerResponse(req);
  res.shouldKeepAlive = false;
  res.assignSocket(socket as Socket);
  res.once('finish', closeAfterResponse);
  return res;
}

function closeAfterResponse(this: ServerResponse): void {
  if (this.socket !== null) endConnection(this.socket);
}

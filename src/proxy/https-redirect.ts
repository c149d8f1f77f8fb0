import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RequestHead, ServerStream } from '../codec/server-stream.js';
import { endConnection } from './closing-connection.js';
import { hostOf } from './request-target.js';
import { isHostHeaderValue } from './request-validation.js';

const BAD_HOST_BODY = 'a valid Host and path are needed\n';
const BAD_HOST_HEADERS: readonly string[] = ['content-type', 'text/plain', 'content-length', String(BAD_HOST_BODY.length)];

/**
 * The handler of a plain-HTTP listener with `redirectToHttps`: every request is answered
 * with 308 (method and body kept) to the same host and target on https, nothing is proxied.
 * A missing or malformed Host, or a target that is not a path, gets 400.
 */
export class HttpsRedirect {
  private readonly portSuffix: string;

  constructor(port: number) {
    this.portSuffix = port === 443 ? '' : `:${port}`;
  }

  readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const location = this.locationFor(req);
    res.shouldKeepAlive = false;
    if (location === null) {
      res.writeHead(400, { 'content-type': 'text/plain', 'content-length': 33 });
      res.end('a valid Host and path are needed\n');
      return;
    }
    res.writeHead(308, { location, 'content-length': 0 });
    res.end();
  };

  /** The same answers on a codec stream (HTTP/2; HTTP/1.1 on the codec). */
  readonly handleStream = (stream: ServerStream): void => {
    const location = this.locationFor(stream);
    stream.closeAfterResponse();
    if (location === null) stream.respond(400, BAD_HOST_HEADERS, BAD_HOST_BODY);
    else stream.respond(308, ['location', location, 'content-length', '0']);
  };

  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex): void => {
    const location = this.locationFor(req);
    endConnection(socket, location === null ? 'HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n' : `HTTP/1.1 308 Permanent Redirect\r\nlocation: ${location}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
  };

  private locationFor(req: RequestHead): string | null {
    const hostHeader = req.headers.host;
    const url = req.url ?? '';
    if (hostHeader === undefined || !isHostHeaderValue(hostHeader) || url.charCodeAt(0) !== 47) return null;
    return `https://${hostOf(hostHeader)}${this.portSuffix}${url}`;
  }
}

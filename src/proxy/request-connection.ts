import type { ServerHttp2Stream } from 'node:http2';
import type { Duplex } from 'node:stream';
import type { RequestHead } from '../codec/server-stream.js';
import { connectionClientAddress, connectionTlsVersion } from './client-connection.js';
import { http2ConnectionOf } from './http2-sessions.js';

/** node:http2's compatibility request carries its stream; node:http's and the codec's requests do not. */
type MaybeHttp2Request = RequestHead & { stream?: ServerHttp2Stream; protocol?: string };

/**
 * The client address of a request's connection: the address its PROXY protocol header gave,
 * or the TCP peer. Whatever parsed the request (node:http, the HTTP/1.1 codec, node:http2),
 * the address is kept on the connection; for HTTP/2 it is read once per connection (a
 * request's `socket` is a stand-in object there).
 */
export function requestPeerAddress(req: RequestHead): string {
  const stream = (req as MaybeHttp2Request).stream;
  if (stream === undefined) {
    const socket = req.socket as Duplex | null;
    return socket == null ? 'unknown' : connectionClientAddress(socket);
  }
  return http2ConnectionOf(stream)?.clientAddress ?? 'unknown';
}

/** The TLS version of a request's connection ("TLSv1.3"), undefined on cleartext. */
export function requestTlsVersion(req: RequestHead): string | undefined {
  const stream = (req as MaybeHttp2Request).stream;
  if (stream === undefined) {
    // node:http unlinks a request from its socket once the connection is done with it: by the
    // time a request is recorded, the socket may be gone (then the version is not known).
    const socket = req.socket as Duplex | null;
    return socket == null ? undefined : connectionTlsVersion(socket);
  }
  return http2ConnectionOf(stream)?.tlsVersion;
}

/** The protocol a request came in: "HTTP/1.0", "HTTP/1.1" or "HTTP/2" (constant strings, none made per request). */
export function requestProtocol(req: RequestHead): string {
  const r = req as MaybeHttp2Request;
  if (r.stream !== undefined) return 'HTTP/2';
  // The codec's stream says it; node:http's request has only the version numbers.
  if (typeof r.protocol === 'string') return r.protocol;
  return req.httpVersionMinor === 0 ? 'HTTP/1.0' : 'HTTP/1.1';
}

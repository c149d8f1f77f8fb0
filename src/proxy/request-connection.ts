import type { Duplex } from 'node:stream';
import type { Http2ConnectionInfo } from '../codec/http2-server-stream.js';
import type { RequestHead } from '../codec/server-stream.js';
import { connectionClientAddress, connectionTlsVersion } from './client-connection.js';

/** An HTTP/2 stream (Http2ServerStream, Http2CodecStream) carries its connection; node:http's and the HTTP/1.1 codec's requests have a socket. */
type MaybeHttp2Request = RequestHead & { connection?: Http2ConnectionInfo; protocol?: string };

/**
 * The client address of a request's connection: the address its PROXY protocol header gave,
 * or the TCP peer. Whatever parsed the request (node:http, the HTTP/1.1 codec, node:http2),
 * the address is kept on the connection; for HTTP/2 it is read once per connection.
 */
export function requestPeerAddress(req: RequestHead): string {
  const r = req as MaybeHttp2Request;
  if (r.protocol === 'HTTP/2') return r.connection!.clientAddress;
  const socket = req.socket as Duplex | null;
  return socket == null ? 'unknown' : connectionClientAddress(socket);
}

/** The TLS version of a request's connection ("TLSv1.3"), undefined on cleartext. */
export function requestTlsVersion(req: RequestHead): string | undefined {
  const r = req as MaybeHttp2Request;
  if (r.protocol === 'HTTP/2') return r.connection!.tlsVersion;
  // node:http unlinks a request from its socket once the connection is done with it: by the
  // time a request is recorded, the socket may be gone (then the version is not known).
  const socket = req.socket as Duplex | null;
  return socket == null ? undefined : connectionTlsVersion(socket);
}

/** The protocol a request came in: "HTTP/1.0", "HTTP/1.1" or "HTTP/2" (constant strings, none made per request). */
export function requestProtocol(req: RequestHead): string {
  const r = req as MaybeHttp2Request;
  // The codecs' streams say it; node:http's request has only the version numbers.
  if (typeof r.protocol === 'string') return r.protocol;
  return req.httpVersionMinor === 0 ? 'HTTP/1.0' : 'HTTP/1.1';
}

import type { Duplex } from 'node:stream';
import type { TLSSocket } from 'node:tls';

const kClientAddress = Symbol('switchyard.connectionClientAddress');
const kTlsVersion = Symbol('switchyard.connectionTlsVersion');

type ClientSocket = Duplex & {
  [kClientAddress]?: string;
  [kTlsVersion]?: string;
  remoteAddress?: string;
  /** The TCP connection under a TLS connection (node:tls keeps it there). */
  _parent?: ClientSocket | null;
};

/**
 * What the router knows of a client connection, kept on the socket itself so that it reads the
 * same whatever parses the bytes (node:http today, another HTTP/1 engine, node:http2): the
 * connection's client address, once per connection, and its TLS version.
 *
 * The client address is the address a PROXY protocol header gave (set by the PROXY protocol
 * stage before any HTTP or TLS) or else the TCP peer. A TLS connection is a new socket over the
 * TCP one: `noteSecureConnection` carries the address over when the handshake is done.
 */
export function connectionClientAddress(socket: Duplex): string {
  const s = socket as ClientSocket;
  return s[kClientAddress] ?? s.remoteAddress ?? 'unknown';
}

/** Sets the connection's client address (the PROXY protocol stage, once per connection). */
export function setConnectionClientAddress(socket: Duplex, address: string): void {
  (socket as ClientSocket)[kClientAddress] = address;
}

/**
 * A TLS connection finished its handshake: it takes the client address of the TCP connection
 * under it (when a PROXY header gave one) and notes its TLS version for the access log.
 */
export function noteSecureConnection(socket: TLSSocket): void {
  const s = socket as unknown as ClientSocket;
  const parentAddress = s._parent?.[kClientAddress];
  if (parentAddress !== undefined) s[kClientAddress] = parentAddress;
  s[kTlsVersion] = socket.getProtocol() ?? 'unknown';
}

/** The TLS version of a connection ("TLSv1.3"), undefined for a cleartext one. */
export function connectionTlsVersion(socket: Duplex): string | undefined {
  return (socket as ClientSocket)[kTlsVersion];
}

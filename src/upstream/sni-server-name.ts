import { isIP } from 'node:net';

/**
 * The name a TLS connection to an instance sends as SNI (and checks the certificate against):
 * the service's configured `tls.servername`, else the instance's host when it is a name, never
 * the client's Host. An IP address is not sent (RFC 6066 §3 allows host names only): '' then,
 * which node's tls.connect takes as "no SNI" while it still checks the certificate against the
 * host. Every upstream client (HTTP/1.1 and both HTTP/2 pools, the gRPC health probe) uses this,
 * so an instance registered by name gets the same SNI whichever protocol reaches it.
 */
export function sniServerName(configured: string | undefined, host: string): string {
  if (configured !== undefined && configured !== '') return configured;
  return isIP(host) === 0 ? host : '';
}

/**
 * A Consul service identity: the URI SAN Consul's CA puts in every leaf certificate,
 * `spiffe://<trust-domain>/ns/<namespace>/dc/<datacenter>/svc/<service>` (namespace "default"
 * without Enterprise; a `/ap/<partition>` segment before `/ns` on Enterprise admin partitions).
 */
export interface SpiffeServiceId {
  readonly uri: string;
  readonly trustDomain: string;
  readonly partition: string;
  readonly namespace: string;
  readonly datacenter: string;
  readonly service: string;
}

const SERVICE_URI = /^spiffe:\/\/([^/]+)(?:\/ap\/([^/]+))?\/ns\/([^/]+)\/dc\/([^/]+)\/svc\/([^/]+)$/;

/** Parses a service URI; null for anything else (an agent's or a CA's URI, another scheme). */
export function parseSpiffeServiceId(uri: string): SpiffeServiceId | null {
  const m = SERVICE_URI.exec(uri);
  if (m === null) return null;
  return {
    uri,
    trustDomain: m[1]!.toLowerCase(),
    partition: m[2] ?? 'default',
    namespace: decodeURIComponent(m[3]!),
    datacenter: decodeURIComponent(m[4]!),
    service: decodeURIComponent(m[5]!),
  };
}

/**
 * The URI SANs of a certificate as node:tls shows them (`subjectaltname`: "DNS:a, URI:spiffe://…").
 * Node quotes an entry that holds a comma or quote as JSON; such an entry is never a valid
 * SPIFFE ID and is skipped.
 */
export function uriSans(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  const uris: string[] = [];
  for (const part of subjectAltName.split(', ')) if (part.startsWith('URI:')) uris.push(part.slice(4));
  return uris;
}

/** The one service identity a Connect leaf carries, or null (none, or several: Consul issues exactly one). */
export function serviceIdOfCertificate(subjectAltName: string | undefined): SpiffeServiceId | null {
  let found: SpiffeServiceId | null = null;
  for (const uri of uriSans(subjectAltName)) {
    const id = parseSpiffeServiceId(uri);
    if (id === null) continue;
    if (found !== null) return null;
    found = id;
  }
  return found;
}

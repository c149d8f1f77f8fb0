import { isIPv6 } from 'node:net';
import type { TLSSocket } from 'node:tls';

/** Which client certificates a mutual-TLS listener accepts by name (after its CA has verified them). */
export interface ClientCertificateNamesConfig {
  /** subjectAltName entries as openssl prints them: "DNS:…", "IP:…", "URI:…", "email:…". */
  readonly subjectAltNames: readonly string[];
  /** Subject common names. */
  readonly commonNames: readonly string[];
}

/**
 * The names a listener asks of a verified client certificate: one of its subjectAltName
 * entries or its subject CN must be listed. Node has no hook to fail the handshake on a name,
 * so the check runs once per connection right after the handshake, before any request is
 * read; a certificate that matches nothing has its connection destroyed. The entries are
 * normalized into one set when the listener is built.
 */
export class ClientCertificateNames {
  private readonly allowed: ReadonlySet<string>;

  private constructor(allowed: ReadonlySet<string>) {
    this.allowed = allowed;
  }

  /** null when the config lists no names (any certificate the CA signs is accepted). */
  static from(config: ClientCertificateNamesConfig | undefined): ClientCertificateNames | null {
    if (config === undefined || (config.subjectAltNames.length === 0 && config.commonNames.length === 0)) return null;
    const allowed = new Set<string>();
    for (const entry of config.subjectAltNames) allowed.add(normalizeEntry(entry));
    for (const cn of config.commonNames) allowed.add(`CN:${cn}`);
    return new ClientCertificateNames(allowed);
  }

  /** The certificate's names that were compared (for a log line), and whether one is allowed. */
  check(socket: TLSSocket): { accepted: boolean; names: string[] } {
    const peer = socket.getPeerCertificate();
    const names: string[] = [];
    if (peer !== null && typeof peer === 'object') {
      if (typeof peer.subjectaltname === 'string') for (const entry of splitSubjectAltName(peer.subjectaltname)) names.push(normalizeEntry(entry));
      const cn = peer.subject?.CN;
      if (typeof cn === 'string') names.push(`CN:${cn}`);
      else if (Array.isArray(cn)) for (const c of cn as string[]) names.push(`CN:${c}`);
    }
    for (const name of names) if (this.allowed.has(name)) return { accepted: true, names };
    return { accepted: false, names };
  }
}

/** "IP Address:…" (Node's spelling) and "IP:…" (openssl's config spelling) → "IP:<canonical address>"; DNS names lower-cased. */
function normalizeEntry(entry: string): string {
  const colon = entry.indexOf(':');
  const type = entry.slice(0, colon);
  const value = entry.slice(colon + 1);
  if (type === 'IP' || type === 'IP Address') return `IP:${isIPv6(value) ? new URL(`http://[${value}]/`).hostname.slice(1, -1) : value}`;
  if (type === 'DNS') return `DNS:${value.toLowerCase()}`;
  return `${type}:${value}`;
}

/**
 * Splits Node's subjectaltname string ("DNS:a, URI:b"); a value holding a comma or quote is
 * written as a JSON string (`URI:"x,y"`), which is decoded.
 */
export function splitSubjectAltName(text: string): string[] {
  const entries: string[] = [];
  let i = 0;
  while (i < text.length) {
    const colon = text.indexOf(':', i);
    if (colon < 0) break;
    const type = text.slice(i, colon);
    let value: string;
    let next: number;
    if (text[colon + 1] === '"') {
      let end = colon + 2;
      while (end < text.length && text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      value = JSON.parse(text.slice(colon + 1, end + 1)) as string;
      next = text.indexOf(', ', end);
    } else {
      next = text.indexOf(', ', colon);
      value = text.slice(colon + 1, next < 0 ? text.length : next);
    }
    entries.push(`${type}:${value}`);
    if (next < 0) break;
    i = next + 2;
  }
  return entries;
}

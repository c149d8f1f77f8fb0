import type { RequestHead } from '../codec/server-stream.js';
import type { HashOnConfig } from '../config/schema.js';

/**
 * What a consistent-hash balancer hashes for one request: a header value, a cookie value or
 * the client address (resolved once per request, behind trusted proxies the original
 * client's); undefined when the request does not carry it.
 */
export function requestHashKey(request: RequestHead, clientAddress: string, hashOn: HashOnConfig): string | undefined {
  if (hashOn.header !== undefined) {
    const value = request.headers[hashOn.header];
    return Array.isArray(value) ? value[0] : value;
  }
  if (hashOn.cookie !== undefined) return cookieValue(request.headers.cookie, hashOn.cookie);
  return clientAddress;
}

/** The value of cookie `name` in a Cookie header ("a=1; b=2"), without a regex or a parse of every pair. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  if (header === undefined) return undefined;
  let from = 0;
  while (from < header.length) {
    const at = header.indexOf(name, from);
    if (at < 0) return undefined;
    const end = at + name.length;
    const startsPair = at === 0 || header.charCodeAt(at - 1) === 32 /* space */ || header.charCodeAt(at - 1) === 59; /* ; */
    if (startsPair && header.charCodeAt(end) === 61 /* = */) {
      const semi = header.indexOf(';', end + 1);
      return header.slice(end + 1, semi < 0 ? header.length : semi);
    }
    from = end;
  }
  return undefined;
}

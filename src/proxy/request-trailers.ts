import { connectionTokens } from './hop-by-hop.js';
import { keepsTrailer } from './response-headers.js';

/**
 * Field-name characters (RFC 9110 §5.6.2 tchar), any case. The client codecs refuse anything
 * else already; the table keeps a name that slipped through from reaching an upstream.
 */
const TCHAR = (() => {
  const table = new Uint8Array(128);
  for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") table[c.charCodeAt(0)] = 1;
  return table;
})();

function isToken(name: string): boolean {
  if (name.length === 0) return false;
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 128 || TCHAR[c] === 0) return false;
  }
  return true;
}

/** No NUL, CR, LF or other control character but HTAB (RFC 9110 §5.5). */
function isFieldValue(value: string): boolean {
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return false;
  }
  return true;
}

/**
 * A client's request trailers ([name, value, ...] as its codec parsed them) as they go
 * upstream: names lower-cased; dropped are pseudo-headers, hop-by-hop fields (TE,
 * Transfer-Encoding, Connection...), the fields never taken as trailers (Content-Length,
 * Host, Authorization...: the same rules as response trailers, response-headers.ts), fields the
 * request's Connection header names, and any field that is not a token name with a clean value
 * (the parsers refuse those before; this is the last gate before an upstream's wire). Null
 * when nothing is left. `connection`: the request's Connection value, if any.
 */
export function buildUpstreamTrailers(raw: readonly string[], connection: string | undefined): string[] | null {
  let out: string[] | null = null;
  let extraHop: Set<string> | null | undefined;
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!.toLowerCase();
    const value = raw[i + 1]!;
    if (!keepsTrailer(name) || !isToken(name) || !isFieldValue(value)) continue;
    if (connection !== undefined) {
      if (extraHop === undefined) extraHop = connectionTokens([connection]);
      if (extraHop !== null && extraHop.has(name)) continue;
    }
    (out ??= []).push(name, value);
  }
  return out;
}

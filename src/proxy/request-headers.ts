import type { RequestHead } from '../codec/server-stream.js';
import { forwardedTrust, type ForwardedTrust } from './client-address.js';
import { connectionTokens, HOP_BY_HOP } from './hop-by-hop.js';
import { isHttp2 } from './http2-request.js';

/** Settings the header rewrite needs, prepared once per configuration. */
export interface ForwardingHeaderSettings {
  /** Which peers are trusted proxies; null when none is (see client-address.ts). */
  trust: ForwardedTrust | null;
  requestIdHeader: string;
  /** Via values, precomputed: "1.1 switchyard", "1.0 switchyard" and "2 switchyard". */
  via11: string;
  via10: string;
  via20: string;
}

export function forwardingHeaderSettings(options: {
  trustForwardedHeaders: boolean;
  trustedProxies: readonly string[];
  trustedHops: number;
  requestIdHeader: string;
  via: string;
}): ForwardingHeaderSettings {
  return {
    trust: forwardedTrust(options),
    requestIdHeader: options.requestIdHeader,
    via11: `1.1 ${options.via}`,
    via10: `1.0 ${options.via}`,
    via20: `2 ${options.via}`,
  };
}

/**
 * Builds the flat [name, value, ...] header list sent upstream: hop-by-hop headers (and those
 * named in Connection) removed; Via appended; the request id set. The client's Host is kept
 * unless `hostRewrite` is given. For upgrade requests `upgrade` is the Upgrade header value to
 * carry over (with `Connection: upgrade`).
 *
 * Forwarding headers: `peer` is the connection's client address (TCP peer, or what a PROXY
 * header gave). From a trusted peer (`peerTrusted`) X-Forwarded-For is kept and `peer` appended
 * to it, and X-Forwarded-Proto/-Host, X-Forwarded-Port, X-Real-IP and Forwarded are kept. From
 * any other peer all of them are dropped: X-Forwarded-For becomes `peer` alone (replaced, not
 * appended to), X-Forwarded-Proto and -Host are what the router saw.
 */
export function buildUpstreamHeaders(
  req: RequestHead,
  settings: ForwardingHeaderSettings,
  requestId: string,
  hostRewrite: string | null,
  proto: string,
  upgrade: string | null,
  peer: string,
  peerTrusted: boolean,
): string[] {
  const raw = req.rawHeaders;
  const out: string[] = [];
  let extraHop: Set<string> | null = null;
  const connection = req.headers.connection;
  if (connection !== undefined) extraHop = connectionTokens([connection]);

  let forwardedFor: string | null = null;
  let via: string | null = null;
  let host: string | null = null;
  let keptProto = false;
  let keptHost = false;
  const trust = peerTrusted;
  const idHeader = settings.requestIdHeader;

  const http2 = isHttp2(req);
  let cookie: string | null = null;
  let trailers = false;

  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    if (name.charCodeAt(0) === 58 /* : */) {
      // HTTP/2 pseudo-headers: :authority becomes Host (validateRequest checked it agrees
      // with any Host sent); :method, :path and :scheme are carried by the request itself.
      if (name === ':authority' && req.headers.host === value) {
        host = value;
        if (hostRewrite === null) out.push('host', value);
      }
      continue;
    }
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower === 'expect' || (extraHop !== null && extraHop.has(lower))) {
      // "TE: trailers" says the client takes trailers; the proxy forwards them, so it asks too.
      if (lower === 'te' && acceptsTrailers(value)) trailers = true;
      continue;
    }
    switch (lower) {
      case 'host':
        if (http2 && host !== null) continue; // already sent from :authority
        host = value;
        if (hostRewrite !== null) continue;
        break;
      case 'x-forwarded-for':
        if (trust) forwardedFor = forwardedFor === null ? value : `${forwardedFor}, ${value}`;
        continue;
      case 'forwarded':
      case 'x-forwarded-port':
      case 'x-real-ip':
        if (!trust) continue;
        break;
      case 'x-forwarded-proto':
        if (!trust) continue;
        keptProto = true;
        break;
      case 'x-forwarded-host':
        if (!trust) continue;
        keptHost = true;
        break;
      case 'via':
        via = via === null ? value : `${via}, ${value}`;
        continue;
      case 'cookie':
        // HTTP/2 clients may split Cookie into one field per cookie; HTTP/1.1 wants one line
        // (RFC 9113 §8.2.3).
        if (http2) {
          cookie = cookie === null ? value : `${cookie}; ${value}`;
          continue;
        }
        break;

      default:
        if (lower === idHeader) continue;
    }
    out.push(name, value);
  }

  if (hostRewrite !== null) out.push('host', hostRewrite);
  out.push('x-forwarded-for', forwardedFor === null ? peer : `${forwardedFor}, ${peer}`);
  if (!keptProto) out.push('x-forwarded-proto', proto);
  if (!keptHost && host !== null) out.push('x-forwarded-host', host);
  if (cookie !== null) out.push('cookie', cookie);
  const ourVia = http2 ? settings.via20 : req.httpVersionMinor === 0 ? settings.via10 : settings.via11;
  out.push('via', via === null ? ourVia : `${via}, ${ourVia}`);
  out.push(idHeader, requestId);
  if (trailers) out.push('te', 'trailers');
  if (upgrade !== null) out.push('connection', 'upgrade', 'upgrade', upgrade);
  return out;
}

/** Whether a TE value lists "trailers" (RFC 9110 §10.1.4). */
function acceptsTrailers(te: string): boolean {
  return te === 'trailers' || te.toLowerCase().includes('trailers');
}

import type { IncomingMessage } from 'node:http';
import { connectionTokens, HOP_BY_HOP } from './hop-by-hop.js';

/** Settings the header rewrite needs, prepared once per configuration. */
export interface ForwardingHeaderSettings {
  trustForwardedHeaders: boolean;
  requestIdHeader: string;
  /** Via values, precomputed: "1.1 switchyard" and "1.0 switchyard". */
  via11: string;
  via10: string;
}

export function forwardingHeaderSettings(options: { trustForwardedHeaders: boolean; requestIdHeader: string; via: string }): ForwardingHeaderSettings {
  return {
    trustForwardedHeaders: options.trustForwardedHeaders,
    requestIdHeader: options.requestIdHeader,
    via11: `1.1 ${options.via}`,
    via10: `1.0 ${options.via}`,
  };
}

/**
 * Builds the flat [name, value, ...] header list sent upstream: hop-by-hop headers (and those
 * named in Connection) removed; X-Forwarded-For appended; X-Forwarded-Proto/-Host set (kept
 * from the client only when trusted); Via appended; the request id set. The client's Host is
 * kept unless `hostRewrite` is given. For upgrade requests `upgrade` is the Upgrade header
 * value to carry over (with `Connection: upgrade`).
 */
export function buildUpstreamHeaders(
  req: IncomingMessage,
  settings: ForwardingHeaderSettings,
  requestId: string,
  hostRewrite: string | null,
  proto: string,
  upgrade: string | null,
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
  const trust = settings.trustForwardedHeaders;
  const idHeader = settings.requestIdHeader;

  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const value = raw[i + 1]!;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || lower === 'expect' || (extraHop !== null && extraHop.has(lower))) continue;
    switch (lower) {
      case 'host':
        host = value;
        if (hostRewrite !== null) continue;
        break;
      case 'x-forwarded-for':
        forwardedFor = forwardedFor === null ? value : `${forwardedFor}, ${value}`;
        continue;
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
      default:
        if (lower === idHeader) continue;
    }
    out.push(name, value);
  }

  if (hostRewrite !== null) out.push('host', hostRewrite);
  const clientAddress = req.socket.remoteAddress ?? 'unknown';
  out.push('x-forwarded-for', forwardedFor === null ? clientAddress : `${forwardedFor}, ${clientAddress}`);
  if (!keptProto) out.push('x-forwarded-proto', proto);
  if (!keptHost && host !== null) out.push('x-forwarded-host', host);
  const ourVia = req.httpVersionMinor === 0 ? settings.via10 : settings.via11;
  out.push('via', via === null ? ourVia : `${via}, ${ourVia}`);
  out.push(idHeader, requestId);
  if (upgrade !== null) out.push('connection', 'upgrade', 'upgrade', upgrade);
  return out;
}

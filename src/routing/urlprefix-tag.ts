import { hostNameSchema, hostPatternSchema, pathPrefixSchema } from '../config/schema.js';

/** What one `urlprefix-` tag declares. */
export interface UrlprefixRoute {
  /** Lower-case host or "*.suffix", or undefined for any host. */
  host: string | undefined;
  /** Normalised path prefix. */
  path: string;
  stripPrefix: boolean;
  /** Replacement for the matched prefix when `strip=` removes only part of it. */
  rewritePrefix: string | undefined;
  hostRewrite: string | undefined;
  /** `proto=https`: the tagged instance is reached over TLS. */
  https: boolean;
  /** `tlsskipverify=true` (with proto=https): do not verify the instance's certificate. */
  tlsSkipVerify: boolean;
  /**
   * `weight=w`: fabio's fixed share of the route's traffic for this service (0.2 = 20%), or
   * undefined (the service shares what the fixed shares leave). See TagRoutes.
   */
  weight: number | undefined;
}

export type UrlprefixParse = { ok: true; route: UrlprefixRoute } | { ok: false; reason: string };

const WHITESPACE = /\s+/;

/**
 * Parses a fabio-style route tag: `<prefix><host>/<path> [option ...]`, e.g.
 * `urlprefix-/api strip=/api` or `urlprefix-shop.example.com/`. Returns null when the tag
 * does not start with `prefix` (not a route tag).
 *
 * Options: `strip=/p` removes the prefix /p (which must start the route path) before
 * forwarding; `proto=http` (the default) or `proto=https` (the tagged instance speaks TLS,
 * verified; `tlsskipverify=true` turns verification off); `host=<name>` sends that Host
 * header upstream; `weight=w` gives the service a fixed share w (0 < w, 0.2 = 20%) of the traffic
 * of a route several services declare (fabio's semantics, see TagRoutes). Options that would
 * change what the route does and are not supported here
 * (`proto=tcp`, `redirect=`, `host=dst`, `auth=`, ...) reject the tag, so a route
 * never silently behaves differently from what its tag says.
 */
export function parseUrlprefixTag(tag: string, prefix: string): UrlprefixParse | null {
  if (!tag.startsWith(prefix)) return null;
  const [spec = '', ...options] = tag.slice(prefix.length).trim().split(WHITESPACE);
  const slash = spec.indexOf('/');
  if (slash < 0) return { ok: false, reason: `"${spec}" has no path; write ${prefix}/path or ${prefix}host/path` };
  const hostText = spec.slice(0, slash);
  let host: string | undefined;
  if (hostText !== '') {
    const parsed = hostPatternSchema.safeParse(hostText);
    if (!parsed.success) return { ok: false, reason: `host "${hostText}" ${parsed.error.issues[0]?.message ?? 'is not valid'}` };
    host = parsed.data;
  }
  const pathParsed = pathPrefixSchema.safeParse(spec.slice(slash));
  if (!pathParsed.success) return { ok: false, reason: `path "${spec.slice(slash)}" ${pathParsed.error.issues[0]?.message ?? 'is not valid'}` };
  const path = pathParsed.data;

  const route: UrlprefixRoute = { host, path, stripPrefix: false, rewritePrefix: undefined, hostRewrite: undefined, https: false, tlsSkipVerify: false, weight: undefined };
  for (const option of options) {
    const eq = option.indexOf('=');
    const key = eq < 0 ? option : option.slice(0, eq);
    const value = eq < 0 ? '' : option.slice(eq + 1);
    switch (key) {
      case 'strip': {
        const strip = pathPrefixSchema.safeParse(value);
        if (!strip.success) return { ok: false, reason: `strip=${value}: ${strip.error.issues[0]?.message ?? 'is not a path'}` };
        const s = strip.data;
        if (s === path) route.stripPrefix = true;
        else if (s !== '/' && path.startsWith(s) && path.charCodeAt(s.length) === 47) route.rewritePrefix = path.slice(s.length);
        else if (s !== '/') return { ok: false, reason: `strip=${value} is not a prefix of the route path ${path}` };
        break;
      }
      case 'proto':
        if (value !== 'http' && value !== 'https') return { ok: false, reason: `proto=${value} is not supported (use proto=http or proto=https; for gRPC or HTTP/2 instances set the instance meta proto: grpc (or h2c, h2, grpcs), or services.<name>.protocol in the config)` };
        route.https = value === 'https';
        break;
      case 'tlsskipverify':
        if (value !== 'true' && value !== 'false') return { ok: false, reason: `tlsskipverify=${value} must be true or false` };
        route.tlsSkipVerify = value === 'true';
        break;
      case 'host': {
        if (value === '' || value === 'dst') return { ok: false, reason: `host=${value} is not supported; give a host name` };
        // Checked here as the route's hostRewrite will be, so a bad name rejects this tag alone.
        const hostRewrite = hostNameSchema.safeParse(value);
        if (!hostRewrite.success) return { ok: false, reason: `host=${value} ${hostRewrite.error.issues[0]?.message ?? 'is not a host name'}` };
        route.hostRewrite = hostRewrite.data;
        break;
      }
      case 'weight': {
        const w = value.trim() === '' ? NaN : Number(value);
        if (!(Number.isFinite(w) && w > 0)) return { ok: false, reason: `weight=${value} must be a number above 0 (a share of the route's traffic: 0.2 = 20%)` };
        route.weight = w;
        break;
      }
      default:
        return { ok: false, reason: `option "${option}" is not supported (supported: strip=, proto=http|https, tlsskipverify=, host=<name>, weight=<share>)` };
    }
  }
  if (route.tlsSkipVerify && !route.https) return { ok: false, reason: 'tlsskipverify=true only applies with proto=https' };
  return { ok: true, route };
}

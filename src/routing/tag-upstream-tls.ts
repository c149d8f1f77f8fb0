import type { UpstreamTlsConfig } from '../config/schema.js';
import type { ServiceInstance } from '../registry/service-instance.js';
import { parseUrlprefixTag } from './urlprefix-tag.js';

/** TLS with verification (the instance's certificate must chain to a trusted CA and cover its address). */
const TAG_TLS_VERIFY: UpstreamTlsConfig = Object.freeze({ verify: true });
/** TLS without verification (`tlsskipverify=true`). */
const TAG_TLS_SKIP_VERIFY: UpstreamTlsConfig = Object.freeze({ verify: false });

/**
 * The TLS an instance declares with its own route tags (`<prefix>/path proto=https`), or
 * undefined for plain HTTP. An instance speaks one protocol on its port, so one valid
 * `proto=https` tag is enough; verification is off only when every such tag says
 * `tlsskipverify=true`. Tags that do not parse declare nothing (they are ignored, and logged,
 * as routes). Returns shared constant objects, so an unchanged answer keeps the pool.
 * A service `tls` section in the config wins over what the tags say.
 */
export function tagUpstreamTls(instance: ServiceInstance, prefix: string | null): UpstreamTlsConfig | undefined {
  if (prefix === null) return undefined;
  let https = false;
  let verify = false;
  for (const tag of instance.tags) {
    const parsed = parseUrlprefixTag(tag, prefix);
    if (parsed === null || !parsed.ok || !parsed.route.https) continue;
    https = true;
    if (!parsed.route.tlsSkipVerify) verify = true;
  }
  if (!https) return undefined;
  return verify ? TAG_TLS_VERIFY : TAG_TLS_SKIP_VERIFY;
}

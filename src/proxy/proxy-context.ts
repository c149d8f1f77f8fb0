import type { Config } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { RequestObserver } from './request-observer.js';
import type { ForwardingHeaderSettings } from './request-headers.js';

/** Per-request limits and parsing policy the handler applies, prepared once per configuration. */
export interface RequestLimits {
  readonly maxHeaderCount: number;
  /** Default largest body in bytes (a route may override); 0 = no limit. */
  readonly maxBodySize: number;
  readonly maxUpgrades: number;
  /** proxy.allowedUpgrades: protocols tunnelled, lower-case. */
  readonly allowedUpgrades: readonly string[];
  /** proxy.encodedSlashes === 'keep' */
  readonly keepEncodedSlashes: boolean;
}

export function requestLimits(config: Pick<Config, 'limits' | 'proxy'>): RequestLimits {
  return {
    maxHeaderCount: config.limits.maxHeaderCount,
    maxBodySize: config.limits.maxBodySize,
    maxUpgrades: config.limits.maxUpgrades,
    allowedUpgrades: config.proxy.allowedUpgrades,
    keepEncodedSlashes: config.proxy.encodedSlashes === 'keep',
  };
}

/** What the request path needs besides the route table, prepared once per configuration. */
export interface ProxyContext {
  readonly logger: Logger;
  readonly headers: ForwardingHeaderSettings;
  /** Told once per request, at its end (metrics, access log). */
  readonly observer: RequestObserver;
  readonly limits: RequestLimits;
}

import type { Logger } from '../observability/logger.js';
import type { RequestObserver } from './request-observer.js';
import type { ForwardingHeaderSettings } from './request-headers.js';

/** What the request path needs besides the route table, prepared once per configuration. */
export interface ProxyContext {
  readonly logger: Logger;
  readonly headers: ForwardingHeaderSettings;
  /** Told once per request, at its end (metrics, access log). */
  readonly observer: RequestObserver;
}

import type { RequestHead, ResponseState } from '../codec/server-stream.js';
import type { Route } from '../routing/route.js';
import type { Endpoint } from '../upstream/endpoint.js';
import { CLIENT_CLOSED_CODE } from './client-closed-error.js';
import { classifyUpstreamError, type ProxyErrorCode } from './proxy-error.js';
import { requestProtocol } from './request-connection.js';

/** Status recorded when the client went away before a response head was sent (nginx's convention). */
export const CLIENT_CLOSED_STATUS = 499;


/**
 * An exchange that is its own record (ExchangeRecord, and through it the access log's
 * RequestLogRecord): the facts of the record that are derived from the request head, the
 * response state, the route, the endpoint and the exchange's timestamps. Every exchange of
 * both listener engines extends it (Exchange on the codec; ForwardExchange and UpgradeExchange
 * on node:http), so the two engines describe a request by the same code and their access-log
 * lines and metrics cannot differ. Each accessor reads what it needs when called: the record is
 * the exchange itself, nothing is copied or allocated per request.
 */
export abstract class RecordedExchange {
  abstract readonly req: RequestHead;
  abstract readonly res: ResponseState;
  abstract readonly route: Route;
  abstract readonly endpoint: Endpoint;
  abstract readonly startedAt: number;
  abstract readonly upstreamStartedAt: number;
  abstract readonly upstreamEndedAt: number;
  abstract readonly failure: (Error & { code?: string }) | null;
  /** performance.now() when the exchange ended; set by the exchange before it reports. */
  endedAt = 0;

  constructor(
    /** The client's address, resolved once by the handler (proxy/client-address.ts). */
    readonly clientAddress: string,
    /**
     * The connection's TLS version, undefined on cleartext: read when the exchange starts
     * (requestTlsVersion), as node:http may have unlinked the request from its socket by its end.
     */
    readonly tlsVersion: string | undefined,
  ) {}

  get method(): string | undefined {
    return this.req.method;
  }

  get host(): string | undefined {
    return this.req.headers.host;
  }

  get target(): string | undefined {
    return this.req.url;
  }

  get userAgent(): string | undefined {
    return this.req.headers['user-agent'];
  }

  get httpProtocol(): string {
    return requestProtocol(this.req);
  }

  get status(): number {
    return this.res.headersSent ? this.res.statusCode : CLIENT_CLOSED_STATUS;
  }

  get bytesIn(): number {
    return contentLength(this.req);
  }

  get durationMs(): number {
    return this.endedAt - this.startedAt;
  }

  get routeName(): string {
    return this.route.name;
  }

  get serviceName(): string {
    return this.route.cluster.name;
  }

  get upstreamAddress(): string {
    return this.endpoint.key;
  }

  get upstreamMs(): number {
    return this.upstreamEndedAt - this.upstreamStartedAt;
  }

  get errorCode(): ProxyErrorCode | 'client_closed' | undefined {
    const failure = this.failure;
    if (failure === null) return undefined;
    // Any other failure before the head gets a proxy error response, so nothing sent = client gone.
    if (failure.code === CLIENT_CLOSED_CODE || !this.res.headersSent) return 'client_closed';
    return classifyUpstreamError(failure);
  }

  get upstreamError(): (Error & { code?: string }) | undefined {
    const failure = this.failure;
    return failure === null || failure.code === CLIENT_CLOSED_CODE || !this.res.headersSent ? undefined : failure;
  }
}

/** Request body size from Content-Length; 0 when absent or chunked (not counted). */
export function contentLength(req: RequestHead): number {
  const header = req.headers['content-length'];
  if (header === undefined) return 0;
  const n = Number(header);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

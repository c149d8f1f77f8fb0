import type { RequestHead, ResponseState } from '../codec/server-stream.js';
import type { RequestLogRecord } from '../observability/access-log-record.js';
import type { Route } from '../routing/route.js';
import { contentLength } from './recorded-exchange.js';
import { requestProtocol, requestTlsVersion } from './request-connection.js';
import type { ProxyErrorCode } from './proxy-error.js';

/**
 * The record of a request the proxy answered itself before forwarding it (no route, an invalid
 * request, a refusal): one per request recorder, filled again for each such request and read at
 * once, so a refusal allocates no record. It was never sent upstream: no upstream address
 * (the line leaves out the upstream status and time), no retries, no upstream error.
 */
export class RejectedRequestRecord implements RequestLogRecord {
  requestId = '';
  readonly traceId = undefined;
  method: string | undefined = undefined;
  host: string | undefined = undefined;
  target: string | undefined = undefined;
  status = 0;
  bytesIn = 0;
  readonly bytesOut = 0;
  durationMs = 0;
  routeName: string | null = null;
  serviceName: string | null = null;
  readonly upstreamAddress = null;
  readonly upstreamStatus = 0;
  readonly upstreamMs = 0;
  readonly retries = 0;
  errorCode: ProxyErrorCode | undefined = undefined;
  readonly upstreamError = undefined;
  clientAddress = '';
  userAgent: string | undefined = undefined;
  httpProtocol = '';
  tlsVersion: string | undefined = undefined;

  /** Describes this refusal (`route` null when none matched); `endedAt`: performance.now() now. */
  fill(
    req: RequestHead,
    res: ResponseState,
    route: Route | null,
    requestId: string,
    code: ProxyErrorCode,
    startedAt: number,
    endedAt: number,
    clientAddress: string,
  ): this {
    this.requestId = requestId;
    this.method = req.method;
    this.host = req.headers.host;
    this.target = req.url;
    this.status = res.statusCode;
    this.bytesIn = contentLength(req);
    this.durationMs = endedAt - startedAt;
    this.routeName = route === null ? null : route.name;
    this.serviceName = route === null ? null : route.cluster.name;
    this.errorCode = code;
    this.clientAddress = clientAddress;
    this.userAgent = req.headers['user-agent'];
    this.httpProtocol = requestProtocol(req);
    this.tlsVersion = requestTlsVersion(req);
    return this;
  }
}

import type { RequestHead, ResponseState } from '../codec/server-stream.js';
import type { RequestLogRecord, TunnelLogRecord } from '../observability/access-log-record.js';
import type { Route } from '../routing/route.js';
import type { Endpoint } from '../upstream/endpoint.js';
import type { ProxyErrorCode } from './proxy-error.js';

/**
 * What a finished exchange exposes to its observer. The exchange itself implements this, so
 * reporting the end of a request passes one reference and allocates nothing. The facts of its
 * access-log line (RequestLogRecord: method, target, host, status, bytes, durations, route,
 * service, upstream address, error code...) are accessors the exchange derives from its own
 * state (RecordedExchange, the base class of the exchanges of both listener engines); the observer reads them rather
 * than the request and response objects.
 */
export interface ExchangeRecord extends RequestLogRecord {
  readonly req: RequestHead;
  readonly res: ResponseState;
  readonly route: Route;
  /** The endpoint of the last attempt. */
  readonly endpoint: Endpoint;
  readonly requestId: string;
  /** The client's address, resolved once per request (proxy/client-address.ts). */
  readonly clientAddress: string;
  /** W3C trace id (trace-context filter), or undefined. */
  readonly traceId: string | undefined;
  /** The proxy's span (span export on), its caller's span and whether it is sampled. */
  readonly spanId: string | undefined;
  readonly parentSpanId: string;
  readonly sampled: boolean;
  /** performance.now() when the request arrived, and when the exchange ended. */
  readonly startedAt: number;
  readonly endedAt: number;
  /** performance.now() when the last attempt was dispatched, and when it ended. */
  readonly upstreamStartedAt: number;
  readonly upstreamEndedAt: number;
  /** Status the upstream answered with, 0 when no response head arrived. */
  readonly upstreamStatus: number;
  /** Response body bytes written to the client. */
  readonly bytesOut: number;
  /** Attempts after the first. */
  readonly retries: number;
  /** A gRPC request, and the gRPC status its client got (-1: none seen, e.g. the stream was cut). */
  readonly grpc: boolean;
  readonly grpcStatus: number;
  /** Why the exchange failed, or null when the response completed. */
  readonly failure: (Error & { code?: string }) | null;
  readonly routeName: string;
  readonly serviceName: string;
  readonly upstreamAddress: string;
  /** `client_closed` when the client went away, else the proxy error code of the failure; undefined when it completed. */
  readonly errorCode: ProxyErrorCode | 'client_closed' | undefined;
}

/** What a closed tunnel (an upgraded connection) exposes to its observer. */
export interface TunnelRecord extends TunnelLogRecord {
  readonly route: Route;
  readonly endpoint: Endpoint;
  readonly requestId: string;
  readonly clientAddress: string;
  /** The protocol the upstream switched to. */
  readonly protocol: string;
  /** performance.now() when the request arrived, when the tunnel opened (101 relayed), and when it closed. */
  readonly startedAt: number;
  readonly openedAt: number;
  readonly endedAt: number;
  /** Bytes carried after the handshake, each way. */
  readonly bytesFromClient: number;
  readonly bytesToClient: number;
}

/** Told once per request, at its end: records metrics and the access log line. */
export interface RequestObserver {
  /** A forwarded request ended: response complete, failed, or the client went away. */
  requestEnded(exchange: ExchangeRecord): void;
  /**
   * A try ended and the request is being retried on another endpoint: `failure` is why (null
   * when the try got a 5xx response that the retry policy names). The final try is reported
   * by requestEnded.
   */
  attemptRetried(exchange: ExchangeRecord, failure: (Error & { code?: string }) | null): void;
  /** The proxy answered itself before forwarding (`route` is null when none matched). */
  requestRejected(req: RequestHead, res: ResponseState, route: Route | null, requestId: string, code: ProxyErrorCode, startedAt: number, clientAddress: string): void;
  /** A tunnel closed (its handshake is not reported as a request; metrics are recorded by the exchange). */
  tunnelEnded(tunnel: TunnelRecord): void;
}

/** An observer that records nothing (contexts built without a router). */
export const NO_OBSERVER: RequestObserver = {
  requestEnded() {},
  attemptRetried() {},
  requestRejected() {},
  tunnelEnded() {},
};

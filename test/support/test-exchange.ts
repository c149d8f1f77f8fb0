import type { RequestHead, ResponseState } from '../../src/codec/server-stream.js';
import { SwitchyardMetrics } from '../../src/observability/metrics.js';
import { RecordedExchange } from '../../src/proxy/recorded-exchange.js';
import type { ExchangeRecord } from '../../src/proxy/request-observer.js';
import type { Route } from '../../src/routing/route.js';
import type { Endpoint } from '../../src/upstream/endpoint.js';

/** Metrics the routes of these exchanges record into. */
export const testMetrics = new SwitchyardMetrics();

/** A route with just what the request recorder reads: names and metric children. */
export function route(name: string, service: string): Route {
  return { name, cluster: { name: service }, metrics: testMetrics.route(name, service) } as unknown as Route;
}

/** A request head as either listener engine presents it. */
export function incoming(method: string, url: string, headers: Record<string, string>): RequestHead {
  return { method, url, headers, rawHeaders: [], httpVersionMajor: 1, httpVersionMinor: 1, socket: { remoteAddress: '127.0.0.1' } };
}

/** The state of the response the client got. */
export function response(statusCode: number, headersSent = true): ResponseState {
  return { statusCode, headersSent };
}

/**
 * A finished exchange as the proxy reports it (started at 1000, upstream from
 * 1001 to 1003.5, ended at 1012.25), with the record's accessors of RecordedExchange.
 */
export class TestExchange extends RecordedExchange implements ExchangeRecord {
  readonly endpoint = { key: '127.0.0.1:9000' } as unknown as Endpoint;
  readonly traceId = undefined;
  readonly spanId = undefined;
  readonly parentSpanId = '';
  readonly sampled = false;
  readonly startedAt = 1000;
  readonly upstreamStartedAt = 1001;
  readonly upstreamEndedAt = 1003.5;
  upstreamStatus = 200;
  bytesOut = 42;
  retries = 0;
  readonly grpc = false;
  readonly grpcStatus = -1;
  failure: (Error & { code?: string }) | null = null;

  constructor(
    readonly req: RequestHead,
    readonly res: ResponseState,
    readonly route: Route,
    readonly requestId: string,
    clientAddress = '127.0.0.1',
    tlsVersion: string | undefined = undefined,
  ) {
    super(clientAddress, tlsVersion);
    this.endedAt = 1012.25;
  }
}

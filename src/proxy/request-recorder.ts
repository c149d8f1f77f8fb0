import type { RequestHead, ResponseState } from '../codec/server-stream.js';
import { methodLabelIndex, statusClassIndex, type UpstreamOutcome } from '../observability/metric-labels.js';
import type { AccessLog } from '../observability/access-log.js';
import type { OtlpSpanExporter } from '../observability/otlp-span-exporter.js';
import type { SwitchyardMetrics } from '../observability/metrics.js';
import type { RouteMetrics } from '../observability/route-metrics.js';
import type { Route } from '../routing/route.js';
import { GrpcStatus, grpcStatusOf, isGrpcRequest } from './grpc-status.js';
import { classifyUpstreamError, PROXY_ERRORS, type ProxyErrorCode } from './proxy-error.js';
import { requestProtocol, requestTlsVersion } from './request-connection.js';
import type { ExchangeRecord, RequestObserver, TunnelRecord } from './request-observer.js';

/** Status recorded when the client went away before a response head was sent (nginx's convention). */
export const CLIENT_CLOSED_STATUS = 499;

/** Outcome label of an upstream attempt that failed with this code (codes not listed: 'reset'). */
const OUTCOME_OF: Partial<Record<ProxyErrorCode, UpstreamOutcome>> = {
  bad_request: 'reset',
  no_route: 'reset',
  no_healthy_endpoint: 'reset',
  upstream_connect_failed: 'connect_failed',
  upstream_reset: 'reset',
  upstream_bad_response: 'bad_response',
  upstream_timeout: 'timeout',
  upstream_tls_failed: 'connect_failed',
};

/**
 * Records each request once, at its end: request and upstream metrics on the route's prepared
 * children, and one access log line (pino, asynchronous destination) when the access log is on.
 */
export class RequestRecorder implements RequestObserver {
  private readonly unrouted: RouteMetrics;

  constructor(
    private readonly metrics: SwitchyardMetrics,
    /** Null when `logging.accessLog` is false. */
    private readonly accessLog: AccessLog | null,
    /** Null unless `tracing.otlp` is set. */
    private readonly spans: OtlpSpanExporter | null = null,
  ) {
    this.unrouted = metrics.route('', '');
  }

  requestEnded(x: ExchangeRecord): void {
    const res = x.res;
    const failure = x.failure;
    const status = res.headersSent ? res.statusCode : CLIENT_CLOSED_STATUS;
    const seconds = (performance.now() - x.startedAt) / 1000;
    const upstreamSeconds = (x.upstreamEndedAt - x.upstreamStartedAt) / 1000;
    const bytesIn = contentLength(x.req);
    const metrics = x.route.metrics;
    metrics.requestEnded(methodLabelIndex(x.req.method), statusClassIndex(status), seconds, bytesIn, x.bytesOut);

    let outcome: UpstreamOutcome = 'response';
    let errorCode: ProxyErrorCode | 'client_closed' | null = null;
    if (failure !== null) {
      // Any other failure before the head gets a proxy error response, so nothing sent = client gone.
      if (failure.code === 'SWITCHYARD_CLIENT_CLOSED' || !res.headersSent) {
        outcome = 'cancelled';
        errorCode = 'client_closed';
      } else {
        errorCode = classifyUpstreamError(failure);
        outcome = OUTCOME_OF[errorCode] ?? 'reset';
        if (x.upstreamStatus === 0) this.metrics.proxyError(errorCode);
      }
    }
    metrics.upstream.attemptEnded(outcome, upstreamSeconds);
    if (x.grpc) metrics.grpcResponse(x.grpcStatus < 0 ? GrpcStatus.UNKNOWN : x.grpcStatus);
    if (this.spans !== null && x.spanId !== undefined && x.sampled) this.exportSpan(x, status, seconds, errorCode ?? undefined);

    if (this.accessLog === null) return;
    const req = x.req;
    this.accessLog.request(
      x.requestId,
      x.traceId,
      req.method,
      req.headers.host,
      req.url,
      status,
      bytesIn,
      x.bytesOut,
      seconds * 1000,
      x.route.name,
      x.route.cluster.name,
      x.endpoint.key,
      x.upstreamStatus,
      upstreamSeconds * 1000,
      x.retries,
      errorCode ?? undefined,
      failure !== null && errorCode !== 'client_closed' ? failure : undefined,
      x.clientAddress,
      userAgentOf(req),
      requestProtocol(req),
      requestTlsVersion(req),
    );
  }

  private exportSpan(x: ExchangeRecord, status: number, seconds: number, error: string | undefined): void {
    const startMs = performance.timeOrigin + x.startedAt;
    this.spans!.add({
      traceId: x.traceId!,
      spanId: x.spanId!,
      parentSpanId: x.parentSpanId,
      startMs,
      endMs: startMs + seconds * 1000,
      method: x.req.method ?? '',
      path: x.req.url ?? '',
      status,
      route: x.route.name,
      service: x.route.cluster.name,
      upstream: x.endpoint.key,
      error,
    });
  }

  attemptRetried(x: ExchangeRecord, failure: (Error & { code?: string }) | null): void {
    const outcome: UpstreamOutcome = failure === null ? 'response' : (OUTCOME_OF[classifyUpstreamError(failure)] ?? 'reset');
    x.route.metrics.upstream.attemptEnded(outcome, (x.upstreamEndedAt - x.upstreamStartedAt) / 1000);
  }

  requestRejected(req: RequestHead, res: ResponseState, route: Route | null, requestId: string, code: ProxyErrorCode, startedAt: number, clientAddress: string): void {
    const status = PROXY_ERRORS[code].status;
    const seconds = (performance.now() - startedAt) / 1000;
    const bytesIn = contentLength(req);
    const routeMetrics = route?.metrics ?? this.unrouted;
    routeMetrics.requestEnded(methodLabelIndex(req.method), statusClassIndex(status), seconds, bytesIn, 0);
    if (isGrpcRequest(req)) routeMetrics.grpcResponse(grpcStatusOf(code));
    this.metrics.proxyError(code);
    if (this.accessLog === null) return;
    this.accessLog.other(
      {
        requestId,
        method: req.method,
        host: req.headers.host,
        path: req.url,
        status: res.statusCode,
        bytesIn,
        bytesOut: 0,
        durationMs: round(seconds * 1000),
        route: route?.name ?? null,
        service: route?.cluster.name ?? null,
        upstream: null,
        retries: 0,
        error: code,
        clientAddress,
        userAgent: userAgentOf(req),
        protocol: requestProtocol(req),
        tls: requestTlsVersion(req),
      },
      'request',
    );
  }

  tunnelEnded(t: TunnelRecord): void {
    if (this.accessLog === null) return;
    const now = performance.now();
    this.accessLog.other(
      {
        requestId: t.requestId,
        method: t.req.method,
        host: t.req.headers.host,
        path: t.req.url,
        status: 101,
        protocol: t.protocol,
        bytesIn: t.bytesFromClient,
        bytesOut: t.bytesToClient,
        durationMs: round(now - t.startedAt),
        tunnelMs: round(now - t.openedAt),
        route: t.route.name,
        service: t.route.cluster.name,
        upstream: t.endpoint.key,
        clientAddress: t.clientAddress,
        userAgent: userAgentOf(t.req),
        tls: requestTlsVersion(t.req),
      },
      'tunnel',
    );
  }
}

function userAgentOf(req: RequestHead): string | undefined {
  return req.headers['user-agent'];
}

/** Request body size from Content-Length; 0 when absent or chunked (not counted). */
function contentLength(req: RequestHead): number {
  const header = req.headers['content-length'];
  if (header === undefined) return 0;
  const n = Number(header);
  return Number.isFinite(n) && n > 0 ? n : 0;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}

import type { RequestHead, ResponseState } from '../codec/server-stream.js';
import { methodLabelIndex, statusClassIndex, type UpstreamOutcome } from '../observability/metric-labels.js';
import type { AccessLog } from '../observability/access-log.js';
import type { OtlpSpanExporter } from '../observability/otlp-span-exporter.js';
import type { SwitchyardMetrics } from '../observability/metrics.js';
import type { RouteMetrics } from '../observability/route-metrics.js';
import type { Route } from '../routing/route.js';
import { GrpcStatus, isGrpcRequest } from './grpc-status.js';
import { classifyUpstreamError, grpcStatusOf, PROXY_ERRORS, type ProxyErrorCode } from './proxy-error.js';
import { RejectedRequestRecord } from './rejected-request-record.js';
import type { ExchangeRecord, RequestObserver, TunnelRecord } from './request-observer.js';

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
 * children, and one access log line when the access log is on. Both read the request's facts
 * through its record (the exchange itself); a request the proxy answered itself is described by
 * one reused RejectedRequestRecord.
 */
export class RequestRecorder implements RequestObserver {
  private readonly unrouted: RouteMetrics;
  private readonly rejected = new RejectedRequestRecord();

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
    const status = x.status;
    const seconds = x.durationMs / 1000;
    const metrics = x.route.metrics;
    metrics.requestEnded(methodLabelIndex(x.method), statusClassIndex(status), seconds, x.bytesIn, x.bytesOut);

    let outcome: UpstreamOutcome = 'response';
    const errorCode = x.errorCode;
    if (errorCode === 'client_closed') {
      outcome = 'cancelled';
    } else if (errorCode !== undefined) {
      outcome = OUTCOME_OF[errorCode] ?? 'reset';
      if (x.upstreamStatus === 0) this.metrics.proxyError(errorCode);
    }
    metrics.upstream.attemptEnded(outcome, x.upstreamMs / 1000);
    if (x.grpc) metrics.grpcResponse(x.grpcStatus < 0 ? GrpcStatus.UNKNOWN : x.grpcStatus);
    if (this.spans !== null && x.spanId !== undefined && x.sampled) this.exportSpan(x, status, seconds, errorCode);

    if (this.accessLog !== null) this.accessLog.request(x);
  }

  private exportSpan(x: ExchangeRecord, status: number, seconds: number, error: string | undefined): void {
    const startMs = performance.timeOrigin + x.startedAt;
    this.spans!.add({
      traceId: x.traceId!,
      spanId: x.spanId!,
      parentSpanId: x.parentSpanId,
      startMs,
      endMs: startMs + seconds * 1000,
      method: x.method ?? '',
      path: x.target ?? '',
      status,
      route: x.routeName,
      service: x.serviceName,
      upstream: x.upstreamAddress,
      error,
    });
  }

  attemptRetried(x: ExchangeRecord, failure: (Error & { code?: string }) | null): void {
    const outcome: UpstreamOutcome = failure === null ? 'response' : (OUTCOME_OF[classifyUpstreamError(failure)] ?? 'reset');
    x.route.metrics.upstream.attemptEnded(outcome, (x.upstreamEndedAt - x.upstreamStartedAt) / 1000);
  }

  requestRejected(req: RequestHead, res: ResponseState, route: Route | null, requestId: string, code: ProxyErrorCode, startedAt: number, clientAddress: string): void {
    const r = this.rejected.fill(req, res, route, requestId, code, startedAt, performance.now(), clientAddress);
    const routeMetrics = route?.metrics ?? this.unrouted;
    routeMetrics.requestEnded(methodLabelIndex(r.method), statusClassIndex(PROXY_ERRORS[code].status), r.durationMs / 1000, r.bytesIn, 0);
    if (isGrpcRequest(req)) routeMetrics.grpcResponse(grpcStatusOf(code));
    this.metrics.proxyError(code);
    if (this.accessLog !== null) this.accessLog.request(r);
  }

  tunnelEnded(t: TunnelRecord): void {
    if (this.accessLog !== null) this.accessLog.tunnel(t);
  }
}

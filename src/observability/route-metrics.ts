import type { CounterChild, HistogramChild, PreparedCounter, PreparedHistogram } from './prepared-metrics.js';
import { GRPC_STATUS_NAMES, METHOD_LABELS, STATUS_CLASS_LABELS } from './metric-labels.js';
import type { ServiceMetrics } from './service-metrics.js';
import { UpgradeMetrics, type UpgradeMetricFamilies } from './upgrade-metrics.js';

/** The request metric families, labelled by route, service, method and status class. */
export interface RequestMetricFamilies {
  requests: PreparedCounter;
  duration: PreparedHistogram;
  requestBytes: PreparedCounter;
  responseBytes: PreparedCounter;
  /** gRPC responses by route, service and grpc_status (the status code's name). */
  grpcResponses: PreparedCounter;
}

const CLASSES = STATUS_CLASS_LABELS.length;

/**
 * Request metrics of one route with every (method, status class) child resolved when the
 * route table is built: recording a request is an array index and a few field updates.
 * Children are bound, not observed, up front, so unused combinations export no series.
 */
export class RouteMetrics {
  /** Requests recorded since start; read by the status page to show live rates. */
  requestCount = 0;
  private readonly counters: CounterChild[] = [];
  private readonly durations: HistogramChild[] = [];
  private readonly requestBytes: CounterChild;
  private readonly responseBytes: CounterChild;
  /** Upgrades (tunnels) through this route. */
  readonly upgrades: UpgradeMetrics;
  /** gRPC responses by status code (index = code). */
  private readonly grpcCounters: CounterChild[] = [];

  constructor(
    readonly route: string,
    readonly upstream: ServiceMetrics,
    families: RequestMetricFamilies,
    upgradeFamilies: UpgradeMetricFamilies,
  ) {
    const service = upstream.service;
    for (const method of METHOD_LABELS) {
      for (const statusClass of STATUS_CLASS_LABELS) {
        this.counters.push(families.requests.labels(route, service, method, statusClass));
        this.durations.push(families.duration.labels(route, service, method, statusClass));
      }
    }
    this.requestBytes = families.requestBytes.labels(route, service);
    this.responseBytes = families.responseBytes.labels(route, service);
    this.upgrades = new UpgradeMetrics(route, service, upgradeFamilies);
    for (const name of GRPC_STATUS_NAMES) this.grpcCounters.push(families.grpcResponses.labels(route, service, name));
  }

  /** A gRPC request ended with `status` (a gRPC status code; codes beyond 16 count as UNKNOWN). */
  grpcResponse(status: number): void {
    (this.grpcCounters[status] ?? this.grpcCounters[2]!).inc();
  }

  /** `method` and `statusClass` are indexes from methodLabelIndex / statusClassIndex. */
  requestEnded(method: number, statusClass: number, seconds: number, bytesIn: number, bytesOut: number): void {
    const i = method * CLASSES + statusClass;
    this.requestCount++;
    this.counters[i]!.inc();
    this.durations[i]!.observe(seconds);
    if (bytesIn > 0) this.requestBytes.inc(bytesIn);
    if (bytesOut > 0) this.responseBytes.inc(bytesOut);
  }
}

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
 * Request metrics of one route. Each (method, status class) child is bound the first time the
 * route records that combination, then kept: recording a request is an array index, one
 * undefined check and a few field updates. Binding every combination when the table is built
 * cost ~0.5 ms and tens of KB a route (50 counters, 50 histograms, gRPC and upgrade children):
 * seconds and hundreds of MB at 10,000 registry routes, almost all for combinations never used.
 * Unused combinations export no series either way.
 */
export class RouteMetrics {
  /** Requests recorded since start; read by the status page to show live rates. */
  requestCount = 0;
  /** Children by (method, status class); the arrays themselves are made at the first request (a route may never see one). */
  private counters: (CounterChild | undefined)[] | null = null;
  private durations: (HistogramChild | undefined)[] | null = null;
  private requestBytes: CounterChild | undefined;
  private responseBytes: CounterChild | undefined;
  private upgradeMetrics: UpgradeMetrics | undefined;
  /** gRPC responses by status code (index = code), bound on first use. */
  private grpcCounters: (CounterChild | undefined)[] | null = null;
  private readonly service: string;

  constructor(
    readonly route: string,
    readonly upstream: ServiceMetrics,
    private readonly families: RequestMetricFamilies,
    private readonly upgradeFamilies: UpgradeMetricFamilies,
  ) {
    this.service = upstream.service;
  }

  /** Upgrade (tunnel) metrics of this route. */
  get upgrades(): UpgradeMetrics {
    return (this.upgradeMetrics ??= new UpgradeMetrics(this.route, this.service, this.upgradeFamilies));
  }

  /** A gRPC request ended with `status` (a gRPC status code; codes beyond 16 count as UNKNOWN). */
  grpcResponse(status: number): void {
    const code = status >= 0 && status < GRPC_STATUS_NAMES.length ? status : 2;
    const counters = (this.grpcCounters ??= new Array<CounterChild | undefined>(GRPC_STATUS_NAMES.length).fill(undefined));
    (counters[code] ??= this.families.grpcResponses.labels(this.route, this.service, GRPC_STATUS_NAMES[code]!)).inc();
  }

  /** `method` and `statusClass` are indexes from methodLabelIndex / statusClassIndex. */
  requestEnded(method: number, statusClass: number, seconds: number, bytesIn: number, bytesOut: number): void {
    const i = method * CLASSES + statusClass;
    this.requestCount++;
    const counter = this.counters?.[i] ?? this.bind(i);
    counter.inc();
    this.durations![i]!.observe(seconds);
    if (bytesIn > 0) (this.requestBytes ??= this.families.requestBytes.labels(this.route, this.service)).inc(bytesIn);
    if (bytesOut > 0) (this.responseBytes ??= this.families.responseBytes.labels(this.route, this.service)).inc(bytesOut);
  }

  /** Binds the children of one (method, status class) combination; returns its counter. */
  private bind(i: number): CounterChild {
    const method = METHOD_LABELS[Math.floor(i / CLASSES)]!;
    const statusClass = STATUS_CLASS_LABELS[i % CLASSES]!;
    (this.durations ??= new Array<HistogramChild | undefined>(METHOD_LABELS.length * CLASSES).fill(undefined))[i] = this.families.duration.labels(this.route, this.service, method, statusClass);
    return ((this.counters ??= new Array<CounterChild | undefined>(METHOD_LABELS.length * CLASSES).fill(undefined))[i] = this.families.requests.labels(this.route, this.service, method, statusClass));
  }
}

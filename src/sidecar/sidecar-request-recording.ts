import type { Config } from '../config/schema.js';
import { AccessLog } from '../observability/access-log.js';
import { onDroppedLogLines, type Logger, type ProcessLog } from '../observability/logger.js';
import { SwitchyardMetrics, type MetricsSources } from '../observability/metrics.js';
import { OtlpSpanExporter } from '../observability/otlp-span-exporter.js';
import { RequestRecorder } from '../proxy/request-recorder.js';

/** Which side of the sidecar a request went through; written as `direction` on its access-log line. */
export type SidecarDirection = 'inbound' | 'egress';

/**
 * What the sidecar records about its requests, the router's way: one SwitchyardMetrics (the
 * router's request, upstream and gRPC families; route label `inbound` on the inbound side, the
 * service name on egress) and, per direction, a RequestRecorder with an access log whose lines
 * are the router's plus `"direction":"inbound"` or `"egress"` (a binding of the line, written
 * after `component`). `logging.accessLog: false` turns both logs off; `tracing.otlp` exports a
 * span per sampled request, as the router does. Built once at start; nothing here runs per
 * request except what RequestRecorder does for the router.
 */
export class SidecarRequestRecording {
  readonly metrics = new SwitchyardMetrics({ processMetrics: true });
  private readonly accessLogs: AccessLog[] = [];
  private readonly spans: OtlpSpanExporter | null;

  constructor(
    private readonly config: Config,
    private readonly log: ProcessLog,
    logger: Logger,
  ) {
    onDroppedLogLines(log, (lines) => this.metrics.logLinesDropped(lines));
    const otlp = config.tracing.otlp;
    this.spans =
      otlp === undefined
        ? null
        : new OtlpSpanExporter(
            { endpoint: otlp.endpoint, headers: otlp.headers, serviceName: otlp.serviceName, maxQueue: otlp.maxQueue, batchSize: otlp.batchSize, flushIntervalMs: otlp.flushInterval },
            logger.child({ component: 'tracing' }),
            this.metrics.traceSpans(),
          );
  }

  /** The observer of one direction's proxy handler (call once per direction). */
  observer(direction: SidecarDirection): RequestRecorder {
    let accessLog: AccessLog | null = null;
    if (this.config.logging.accessLog) {
      accessLog = new AccessLog(this.log, { component: 'access', direction });
      this.accessLogs.push(accessLog);
    }
    return new RequestRecorder(this.metrics, accessLog, this.spans);
  }

  /** Scrape-time gauges (endpoints, client connections, the egress registry). */
  setSources(sources: MetricsSources): void {
    this.metrics.setSources(sources);
  }

  /** The request metrics in Prometheus text. */
  async text(): Promise<string> {
    return (await this.metrics.scrape()).body;
  }

  /** Writes what the access logs hold and sends the last spans (called last at shutdown). */
  async close(): Promise<void> {
    await this.spans?.close();
    for (const log of this.accessLogs) log.close();
  }
}

import type { CounterChild, HistogramChild, PreparedCounter, PreparedHistogram } from './prepared-metrics.js';
import { UPSTREAM_OUTCOMES, type UpstreamOutcome } from './metric-labels.js';

/** The upstream metric families, labelled by service. */
export interface UpstreamMetricFamilies {
  attemptDuration: PreparedHistogram;
  connectErrors: PreparedCounter;
  timeouts: PreparedCounter;
  retries: PreparedCounter;
  ejections: PreparedCounter;
  breakerRejections: PreparedCounter;
  retryBudgetExhausted: PreparedCounter;
}

/**
 * Upstream metrics of one service with their label children resolved once, so recording is
 * a field update on a prepared child. Obtained from `SwitchyardMetrics.service()`
 * (off the hot path) and kept by whoever records: routes, outlier detectors, breakers.
 *
 * Children are bound on the first event of their kind (an unused child exports nothing):
 * six histograms and six counters a service, bound when the route table was built, were most
 * of a service's metric memory and time at start-up with thousands of registry services. The
 * counters of every known service are still exported at 0 from the start (SwitchyardMetrics
 * has the counter families export them for every service it knows, see exportZeroFor), so
 * rate() and alerts see the series before the first event.
 */
export class ServiceMetrics {
  private readonly attempt: (HistogramChild | undefined)[] = new Array(UPSTREAM_OUTCOMES.length).fill(undefined);
  private connectErrors: CounterChild | undefined;
  private timeouts: CounterChild | undefined;
  private retries: CounterChild | undefined;
  private ejections: CounterChild | undefined;
  private breakerRejections: CounterChild | undefined;
  private retryBudgetExhausted: CounterChild | undefined;

  constructor(
    readonly service: string,
    private readonly families: UpstreamMetricFamilies,
  ) {}

  /** One attempt against one endpoint ended (response complete or failed). */
  attemptEnded(outcome: UpstreamOutcome, seconds: number): void {
    const i = UPSTREAM_OUTCOMES.indexOf(outcome);
    (this.attempt[i] ??= this.families.attemptDuration.labels(this.service, outcome)).observe(seconds);
    if (outcome === 'connect_failed') (this.connectErrors ??= this.families.connectErrors.labels(this.service)).inc();
    else if (outcome === 'timeout') (this.timeouts ??= this.families.timeouts.labels(this.service)).inc();
  }

  /** A request was sent again (to another endpoint) after a failed attempt. */
  retried(): void {
    (this.retries ??= this.families.retries.labels(this.service)).inc();
  }

  /** The outlier detector ejected an endpoint of this service. */
  ejected(): void {
    (this.ejections ??= this.families.ejections.labels(this.service)).inc();
  }

  /** A circuit breaker refused a request to this service. */
  breakerRejected(): void {
    (this.breakerRejections ??= this.families.breakerRejections.labels(this.service)).inc();
  }

  /** A retry was not made because the service's retry budget was spent. */
  retryRefusedByBudget(): void {
    (this.retryBudgetExhausted ??= this.families.retryBudgetExhausted.labels(this.service)).inc();
  }
}

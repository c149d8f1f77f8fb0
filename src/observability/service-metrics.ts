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
 * The attempt-duration histogram of an outcome is bound on the first attempt with that
 * outcome (an unused histogram exports no series either way): six histograms a service,
 * bound when the route table was built, were most of a service's metric memory and time at
 * start-up with thousands of registry services. The counters are bound at once and exported
 * at 0 (see below).
 */
export class ServiceMetrics {
  private readonly attempt: (HistogramChild | undefined)[] = new Array(UPSTREAM_OUTCOMES.length).fill(undefined);
  private readonly connectErrors: CounterChild;
  private readonly timeouts: CounterChild;
  private readonly retries: CounterChild;
  private readonly ejections: CounterChild;
  private readonly breakerRejections: CounterChild;
  private readonly retryBudgetExhausted: CounterChild;

  constructor(
    readonly service: string,
    private readonly families: UpstreamMetricFamilies,
  ) {
    this.connectErrors = families.connectErrors.labels(service);
    this.timeouts = families.timeouts.labels(service);
    this.retries = families.retries.labels(service);
    this.ejections = families.ejections.labels(service);
    this.breakerRejections = families.breakerRejections.labels(service);
    this.retryBudgetExhausted = families.retryBudgetExhausted.labels(service);
    // Export the counters at 0 from the start, so rate() and alerts see the series before the first
    // event; not for "" (the pseudo-service of unrouted requests, which never reach an upstream).
    if (service !== '') for (const c of [this.connectErrors, this.timeouts, this.retries, this.ejections, this.breakerRejections, this.retryBudgetExhausted]) c.touch();
  }

  /** One attempt against one endpoint ended (response complete or failed). */
  attemptEnded(outcome: UpstreamOutcome, seconds: number): void {
    const i = UPSTREAM_OUTCOMES.indexOf(outcome);
    (this.attempt[i] ??= this.families.attemptDuration.labels(this.service, outcome)).observe(seconds);
    if (outcome === 'connect_failed') this.connectErrors.inc();
    else if (outcome === 'timeout') this.timeouts.inc();
  }

  /** A request was sent again (to another endpoint) after a failed attempt. */
  retried(): void {
    this.retries.inc();
  }

  /** The outlier detector ejected an endpoint of this service. */
  ejected(): void {
    this.ejections.inc();
  }

  /** A circuit breaker refused a request to this service. */
  breakerRejected(): void {
    this.breakerRejections.inc();
  }

  /** A retry was not made because the service's retry budget was spent. */
  retryRefusedByBudget(): void {
    this.retryBudgetExhausted.inc();
  }
}

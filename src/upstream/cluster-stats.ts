/**
 * Counters of one cluster's resilience machinery, plain numbers a metrics exporter can read
 * (monotonic unless noted). Written on the paths that decide, read by nobody on the hot path.
 */
export class ClusterStats {
  /** Times the cluster entered panic mode. */
  panicEntered = 0;
  /** Picks made while in panic mode. */
  panicPicks = 0;
  /** Retries started. */
  retries = 0;
  /** Retries refused because the retry budget was spent. */
  retryBudgetExhausted = 0;
  /** Requests refused by the circuit breaker, by limit. */
  breakerRequests = 0;
  breakerPending = 0;
  breakerConnections = 0;
  /** Outlier ejections done, and those skipped because of maxEjectionPercent. */
  ejections = 0;
  ejectionsSkipped = 0;
  /** Active health check probes that failed. */
  healthCheckFailures = 0;
}

/** One endpoint's passive outlier-detection state. Written only by the cluster's OutlierDetector. */
export class OutlierRecord {
  /** Failed tries (5xx, connect failure, reset, timeout) since the endpoint was created. */
  failures = 0;
  /** Failures in a row since the last success. */
  consecutiveFailures = 0;
  /** Ejections so far, decayed while the endpoint stays in (sets the next ejection time). */
  ejections = 0;
  /** When the endpoint last came back from an ejection (ms since epoch; 0 = never ejected). */
  returnedAt = 0;
  /** Ends the current ejection; null when the endpoint is not ejected. */
  timer: NodeJS.Timeout | null = null;

  get ejected(): boolean {
    return this.timer !== null;
  }

  cancel(): void {
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
  }
}

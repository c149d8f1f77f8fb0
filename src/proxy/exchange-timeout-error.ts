/** Raised into undici when a try or the whole exchange runs out of time. Classified as upstream_timeout. */
export class ExchangeTimeoutError extends Error {
  readonly code = 'SWITCHYARD_TIMEOUT';

  constructor(
    readonly scope: 'try' | 'total',
    limitMs: number,
  ) {
    super(scope === 'try' ? `the upstream did not respond within the per-try timeout (${limitMs}ms)` : `the request did not complete within the total timeout (${limitMs}ms)`);
  }
}

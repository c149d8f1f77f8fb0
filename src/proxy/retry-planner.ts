import { GRPC_RETRY_BITS, type RetryPolicy } from '../upstream/retry-policy.js';

/** What the retry decision looks at, gathered by the exchange when a try fails. */
export interface RetryFacts {
  readonly policy: RetryPolicy;
  /** RetryOn bits the failure meets. */
  readonly condition: number;
  /** Tries after the first made so far. */
  readonly retries: number;
  /** The total timeout passed: nothing more is tried. */
  readonly totalTimedOut: boolean;
  /** The client already has the response head: a retry could not replace it. */
  readonly responseStarted: boolean;
  /** The try reached the upstream (it had a connection and wrote the request). */
  readonly reachedUpstream: boolean;
  /** The request may be sent again after reaching the upstream: idempotent, with no body or a buffered one. */
  readonly replayable: boolean;
  /** A streamed request body was handed to the try: it cannot be sent again. */
  readonly bodySpent: boolean;
  /** For a gRPC status the route retries: the whole body can be sent again (none, or copied whole). */
  readonly grpcBodyWhole: boolean;
}

/**
 * Whether a failed try may be retried (Envoy's RetryState, as a pure function): the route's
 * policy names the failure, retries are left, there is time, nothing reached the client, and
 * sending it again is safe — it never reached the upstream, or the method is idempotent and
 * the body is replayable. A gRPC status the route lists is the route's word that the call may
 * run twice, so only the body matters there. Where it goes and whether the breaker and the
 * retry budget admit it is the exchange's part (they hold state).
 */
export function mayRetry(f: RetryFacts): boolean {
  if ((f.policy.on & f.condition) === 0 || f.retries >= f.policy.maxRetries || f.totalTimedOut || f.responseStarted) return false;
  if ((f.condition & GRPC_RETRY_BITS) !== 0) return f.grpcBodyWhole;
  return !f.bodySpent && (!f.reachedUpstream || f.replayable);
}

import type { GrpcRetryStatus, RetryCondition, RetryPolicyConfig } from '../config/schema.js';

/** Retry conditions as bits, so the forwarder tests a condition with one `&`. */
export const RetryOn = {
  /** The try never reached the upstream: connection refused, connect timeout, no connection in time. */
  connectFailure: 1,
  /** The connection failed after the request was sent (reset, closed, invalid response). */
  reset: 2,
  /** No response headers in time (per-try or headers timeout). */
  timeout: 4,
  /** The upstream answered 502, 503 or 504. */
  gatewayError: 8,
  /** The upstream answered any 5xx. */
  serverError: 16,
  /** gRPC statuses in a trailers-only response (retries.grpcRetryOn). */
  grpcCancelled: 32,
  grpcDeadlineExceeded: 64,
  grpcInternal: 128,
  grpcResourceExhausted: 256,
  grpcUnavailable: 512,
} as const;

/** All gRPC status bits. */
export const GRPC_RETRY_BITS = RetryOn.grpcCancelled | RetryOn.grpcDeadlineExceeded | RetryOn.grpcInternal | RetryOn.grpcResourceExhausted | RetryOn.grpcUnavailable;

const GRPC_STATUS_BITS: Record<GrpcRetryStatus, number> = {
  cancelled: RetryOn.grpcCancelled,
  'deadline-exceeded': RetryOn.grpcDeadlineExceeded,
  internal: RetryOn.grpcInternal,
  'resource-exhausted': RetryOn.grpcResourceExhausted,
  unavailable: RetryOn.grpcUnavailable,
};

/** The retry condition a gRPC status code meets (0 for statuses never retried). */
export function grpcStatusCondition(status: number): number {
  switch (status) {
    case 1:
      return RetryOn.grpcCancelled;
    case 4:
      return RetryOn.grpcDeadlineExceeded;
    case 8:
      return RetryOn.grpcResourceExhausted;
    case 13:
      return RetryOn.grpcInternal;
    case 14:
      return RetryOn.grpcUnavailable;
    default:
      return 0;
  }
}

const CONDITION_BITS: Record<RetryCondition, number> = {
  'connect-failure': RetryOn.connectFailure,
  reset: RetryOn.reset,
  timeout: RetryOn.timeout,
  'gateway-error': RetryOn.gatewayError,
  '5xx': RetryOn.serverError,
};

/** A route's retry policy, compiled at route-table build time. */
export interface RetryPolicy {
  readonly maxRetries: number;
  /** RetryOn bits. */
  readonly on: number;
  /** Request bodies up to this many bytes are buffered so that they can be replayed (0 = never). */
  readonly bufferBody: number;
}

export function compileRetryPolicy(config: RetryPolicyConfig): RetryPolicy {
  let on = 0;
  for (const c of config.retryOn) on |= CONDITION_BITS[c];
  for (const c of config.grpcRetryOn) on |= GRPC_STATUS_BITS[c];
  return { maxRetries: config.maxRetries, on, bufferBody: config.bufferBody };
}

/** The retry condition an upstream response status meets (0 = not an error). */
export function statusCondition(status: number): number {
  if (status < 500) return 0;
  return status >= 502 && status <= 504 ? RetryOn.gatewayError | RetryOn.serverError : RetryOn.serverError;
}

/**
 * Methods that may be sent twice without changing the outcome (RFC 9110 §9.2.2). A request
 * that reached the upstream is retried only with one of these, and only if its body (if any)
 * can be sent again.
 */
export function isIdempotent(method: string | undefined): boolean {
  switch (method) {
    case 'GET':
    case 'HEAD':
    case 'OPTIONS':
    case 'PUT':
    case 'DELETE':
    case 'TRACE':
      return true;
    default:
      return false;
  }
}

/**
 * Bounded label values for request metrics. Methods outside the standard set share "OTHER",
 * statuses are reduced to their class, so a client cannot grow the number of series.
 */
export const METHOD_LABELS = ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'CONNECT', 'TRACE', 'OTHER'] as const;
export const STATUS_CLASS_LABELS = ['1xx', '2xx', '3xx', '4xx', '5xx'] as const;

/** Index into METHOD_LABELS; a switch on the string, no allocation. */
export function methodLabelIndex(method: string | undefined): number {
  switch (method) {
    case 'GET':
      return 0;
    case 'HEAD':
      return 1;
    case 'POST':
      return 2;
    case 'PUT':
      return 3;
    case 'DELETE':
      return 4;
    case 'PATCH':
      return 5;
    case 'OPTIONS':
      return 6;
    case 'CONNECT':
      return 7;
    case 'TRACE':
      return 8;
    default:
      return 9;
  }
}

/** Index into STATUS_CLASS_LABELS; anything outside 100–599 counts as 5xx. */
export function statusClassIndex(status: number): number {
  const c = (status / 100) | 0;
  return c >= 1 && c <= 5 ? c - 1 : 4;
}

/** How one upstream attempt ended. */
export const UPSTREAM_OUTCOMES = ['response', 'connect_failed', 'timeout', 'reset', 'bad_response', 'cancelled'] as const;
export type UpstreamOutcome = (typeof UPSTREAM_OUTCOMES)[number];

/** gRPC status code names by code (grpc/doc/statuscodes.md): the grpc_status label. */
export const GRPC_STATUS_NAMES = [
  'OK',
  'CANCELLED',
  'UNKNOWN',
  'INVALID_ARGUMENT',
  'DEADLINE_EXCEEDED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'PERMISSION_DENIED',
  'RESOURCE_EXHAUSTED',
  'FAILED_PRECONDITION',
  'ABORTED',
  'OUT_OF_RANGE',
  'UNIMPLEMENTED',
  'INTERNAL',
  'UNAVAILABLE',
  'DATA_LOSS',
  'UNAUTHENTICATED',
] as const;

import { MAX_DURATION_MS } from '../config/duration.js';

/** Milliseconds per unit of a grpc-timeout value (PROTOCOL-HTTP2.md: "Timeout"). */
const UNIT_MS: Record<string, number> = { H: 3_600_000, M: 60_000, S: 1_000, m: 1, u: 0.001, n: 0.000001 };

/**
 * The deadline a gRPC client set with `grpc-timeout` (1 to 8 digits and a unit: H, M, S, m,
 * u, n), in whole milliseconds rounded up (a deadline under 1 ms is 1 ms, not "none"); 0 when
 * the header is absent, malformed or longer than a timer can wait (then the route's own
 * timeouts apply).
 */
export function grpcTimeoutMs(value: string | string[] | undefined): number {
  if (typeof value !== 'string') return 0;
  const n = value.length;
  if (n < 2 || n > 9) return 0;
  const unit = UNIT_MS[value[n - 1]!];
  if (unit === undefined) return 0;
  let amount = 0;
  for (let i = 0; i < n - 1; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return 0;
    amount = amount * 10 + (c - 48);
  }
  const ms = Math.ceil(amount * unit);
  // Longer than a timer can wait (about 24.8 days; Node would fire it at once): no deadline of its own.
  return ms > MAX_DURATION_MS ? 0 : ms;
}

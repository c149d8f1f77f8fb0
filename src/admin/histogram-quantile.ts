/**
 * The q-quantile (0..1) of a Prometheus-style histogram, interpolated linearly inside the
 * bucket that holds it, as PromQL's histogram_quantile() does. `counts[i]` is the number of
 * observations in bucket i alone (not cumulative); `bounds` are the finite upper bounds and
 * the last count is the +Inf bucket. A quantile that falls in +Inf is reported as the highest
 * finite bound. Null when there are no observations.
 */
export function histogramQuantile(q: number, bounds: readonly number[], counts: readonly number[]): number | null {
  let total = 0;
  for (const c of counts) total += c;
  if (total <= 0) return null;
  const rank = q * total;
  let below = 0;
  for (let i = 0; i < counts.length; i++) {
    const c = counts[i]!;
    if (below + c >= rank && c > 0) {
      if (i >= bounds.length) return bounds[bounds.length - 1]!;
      const lower = i === 0 ? 0 : bounds[i - 1]!;
      const upper = bounds[i]!;
      return lower + (upper - lower) * ((rank - below) / c);
    }
    below += c;
  }
  return bounds[bounds.length - 1]!;
}

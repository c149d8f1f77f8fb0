import autocannon, { type AutocannonInstance, type AutocannonRequest } from 'autocannon';

/** What one load run sends. `requests` cycle per connection (autocannon semantics). */
export interface LoadShape {
  requests: AutocannonRequest[];
  connections: number;
}

export interface LoadResult {
  /** Completed 2xx responses per second over the measured window. */
  rps: number;
  /** Response-time percentiles in ms, from every response (sub-millisecond resolution). */
  p50: number;
  p99: number;
  errors: number;
  non2xx: number;
  requests: number;
}

/**
 * Response times collected from autocannon's per-response event. autocannon's own histogram
 * rounds to whole milliseconds, too coarse for a proxy's added latency.
 */
class LatencySamples {
  private values = new Float64Array(1 << 16);
  private length = 0;

  readonly add = (_client: unknown, _status: number, _bytes: number, ms: number): void => {
    if (this.length === this.values.length) {
      const grown = new Float64Array(this.values.length * 2);
      grown.set(this.values);
      this.values = grown;
    }
    this.values[this.length++] = ms;
  };

  percentile(p: number): number {
    if (this.length === 0) return NaN;
    const sorted = this.values.subarray(0, this.length).sort();
    return sorted[Math.min(this.length - 1, Math.floor((p / 100) * this.length))]!;
  }
}

function run(instance: AutocannonInstance, samples: LatencySamples | null): Promise<{ requests: number; errors: number; non2xx: number; seconds: number }> {
  if (samples) instance.on('response', samples.add);
  return new Promise((resolve, reject) => {
    instance.then((r) => resolve({ requests: r['2xx'], errors: r.errors + r.timeouts, non2xx: r.non2xx, seconds: r.duration }), reject);
  });
}

/** Closed loop: `connections` connections each send the next request as soon as a response ends. */
export async function saturate(url: string, shape: LoadShape, seconds: number, warmupSeconds: number): Promise<LoadResult> {
  if (warmupSeconds > 0) await run(autocannon({ url, connections: shape.connections, duration: warmupSeconds, requests: shape.requests }), null);
  const samples = new LatencySamples();
  const r = await run(autocannon({ url, connections: shape.connections, duration: seconds, requests: shape.requests }), samples);
  return { rps: r.requests / r.seconds, p50: samples.percentile(50), p99: samples.percentile(99), errors: r.errors, non2xx: r.non2xx, requests: r.requests };
}

/**
 * Fixed rate: `rate` requests/s in total. autocannon rate-limits each connection with a
 * per-second quota sent back to back, so a single instance fires every connection at the start
 * of each second. To spread the load over the second, `streams` single-connection instances
 * are started at even offsets, each with rate/streams requests per second.
 */
export async function fixedRate(url: string, shape: LoadShape, rate: number, seconds: number, warmupSeconds: number, streams = 20): Promise<LoadResult> {
  if (warmupSeconds > 0) await run(autocannon({ url, connections: shape.connections, duration: warmupSeconds, requests: shape.requests }), null);
  const samples = new LatencySamples();
  const perStream = Math.max(1, Math.round(rate / streams));
  const runs: Promise<{ requests: number; errors: number; non2xx: number; seconds: number }>[] = [];
  for (let i = 0; i < streams; i++) {
    if (i > 0) await new Promise((r) => setTimeout(r, 1000 / streams));
    runs.push(run(autocannon({ url, connections: 1, connectionRate: perStream, duration: seconds, requests: shape.requests }), samples));
  }
  const results = await Promise.all(runs);
  let requests = 0;
  let errors = 0;
  let non2xx = 0;
  let longest = 0;
  for (const r of results) {
    requests += r.requests;
    errors += r.errors;
    non2xx += r.non2xx;
    longest = Math.max(longest, r.seconds);
  }
  return { rps: requests / longest, p50: samples.percentile(50), p99: samples.percentile(99), errors, non2xx, requests };
}

import type { Logger } from '../observability/logger.js';
import type { RouteTotals } from '../observability/metrics.js';
import { histogramQuantile } from './histogram-quantile.js';
import { RingBuffer } from './ring-buffer.js';

/** One sampling interval of one route. */
export interface TrafficPoint {
  /** End of the interval, ms since epoch. */
  at: number;
  /** Requests that ended in the interval, and per second. */
  requests: number;
  rps: number;
  /** Share of the interval's requests answered 5xx (0..1), null without requests. */
  errorRate: number | null;
  /** Latency quantiles over the interval in milliseconds (from histogram buckets), null without requests. */
  p50: number | null;
  p99: number | null;
}

/** One sampling interval of one route as counted: what TrafficPoint is computed from, and what cluster workers' histories are merged by. */
export interface TrafficSample {
  at: number;
  /** Length of the interval in seconds. */
  seconds: number;
  requests: number;
  errors: number;
  /** Requests per latency bucket in this interval alone (bounds: RawTrafficView.bounds, then +Inf). */
  counts: number[];
}

export interface RawTrafficView {
  now: number;
  intervalMs: number;
  windowMs: number;
  /** Latency bucket upper bounds in seconds. */
  bounds: readonly number[];
  routes: { route: string; samples: TrafficSample[] }[];
}

export interface RouteTraffic {
  route: string;
  /** Oldest first. */
  points: TrafficPoint[];
}

export interface TrafficView {
  /** Processes whose histories are merged here (cluster workers), 1 for a single process. */
  processes: number;
  /** The server's clock when answering (ms since epoch): the right edge of the charts. */
  now: number;
  intervalMs: number;
  /** How far back the history reaches when full. */
  windowMs: number;
  routes: RouteTraffic[];
}

export interface TrafficHistoryOptions {
  /** Sampling period. */
  intervalMs: number;
  /** Points kept per route (the window is intervalMs × points). */
  points: number;
}

export const DEFAULT_TRAFFIC_HISTORY: TrafficHistoryOptions = { intervalMs: 2_000, points: 150 };

/**
 * Recent traffic per route for the status page's charts. A timer in the admin side reads the
 * cumulative totals the request path keeps anyway (the Prometheus request duration histogram,
 * SwitchyardMetrics.routeTotals) every `intervalMs`, and stores the difference from the
 * previous reading as one sample in a ring buffer of `points` per route. The request path does no extra work;
 * memory is bounded by routes × points. Routes that leave the route table lose their history.
 */
export class TrafficHistory {
  private readonly series = new Map<string, RingBuffer<TrafficSample>>();
  private previous: Map<string, RouteTotals> | null = null;
  private previousAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private sampling = false;

  constructor(
    private readonly totals: () => Map<string, RouteTotals> | Promise<Map<string, RouteTotals>>,
    private readonly routeNames: () => Iterable<string>,
    private readonly bounds: readonly number[],
    private readonly logger: Logger,
    readonly options: TrafficHistoryOptions = DEFAULT_TRAFFIC_HISTORY,
  ) {}

  start(): void {
    if (this.timer !== null) return;
    void this.sample();
    this.timer = setInterval(() => void this.sample(), this.options.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  /** Takes one reading (the first only sets the baseline). Never throws: a failed reading is logged and skipped. */
  async sample(now = Date.now()): Promise<void> {
    if (this.sampling) return;
    this.sampling = true;
    try {
      const current = await this.totals();
      const previous = this.previous;
      const seconds = (now - this.previousAt) / 1000;
      const names = new Set(this.routeNames());
      for (const name of this.series.keys()) if (!names.has(name)) this.series.delete(name);
      if (previous !== null && seconds > 0) {
        for (const name of names) {
          let ring = this.series.get(name);
          if (ring === undefined) {
            ring = new RingBuffer<TrafficSample>(this.options.points);
            this.series.set(name, ring);
          }
          ring.push(intervalSample(now, seconds, current.get(name), previous.get(name)));
        }
      }
      this.previous = current;
      this.previousAt = now;
    } catch (err) {
      this.logger.error({ err }, 'cannot read the request counters for the status page history; this sample is skipped');
    } finally {
      this.sampling = false;
    }
  }

  view(): TrafficView {
    const routes: RouteTraffic[] = [];
    for (const [route, ring] of this.series) routes.push({ route, points: ring.toArray().map((x) => trafficPoint(x, this.bounds)) });
    return { processes: 1, now: Date.now(), intervalMs: this.options.intervalMs, windowMs: this.options.intervalMs * this.options.points, routes };
  }

  /** The samples as counted, for merging the histories of several processes (cluster mode). */
  rawView(): RawTrafficView {
    const routes: RawTrafficView['routes'] = [];
    for (const [route, ring] of this.series) routes.push({ route, samples: ring.toArray() });
    return { now: Date.now(), intervalMs: this.options.intervalMs, windowMs: this.options.intervalMs * this.options.points, bounds: this.bounds, routes };
  }
}

/** The difference between two readings of one route's totals. */
function intervalSample(at: number, seconds: number, now: RouteTotals | undefined, before: RouteTotals | undefined): TrafficSample {
  const requests = Math.max(0, (now?.requests ?? 0) - (before?.requests ?? 0));
  // An idle interval keeps no bucket counts (most routes are idle most of the time: bounded memory stays small).
  if (requests === 0) return { at, seconds, requests: 0, errors: 0, counts: [] };
  const errors = Math.max(0, (now?.errors ?? 0) - (before?.errors ?? 0));
  // Cumulative bucket counts → this interval's count per bucket.
  const counts: number[] = [];
  let lastCumulative = 0;
  const buckets = now?.buckets ?? [];
  for (let i = 0; i < buckets.length; i++) {
    const cumulative = Math.max(0, buckets[i]! - (before?.buckets[i] ?? 0));
    counts.push(Math.max(0, cumulative - lastCumulative));
    lastCumulative = cumulative;
  }
  return { at, seconds, requests, errors, counts };
}

/** Rate, error share and latency quantiles (ms) of one sample. */
export function trafficPoint(x: TrafficSample, bounds: readonly number[]): TrafficPoint {
  if (x.requests === 0) return { at: x.at, requests: 0, rps: 0, errorRate: null, p50: null, p99: null };
  const ms = (q: number) => {
    const s = histogramQuantile(q, bounds, x.counts);
    return s === null ? null : s * 1000;
  };
  return { at: x.at, requests: x.requests, rps: x.requests / x.seconds, errorRate: x.errors / x.requests, p50: ms(0.5), p99: ms(0.99) };
}

/**
 * The traffic of several processes (cluster workers) as one: for each route, the newest
 * samples of every process are added up, then the next newest, and so on (each process samples
 * on its own timer, so samples that are merged lie up to one interval apart). Counts and
 * latency buckets are summed, so rates, error shares and quantiles are exact for the merged
 * samples.
 */
export function mergeTraffic(views: readonly RawTrafficView[]): TrafficView {
  const first = views[0]!;
  const byRoute = new Map<string, TrafficSample[][]>();
  for (const v of views) {
    for (const r of v.routes) {
      let list = byRoute.get(r.route);
      if (list === undefined) byRoute.set(r.route, (list = []));
      list.push(r.samples);
    }
  }
  const routes: RouteTraffic[] = [];
  for (const [route, lists] of byRoute) {
    const length = Math.max(...lists.map((l) => l.length));
    const merged: TrafficSample[] = [];
    for (let back = length; back >= 1; back--) {
      const parts = lists.map((l) => l[l.length - back]).filter((x): x is TrafficSample => x !== undefined);
      const counts = new Array<number>(first.bounds.length + 1).fill(0);
      let requests = 0;
      let errors = 0;
      let rate = 0;
      for (const p of parts) {
        requests += p.requests;
        errors += p.errors;
        rate += p.requests / p.seconds;
        p.counts.forEach((c, i) => (counts[i] = (counts[i] ?? 0) + c));
      }
      // Seconds such that requests / seconds is the summed rate of the processes.
      const seconds = requests > 0 ? requests / rate : parts[0]!.seconds;
      merged.push({ at: Math.max(...parts.map((p) => p.at)), seconds, requests, errors, counts });
    }
    routes.push({ route, points: merged.map((x) => trafficPoint(x, first.bounds)) });
  }
  return { processes: views.length, now: Math.max(...views.map((v) => v.now)), intervalMs: first.intervalMs, windowMs: first.windowMs, routes };
}

import type { Logger } from '../observability/logger.js';
import type { RouteTotals } from '../observability/metrics.js';
import { histogramQuantile } from './histogram-quantile.js';
import { RingBuffer } from './ring-buffer.js';

/** One sampling interval of one route. */
export interface TrafficPoint {
  /** End of the interval, ms since epoch. */
  at: number;
  /** Requests per second over the interval. */
  rps: number;
  /** Share of the interval's requests answered 5xx (0..1), null without requests. */
  errorRate: number | null;
  /** Latency quantiles over the interval in milliseconds (from histogram buckets), null without requests. */
  p50: number | null;
  p99: number | null;
}

export interface RouteTraffic {
  route: string;
  /** Oldest first. */
  points: TrafficPoint[];
}

export interface TrafficView {
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
 * cumulative counters the request path keeps anyway (the Prometheus request counter and
 * duration histogram) every `intervalMs`, and stores the difference from the previous reading
 * as one point in a ring buffer of `points` per route. The request path does no extra work;
 * memory is bounded by routes × points. Routes that leave the route table lose their history.
 */
export class TrafficHistory {
  private readonly series = new Map<string, RingBuffer<TrafficPoint>>();
  private previous: Map<string, RouteTotals> | null = null;
  private previousAt = 0;
  private timer: NodeJS.Timeout | null = null;
  private sampling = false;

  constructor(
    private readonly totals: () => Promise<Map<string, RouteTotals>>,
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
            ring = new RingBuffer<TrafficPoint>(this.options.points);
            this.series.set(name, ring);
          }
          ring.push(this.point(now, seconds, current.get(name), previous.get(name)));
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
    for (const [route, ring] of this.series) routes.push({ route, points: ring.toArray() });
    return { now: Date.now(), intervalMs: this.options.intervalMs, windowMs: this.options.intervalMs * this.options.points, routes };
  }

  private point(at: number, seconds: number, now: RouteTotals | undefined, before: RouteTotals | undefined): TrafficPoint {
    const requests = Math.max(0, (now?.requests ?? 0) - (before?.requests ?? 0));
    if (requests === 0 || now === undefined) return { at, rps: 0, errorRate: null, p50: null, p99: null };
    const errors = Math.max(0, now.errors - (before?.errors ?? 0));
    // Cumulative bucket counts → this interval's count per bucket.
    const counts: number[] = [];
    let lastCumulative = 0;
    for (let i = 0; i < now.buckets.length; i++) {
      const cumulative = Math.max(0, now.buckets[i]! - (before?.buckets[i] ?? 0));
      counts.push(Math.max(0, cumulative - lastCumulative));
      lastCumulative = cumulative;
    }
    const ms = (q: number) => {
      const s = histogramQuantile(q, this.bounds, counts);
      return s === null ? null : s * 1000;
    };
    return { at, rps: requests / seconds, errorRate: errors / requests, p50: ms(0.5), p99: ms(0.99) };
  }
}

import { describe, expect, it } from 'vitest';
import { histogramQuantile } from '../../../src/admin/histogram-quantile.js';
import { RingBuffer } from '../../../src/admin/ring-buffer.js';
import { mergeTraffic, TrafficHistory, type RawTrafficView } from '../../../src/admin/traffic-history.js';
import { createLogger } from '../../../src/observability/logger.js';
import type { RouteTotals } from '../../../src/observability/metrics.js';

const BOUNDS = [0.01, 0.1, 1];
const silent = createLogger({ level: 'silent' });

describe('RingBuffer', () => {
  it('keeps the newest items, oldest first, within its capacity', () => {
    const ring = new RingBuffer<number>(3);
    expect(ring.toArray()).toEqual([]);
    for (let i = 1; i <= 5; i++) ring.push(i);
    expect(ring.toArray()).toEqual([3, 4, 5]);
    expect(ring.length).toBe(3);
  });

  it('refuses a capacity below 1', () => {
    expect(() => new RingBuffer(0)).toThrow(/capacity of at least 1/);
    expect(() => new RingBuffer(1.5)).toThrow(/capacity of at least 1/);
  });
});

describe('histogramQuantile', () => {
  it('interpolates inside the bucket holding the quantile, like PromQL', () => {
    // 10 observations ≤ 10 ms, 10 in (10 ms, 100 ms].
    expect(histogramQuantile(0.5, BOUNDS, [10, 10, 0, 0])).toBeCloseTo(0.01);
    expect(histogramQuantile(0.75, BOUNDS, [10, 10, 0, 0])).toBeCloseTo(0.055);
    expect(histogramQuantile(0.25, BOUNDS, [10, 10, 0, 0])).toBeCloseTo(0.005);
  });

  it('reports the +Inf bucket as the highest finite bound, and null without observations', () => {
    expect(histogramQuantile(0.99, BOUNDS, [0, 0, 0, 5])).toBe(1);
    expect(histogramQuantile(0.5, BOUNDS, [0, 0, 0, 0])).toBeNull();
  });
});

describe('TrafficHistory', () => {
  /** Totals of route "web" that the test advances between samples (cumulative, as Prometheus keeps them). */
  function source() {
    const totals: RouteTotals = { requests: 0, errors: 0, buckets: [0, 0, 0, 0] };
    let routes = ['web', 'idle'];
    return {
      add(requests: number, errors: number, perBucket: number[]) {
        totals.requests += requests;
        totals.errors += errors;
        let cumulative = 0;
        perBucket.forEach((c, i) => {
          cumulative += c;
          totals.buckets[i]! += cumulative;
        });
      },
      setRoutes(names: string[]) {
        routes = names;
      },
      history(points = 3) {
        return new TrafficHistory(async () => new Map([['web', structuredClone(totals)]]), () => routes, BOUNDS, silent, { intervalMs: 1000, points });
      },
    };
  }

  it('turns differences between readings into rate, 5xx share and latency quantiles per interval', async () => {
    const s = source();
    const h = s.history();
    await h.sample(10_000); // baseline: no point yet
    expect(h.view().routes).toEqual([]);
    s.add(20, 5, [10, 10, 0, 0]);
    await h.sample(12_000);
    const web = h.view().routes.find((r) => r.route === 'web')!.points;
    expect(web).toHaveLength(1);
    expect(web[0]).toMatchObject({ at: 12_000, requests: 20, rps: 10, errorRate: 0.25 });
    expect(web[0]!.p50).toBeCloseTo(10);
    expect(web[0]!.p99).toBeCloseTo(98.2);
    // A route without requests in the interval gets a 0 rate and no latency.
    expect(h.view().routes.find((r) => r.route === 'idle')!.points).toEqual([{ at: 12_000, requests: 0, rps: 0, errorRate: null, p50: null, p99: null }]);
  });

  it('keeps at most `points` per route and forgets routes that left the table', async () => {
    const s = source();
    const h = s.history(3);
    for (let i = 0; i <= 5; i++) {
      s.add(1, 0, [1, 0, 0, 0]);
      await h.sample(i * 1000);
    }
    expect(h.view().routes.find((r) => r.route === 'web')!.points.map((p) => p.at)).toEqual([3000, 4000, 5000]);
    s.setRoutes(['web']);
    await h.sample(6000);
    expect(h.view().routes.map((r) => r.route)).toEqual(['web']);
  });

  it('skips and logs a reading that fails', async () => {
    const lines: string[] = [];
    const logger = createLogger({ level: 'error', destination: { write: (l: string) => lines.push(l) } as never });
    let fail = false;
    const h = new TrafficHistory(
      async () => {
        if (fail) throw new Error('boom');
        return new Map();
      },
      () => ['web'],
      BOUNDS,
      logger,
      { intervalMs: 1000, points: 3 },
    );
    await h.sample(0);
    fail = true;
    await expect(h.sample(1000)).resolves.toBeUndefined();
    expect(h.view().routes).toEqual([]);
    expect(lines.join('')).toContain('this sample is skipped');
  });
});

describe('mergeTraffic', () => {
  const view = (samples: RawTrafficView['routes']): RawTrafficView => ({ now: 5000, intervalMs: 2000, windowMs: 300_000, bounds: BOUNDS, routes: samples });

  it('adds up the workers newest-first: rates sum, shares and quantiles come from the summed counts', () => {
    const a = view([{ route: 'web', samples: [{ at: 1000, seconds: 2, requests: 4, errors: 0, counts: [4, 0, 0, 0] }, { at: 3000, seconds: 2, requests: 10, errors: 1, counts: [10, 0, 0, 0] }] }]);
    const b = view([{ route: 'web', samples: [{ at: 3500, seconds: 2, requests: 30, errors: 9, counts: [0, 30, 0, 0] }] }]);
    const merged = mergeTraffic([a, b]);
    const points = merged.routes[0]!.points;
    expect(points).toHaveLength(2);
    expect(points[0]).toMatchObject({ at: 1000, rps: 2, errorRate: 0 });
    expect(points[1]).toMatchObject({ at: 3500, requests: 40, rps: 20, errorRate: 0.25 });
    // 10 fast and 30 slower requests: the median falls in the second bucket.
    expect(points[1]!.p50).toBeGreaterThan(10);
    expect(points[1]!.p50).toBeLessThan(100);
    expect(merged).toMatchObject({ processes: 2, now: 5000, intervalMs: 2000, windowMs: 300_000 });
  });
});

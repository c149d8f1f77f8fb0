import { describe, expect, it } from 'vitest';
import { LATENCY_BUCKETS, SwitchyardMetrics } from '../../../src/observability/metrics.js';
import { parsePrometheusText, samples } from '../../support/prometheus-text.js';

describe('SwitchyardMetrics.routeTotals', () => {
  it('matches what /metrics exports: request count, 5xx count and cumulative latency buckets per route', async () => {
    const metrics = new SwitchyardMetrics();
    const a = metrics.route('a', 'svc');
    const a2 = metrics.route('a', 'other-svc'); // the same route name over two services is summed
    const b = metrics.route('b', 'svc');
    // method 0 = GET, 2 = POST; status class 1 = 2xx, 4 = 5xx
    for (const [m, method, status, seconds] of [
      [a, 0, 1, 0.0005],
      [a, 0, 1, 0.02],
      [a, 2, 4, 0.3],
      [a2, 0, 1, 40],
      [b, 0, 4, 0.004],
    ] as const) {
      m.requestEnded(method, status, seconds, 0, 0);
    }
    const totals = await metrics.routeTotals();
    const text = parsePrometheusText((await metrics.scrape()).body);
    for (const route of ['a', 'b']) {
      const t = totals.get(route)!;
      const sum = (name: string, labels: Record<string, string> = {}) => samples(text, name, { route, ...labels }).reduce((x, s) => x + s.value, 0);
      expect(t.requests).toBe(sum('switchyard_requests_total'));
      expect(t.errors).toBe(sum('switchyard_requests_total', { status_class: '5xx' }));
      expect(t.buckets).toEqual([...LATENCY_BUCKETS.map(String), '+Inf'].map((le) => sum('switchyard_request_duration_seconds_bucket', { le })));
    }
    expect(totals.get('a')).toMatchObject({ requests: 4, errors: 1 });
    expect(totals.get('a')!.buckets.at(-1)).toBe(4);
    expect(totals.get('a')!.buckets.at(-2)).toBe(3); // 40 s is above the largest bound
    expect(totals.has('c')).toBe(false);
  });
});

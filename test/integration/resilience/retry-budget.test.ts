import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FaultUpstream } from '../../support/fault-upstream.js';
import { fetchText } from '../../support/http-client.js';
import { parsePrometheusText, value } from '../../support/prometheus-text.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';

const CONCURRENT = 20;
const MAX_RETRIES = 3;

/**
 * Every instance fails with 503. The first tries of a burst are held at the upstreams until
 * all have arrived, then failed at once, so they overlap whatever the machine's speed.
 */
describe('retry budget when every instance fails', () => {
  let ups: FaultUpstream[];
  let proxy: ProxyHarness | null = null;

  beforeEach(async () => {
    ups = await Promise.all(['a', 'b', 'c'].map((n) => FaultUpstream.start(n)));
    for (const u of ups) u.setMode({ kind: 'hang' });
  });
  afterEach(async () => {
    await proxy?.close();
    await Promise.all(ups.map((u) => u.close()));
  });

  const attempts = () => ups.reduce((n, u) => n + u.attempts, 0);

  async function budgetExhaustedMetric(): Promise<number | undefined> {
    const text = (await fetchText(`http://127.0.0.1:${proxy!.app.adminAddress!.port}/metrics`)).body;
    return value(parsePrometheusText(text), 'switchyard_upstream_retry_budget_exhausted_total', { service: 'api' });
  }

  async function burst(retryBudget: Record<string, number>): Promise<{ attempts: number; statuses: number[] }> {
    proxy = await startProxy({
      services: { api: ups.map((u) => ({ port: u.port })) },
      config: {
        routes: [{ name: 'api', match: { path: '/' }, service: 'api', retries: { maxRetries: MAX_RETRIES, retryOn: ['gateway-error'] } }],
        services: { api: { retryBudget, outlierDetection: { enabled: false } } },
      },
    });
    const pending = Promise.all(Array.from({ length: CONCURRENT }, (_, i) => fetchText(`${proxy!.url}/b/${i}`)));
    await eventually(() => attempts() === CONCURRENT, 5_000, 'every first try at the upstreams');
    for (const u of ups) u.setMode({ kind: 'status', status: 503, delayMs: 50 });
    for (const u of ups) u.release(503);
    const rs = await pending;
    return { attempts: attempts(), statuses: rs.map((r) => r.status) };
  }

  it('without a budget, every request makes 1 + maxRetries attempts', async () => {
    const r = await burst({ percent: 100, minConcurrency: CONCURRENT });
    expect(r.statuses).toEqual(Array(CONCURRENT).fill(503));
    expect(r.attempts).toBe(CONCURRENT * (1 + MAX_RETRIES));
    expect(await budgetExhaustedMetric()).toBe(0);
  });

  it('with a 20% budget, retries stay within the budget and the load does not multiply', async () => {
    const r = await burst({ percent: 20, minConcurrency: 2 });
    expect(r.statuses).toEqual(Array(CONCURRENT).fill(503));
    // First wave: 20% of 20 requests in flight = 4 retries. Then at most 4 requests are in
    // flight, so the floor of 2 applies: 2 retry chains go on to maxRetries.
    expect(r.attempts).toBeGreaterThan(CONCURRENT);
    expect(r.attempts).toBeLessThanOrEqual(CONCURRENT + 4 + 2 * (MAX_RETRIES - 1));
    const refused = proxy!.app.upstreams.get('api').stats.retryBudgetExhausted;
    expect(refused).toBeGreaterThan(0);
    expect(await budgetExhaustedMetric()).toBe(refused);
  });
});

import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FaultUpstream } from '../../support/fault-upstream.js';
import { fetchText } from '../../support/http-client.js';
import { startProxy, type ProxyHarness } from '../../support/proxy-harness.js';

const CONCURRENT = 20;
const MAX_RETRIES = 3;

/** Every instance answers 503 after a short delay, so the first tries of a burst overlap. */
describe('retry budget when every instance fails', () => {
  let ups: FaultUpstream[];
  let proxy: ProxyHarness | null = null;

  beforeEach(async () => {
    ups = await Promise.all(['a', 'b', 'c'].map((n) => FaultUpstream.start(n)));
    for (const u of ups) u.setMode({ kind: 'status', status: 503, delayMs: 150 });
  });
  afterEach(async () => {
    await proxy?.close();
    await Promise.all(ups.map((u) => u.close()));
  });

  async function burst(retryBudget: Record<string, number>): Promise<{ attempts: number; statuses: number[] }> {
    proxy = await startProxy({
      services: { api: ups.map((u) => ({ port: u.port })) },
      config: {
        routes: [{ name: 'api', match: { path: '/' }, service: 'api', retries: { maxRetries: MAX_RETRIES, retryOn: ['gateway-error'] } }],
        services: { api: { retryBudget, outlierDetection: { enabled: false } } },
      },
    });
    const rs = await Promise.all(Array.from({ length: CONCURRENT }, (_, i) => fetchText(`${proxy!.url}/b/${i}`)));
    return { attempts: ups.reduce((n, u) => n + u.attempts, 0), statuses: rs.map((r) => r.status) };
  }

  it('without a budget, every request makes 1 + maxRetries attempts', async () => {
    const { attempts, statuses } = await burst({ percent: 100, minConcurrency: CONCURRENT });
    expect(statuses).toEqual(Array(CONCURRENT).fill(503));
    expect(attempts).toBe(CONCURRENT * (1 + MAX_RETRIES));
  });

  it('with a 20% budget, retries stay within the budget and the load does not multiply', async () => {
    const { attempts, statuses } = await burst({ percent: 20, minConcurrency: 2 });
    expect(statuses).toEqual(Array(CONCURRENT).fill(503));
    // At most 20% of 20 = 4 retries in flight while the burst is in flight, then the floor of 2:
    // 4 retries of the first wave, then at most 2 per later wave.
    expect(attempts).toBeGreaterThan(CONCURRENT);
    expect(attempts).toBeLessThanOrEqual(CONCURRENT + 4 + 2 * (MAX_RETRIES - 1));
    expect(proxy!.app.upstreams.get('api').stats.retryBudgetExhausted).toBeGreaterThan(0);
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultUpstream } from '../../support/fault-upstream.js';
import { fetchText } from '../../support/http-client.js';
import { parsePrometheusText, value } from '../../support/prometheus-text.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { freePort } from '../../support/free-port.js';

describe('metrics of retries, ejections and breaker refusals', () => {
  let ok: FaultUpstream;
  let held: FaultUpstream;
  let proxy: ProxyHarness;

  beforeAll(async () => {
    ok = await FaultUpstream.start('ok');
    held = await FaultUpstream.start('held');
    held.setMode({ kind: 'hang' });
    proxy = await startProxy({
      services: { flaky: [{ port: await freePort() }, { port: ok.port }], held: [{ port: held.port }] },
      config: {
        routes: [
          { name: 'flaky', match: { path: '/flaky' }, service: 'flaky' },
          { name: 'held', match: { path: '/held' }, service: 'held' },
        ],
        services: {
          flaky: { outlierDetection: { consecutiveFailures: 1, maxEjectionPercent: 50 } },
          held: { circuitBreaker: { maxRequests: 1 } },
        },
      },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await ok.close();
    await held.close();
  });

  const scrape = async () => parsePrometheusText((await fetchText(`http://127.0.0.1:${proxy.app.adminAddress!.port}/metrics`)).body);

  it('counts the retry and the ejection caused by a refused connection', async () => {
    // Round robin over [refused, ok]: the first request tries the refused endpoint, is retried on ok.
    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await fetchText(`${proxy.url}/flaky`)).status);
    expect(statuses).toEqual([200, 200, 200, 200]);
    const m = await scrape();
    expect(value(m, 'switchyard_upstream_retries_total', { service: 'flaky' })).toBe(1);
    expect(value(m, 'switchyard_upstream_ejections_total', { service: 'flaky' })).toBe(1);
    expect(value(m, 'switchyard_upstream_connect_errors_total', { service: 'flaky' })).toBe(1);
  });

  it('counts a request the circuit breaker refused', async () => {
    const first = fetchText(`${proxy.url}/held`);
    await eventually(() => held.received.length === 1, 5_000, 'the first request to reach the upstream');
    const refused = await fetchText(`${proxy.url}/held`);
    expect(refused.status).toBe(503);
    expect(refused.headers['x-switchyard-error']).toBe('breaker_requests');
    held.release();
    expect((await first).status).toBe(200);
    const m = await scrape();
    expect(value(m, 'switchyard_upstream_breaker_rejections_total', { service: 'held' })).toBe(1);
    expect(value(m, 'switchyard_proxy_errors_total', { code: 'breaker_requests' })).toBe(1);
  });
});

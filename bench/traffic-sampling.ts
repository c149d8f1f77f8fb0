/**
 * Cost of the status page's history (admin side, one sample every 2 s): reading every route's
 * request totals from the request duration histogram and storing one point per route, with
 * every route busy in every interval (the worst case for memory). The request path is not
 * involved. Run: node --expose-gc --import tsx bench/traffic-sampling.ts
 */
import { TrafficHistory } from '../src/admin/traffic-history.js';
import { createLogger } from '../src/observability/logger.js';
import { LATENCY_BUCKETS, SwitchyardMetrics } from '../src/observability/metrics.js';
import type { RouteMetrics } from '../src/observability/route-metrics.js';

const SAMPLES = 150; // a full window
const gc = (globalThis as { gc?: () => void }).gc ?? (() => undefined);

for (const routes of [10, 100, 1000]) {
  const metrics = new SwitchyardMetrics();
  const names: string[] = [];
  const recorders: RouteMetrics[] = [];
  for (let r = 0; r < routes; r++) {
    names.push(`route-${r}`);
    recorders.push(metrics.route(`route-${r}`, `service-${r % 50}`));
  }
  // GET and POST, 2xx and 5xx: four series per route, as a busy route has.
  const traffic = () => {
    for (const m of recorders) for (const method of [0, 2]) for (const status of [1, 4]) m.requestEnded(method, status, Math.random() / 10, 0, 100);
  };
  traffic();
  const history = new TrafficHistory(() => metrics.routeTotals(), () => names, LATENCY_BUCKETS, createLogger({ level: 'silent' }));
  await history.sample(0);
  gc();
  const heapBefore = process.memoryUsage().heapUsed;
  let ns = 0;
  for (let i = 1; i <= SAMPLES; i++) {
    traffic();
    const start = process.hrtime.bigint();
    await history.sample(i * 2000);
    ns += Number(process.hrtime.bigint() - start);
  }
  gc();
  const retainedMb = (process.memoryUsage().heapUsed - heapBefore) / 1024 / 1024;
  const ms = ns / 1e6 / SAMPLES;
  console.log(
    `${String(routes).padStart(5)} routes: ${ms.toFixed(2).padStart(6)} ms per sample (${((ms / 2000) * 100).toFixed(3)}% of one core at one sample per 2 s); full history retains ${retainedMb.toFixed(1)} MB`,
  );
}

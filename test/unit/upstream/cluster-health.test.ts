import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/observability/logger.js';
import { Cluster } from '../../../src/upstream/cluster.js';
import { HealthFlag } from '../../../src/upstream/endpoint.js';
import { RetryBudget } from '../../../src/upstream/retry-budget.js';
import { eventually } from '../../support/proxy-harness.js';
import { countPicks, instance, requestWith, serviceSettings } from '../../support/endpoint-fixtures.js';

const req = requestWith();
let cluster: Cluster | null = null;
afterEach(async () => {
  await cluster?.close();
  cluster = null;
});

function clusterOf(count: number, fields: Record<string, unknown> = {}): Cluster {
  cluster = new Cluster('svc', serviceSettings(fields), silentLogger());
  cluster.setInstances(Array.from({ length: count }, (_, i) => instance(10_001 + i)));
  return cluster;
}

describe('Cluster health view and panic mode', () => {
  it('engages panic below the threshold and disengages at it', () => {
    const c = clusterOf(4, { panicThreshold: 50 });
    const [a, b, d] = c.endpoints;
    a!.setHealthFlag(HealthFlag.outlier, true);
    b!.setHealthFlag(HealthFlag.activeCheck, true);
    expect(c.panic).toBe(false); // 2 of 4 healthy = 50%: at the threshold, not below
    expect(countPicks(() => c.pick(req, '127.0.0.1'), 400).has(a!.key)).toBe(false);
    d!.setHealthFlag(HealthFlag.registry, true);
    expect(c.panic).toBe(true); // 1 healthy of 3 routable (registry-critical d does not count) = 33%
    expect(c.stats.panicEntered).toBe(1);
    const inPanic = countPicks(() => c.pick(req, '127.0.0.1'), 400);
    expect(inPanic.size).toBe(3); // every endpoint but the registry-critical one, healthy or not
    expect(inPanic.has(d!.key)).toBe(false);
    expect(c.stats.panicPicks).toBe(400);
    b!.setHealthFlag(HealthFlag.activeCheck, false);
    expect(c.panic).toBe(false);
    expect([...countPicks(() => c.pick(req, '127.0.0.1'), 400).keys()].sort()).toEqual([b!.key, c.endpoints[3]!.key].sort());
  });

  it('never picks a drained endpoint, not even in panic mode, and does not count it in the share', () => {
    const c = clusterOf(3, { panicThreshold: 100 });
    c.endpoints[0]!.drained = true;
    expect(c.panic).toBe(false); // the 2 others are healthy: 100% of the routable ones
    c.endpoints[1]!.setHealthFlag(HealthFlag.outlier, true);
    expect(c.panic).toBe(true);
    expect(countPicks(() => c.pick(req, '127.0.0.1'), 300).has(c.endpoints[0]!.key)).toBe(false);
  });

  it('never panics with a threshold of 0: an all-unhealthy cluster has no endpoint to offer', () => {
    const c = clusterOf(2, { panicThreshold: 0 });
    for (const e of c.endpoints) e.setHealthFlag(HealthFlag.registry, true);
    expect(c.panic).toBe(false);
    expect(c.pick(req, '127.0.0.1')).toBeUndefined();
  });

  it('follows registry health on instance updates', () => {
    const c = clusterOf(2, { panicThreshold: 0 });
    c.setInstances([instance(10_001, 1, 'critical'), instance(10_002)]);
    expect([...countPicks(() => c.pick(req, '127.0.0.1'), 50).keys()]).toEqual([c.endpoints[1]!.key]);
  });
});

describe('OutlierDetector', () => {
  it('ejects after consecutive failures, limited by maxEjectionPercent, and brings the endpoint back', async () => {
    const c = clusterOf(4, { outlierDetection: { consecutiveFailures: 3, baseEjectionTime: '200ms', maxEjectionPercent: 25 }, panicThreshold: 0 });
    const [a, b] = c.endpoints;
    c.outlier.failure(a!);
    c.outlier.failure(a!);
    c.outlier.success(a!); // a success resets the count
    c.outlier.failure(a!);
    c.outlier.failure(a!);
    expect(a!.healthy).toBe(true);
    c.outlier.failure(a!);
    expect(a!.healthy).toBe(false);
    expect(a!.healthFlags & HealthFlag.outlier).toBe(HealthFlag.outlier);
    for (let i = 0; i < 3; i++) c.outlier.failure(b!);
    expect(b!.healthy).toBe(true); // 25% of 4 = 1 ejection at a time
    expect(c.stats.ejections).toBe(1);
    expect(c.stats.ejectionsSkipped).toBe(1);
    await eventually(() => a!.healthy, 5_000, 'the ejected endpoint to return');
    expect(a!.outlier.ejections).toBe(1);
  });

  it('does nothing when disabled', () => {
    const c = clusterOf(2, { outlierDetection: { enabled: false, consecutiveFailures: 1 } });
    c.outlier.failure(c.endpoints[0]!);
    expect(c.endpoints[0]!.healthy).toBe(true);
  });
});

describe('RetryBudget', () => {
  it('allows retries up to a share of active requests, with a floor', () => {
    const budget = new RetryBudget({ percent: 20, minConcurrency: 2 });
    expect(budget.tryAcquire(1)).toBe(true);
    expect(budget.tryAcquire(1)).toBe(true);
    expect(budget.tryAcquire(1)).toBe(false); // floor of 2
    expect(budget.tryAcquire(20)).toBe(true); // 20% of 20 = 4
    expect(budget.tryAcquire(20)).toBe(true);
    expect(budget.tryAcquire(20)).toBe(false);
    budget.release();
    expect(budget.tryAcquire(20)).toBe(true);
  });
});

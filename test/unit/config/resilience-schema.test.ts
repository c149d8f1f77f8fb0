import { describe, expect, it } from 'vitest';
import { configSchema, serviceSchema } from '../../../src/config/schema.js';

function issues(input: unknown): string[] {
  const r = serviceSchema.safeParse(input);
  return r.success ? [] : r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
}

describe('resilience settings in the config schema', () => {
  it('has defaults for everything', () => {
    const s = serviceSchema.parse({});
    expect(s.balancer).toBe('weighted_round_robin');
    expect(s.panicThreshold).toBe(50);
    expect(s.outlierDetection).toEqual({ enabled: true, consecutiveFailures: 5, baseEjectionTime: 30_000, maxEjectionTime: 300_000, maxEjectionPercent: 50 });
    expect(s.circuitBreaker).toEqual({ maxConnections: 1024, maxPending: 1024, maxRequests: 1024 });
    expect(s.retryBudget).toEqual({ percent: 20, minConcurrency: 3 });
    expect(s.healthCheck).toBeUndefined();
    const c = configSchema.parse({});
    expect(c.retries).toEqual({ maxRetries: 2, retryOn: ['connect-failure', 'reset', 'timeout', 'gateway-error'], grpcRetryOn: [], bufferBody: 0 });
    expect(c.timeouts).toEqual({ headers: 30_000, bodyIdle: 60_000, total: 0, perTry: 0 });
  });

  it('parses health checks, with status ranges', () => {
    const s = serviceSchema.parse({ healthCheck: { path: '/ready', expectedStatuses: [200, '300-399'], interval: '5s' } });
    expect(s.healthCheck).toMatchObject({ type: 'http', path: '/ready', expectedStatuses: [[200, 200], [300, 399]], interval: 5000, timeout: 2000 });
  });

  it('says what is wrong', () => {
    expect(issues({ balancer: 'consistent_hash' })).toEqual(['hashOn: is required with balancer consistent_hash, e.g. hashOn: {header: x-user}']);
    expect(issues({ balancer: 'random', hashOn: { header: 'x' } })).toEqual(['hashOn: only applies to balancer consistent_hash']);
    expect(issues({ balancer: 'consistent_hash', hashOn: { header: 'x', cookie: 'y' } })).toEqual(['hashOn: must set exactly one of "header", "cookie" or "clientAddress: true"']);
    expect(issues({ healthCheck: { expectedStatuses: ['2xx'] } })[0]).toContain('must be a status such as 200 or a range such as "200-399"');
    expect(issues({ healthCheck: { interval: '1s', timeout: '2s' } })[0]).toContain('timeout must not exceed interval');
    expect(issues({ panicThreshold: 120 })[0]).toContain('must be a percentage from 0 to 100');
    expect(issues({ circuitBreaker: { maxRequest: 3 } })[0]).toContain('maxRequest');
    expect(issues({ balancer: 'round_robin' })).toHaveLength(1);
  });
});

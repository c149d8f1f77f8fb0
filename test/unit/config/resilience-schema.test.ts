import { describe, expect, it } from 'vitest';
import { configSchema, serviceSchema } from '../../../src/config/schema.js';
import { configProblems } from '../../support/config-problems.js';

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

  it('parses gRPC health checks: grpcService defaults to "" (the server\'s overall health)', () => {
    expect(serviceSchema.parse({ healthCheck: { type: 'grpc' } }).healthCheck).toMatchObject({ type: 'grpc', grpcService: '', timeout: 2000 });
    expect(serviceSchema.parse({ healthCheck: { type: 'grpc', grpcService: 'shop.v1.Orders' } }).healthCheck?.grpcService).toBe('shop.v1.Orders');
    expect(serviceSchema.parse({ healthCheck: {} }).healthCheck?.grpcService).toBe('');
  });

  it('refuses HTTP-only fields with type grpc and grpcService with other types', () => {
    const grpcOnly = 'applies to type http only; a grpc check calls grpc.health.v1.Health/Check';
    expect(issues({ healthCheck: { type: 'grpc', path: '/health' } })).toEqual([`healthCheck.path: ${grpcOnly} (remove path, or set grpcService to name the service to check)`]);
    expect(issues({ healthCheck: { type: 'grpc', host: 'a.test' } })).toEqual([`healthCheck.host: ${grpcOnly} (remove host, or set grpcService to name the service to check)`]);
    expect(issues({ healthCheck: { type: 'grpc', expectedStatuses: [200] } })).toEqual([
      `healthCheck.expectedStatuses: ${grpcOnly} (remove expectedStatuses, or set grpcService to name the service to check)`,
    ]);
    expect(issues({ healthCheck: { grpcService: 'shop.Orders' } })).toEqual(['healthCheck.grpcService: applies to type grpc only (this check is type http)']);
    expect(issues({ healthCheck: { type: 'tcp', grpcService: '' } })).toEqual(['healthCheck.grpcService: applies to type grpc only (this check is type tcp)']);
    expect(issues({ healthCheck: { type: 'grpc', grpcService: 7 } })[0]).toMatch(/^healthCheck\.grpcService: .*string/);
    expect(issues({ healthCheck: { type: 'udp', grpcService: 'x' } })[0]).toMatch(/^healthCheck\.type: /);
    expect(issues({ healthCheck: { type: 'grpc', interval: '1s', timeout: '2s' } })[0]).toContain('timeout must not exceed interval');
  });

  it('places a misplaced gRPC health check field at its line in the file', () => {
    const text = ['services:', '  orders:', '    protocol: h2c', '    healthCheck:', '      type: grpc', '      expectedStatuses: [200]', ''].join('\n');
    expect(configProblems('config/test.yaml', text)).toEqual([
      expect.stringMatching(/^config\/test\.yaml:6:\d+: services\.orders\.healthCheck\.expectedStatuses: applies to type http only/),
    ]);
  });
});

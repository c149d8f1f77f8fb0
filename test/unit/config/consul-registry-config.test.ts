import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load-config.js';

const parse = (registry: Record<string, unknown>) => parseConfigText('c.yaml', JSON.stringify({ registry: { type: 'consul', ...registry } }));

describe('registry: consul config', () => {
  it('fills every default', () => {
    expect(parse({}).registry).toEqual({
      type: 'consul',
      tls: {},
      tags: [],
      tagRoutes: true,
      tagPrefix: 'urlprefix-',
      stateKey: 'switchyard/operator-state',
      wait: 300_000,
      minInterval: 100,
      timeout: 10_000,
      backoff: { initial: 250, max: 30_000 },
      connections: 8,
      waitAtStart: false,
      startTimeout: 10_000,
      persistView: false,
      consistency: 'stale',
      maxStale: 5_000,
      readRate: 100,
      registrationScanInterval: 2_000,
      sweepInterval: 300_000,
    });
  });

  it('names what is wrong', () => {
    expect(() => parse({ address: 'http://consul:8500/v1' })).toThrow(/registry.address.*must be "host:port" or a URL/);
    expect(() => parse({ wait: '20m' })).toThrow(/registry.wait.*between "1s" and "10m"/);
    expect(() => parse({ connections: 2 })).toThrow(/registry.connections/);
    expect(() => parse({ tls: { cert: 'c.pem' } })).toThrow(/cert and key must be given together/);
    expect(() => parse({ tokn: 'x' })).toThrow(/registry.tokn.*unknown field/);
    expect(() => parse({ backoff: { initial: '1m', max: '1s' } })).toThrow(/backoff.initial must not exceed backoff.max/);
    expect(() => parse({ stateKey: '' })).toThrow(/registry.stateKey.*must be a Consul KV key/);
    expect(() => parse({ stateKey: '/switchyard/state' })).toThrow(/registry.stateKey.*must not start or end with "\/"/);
    expect(() => parse({ stateKey: 'switchyard/' })).toThrow(/registry.stateKey.*must not start or end with "\/"/);
    expect(() => parse({ consistency: 'eventual' })).toThrow(/registry.consistency: must be one of "default", "stale", "consistent"/);
    expect(() => parse({ readRate: 0 })).toThrow(/registry.readRate.*at least 1 read per second/);
    expect(() => parse({ registrationScanInterval: '10ms' })).toThrow(/registry.registrationScanInterval.*at least "100ms"/);
    expect(() => parse({ sweepInterval: 'soon' })).toThrow(/registry.sweepInterval/);
    expect(() => parse({ catalogMinInterval: 'often' })).toThrow(/registry.catalogMinInterval/);
    expect(parse({ catalogMinInterval: '2s' }).registry).toMatchObject({ catalogMinInterval: 2_000 });
  });

  it('accepts host:port and https URLs', () => {
    expect(parse({ address: '10.0.0.1:8500' }).registry).toMatchObject({ address: '10.0.0.1:8500' });
    expect(parse({ address: 'https://consul.example.com:8501', tls: { ca: 'ca.pem' } }).registry).toMatchObject({ tls: { ca: 'ca.pem' } });
  });
});

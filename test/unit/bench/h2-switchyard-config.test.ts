import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { switchyardH2Config } from '../../../bench/lib/h2-targets.js';
import { parseConfigText } from '../../../src/config/load-config.js';
import { listenerProtocols } from '../../../src/config/schema.js';
import { parseServicesFile } from '../../../src/registry/services-file.js';

const PORTS = { h2cUpstreamPort: 41001, http1UpstreamPort: 41002 };
const TLS = { cert: '/tmp/bench-cert.pem', key: '/tmp/bench-key.pem', combined: '/tmp/bench-combined.pem' };

describe("bench:h2's Switchyard configuration", () => {
  it.each([
    ['h2c listener, h2c upstream', { upstream: 'h2c' as const, ...PORTS }, ['h2c'], 'h2c', 41001],
    ['h2c listener, HTTP/1.1 upstream', { upstream: 'http1' as const, ...PORTS }, ['h2c'], 'http1', 41002],
    ['TLS listener (h2, http1), HTTP/1.1 upstream', { upstream: 'http1' as const, tls: TLS, ...PORTS }, ['h2', 'http1'], 'http1', 41002],
  ])('passes the configuration schema: %s', (_what, ctx, protocols, upstream, instancePort) => {
    const { config, services } = switchyardH2Config(ctx, 40000);
    const parsed = parseConfigText('bench-h2.yaml', stringify(config));
    expect(listenerProtocols(parsed.listeners[0]!)).toEqual(protocols);
    expect(parsed.listeners[0]!.port).toBe(40000);
    expect(parsed.services.bench?.protocol).toBe(upstream);
    const file = parseServicesFile('services.yaml', stringify(services));
    expect([...file.services.keys()]).toEqual(['bench']);
    expect(file.services.get('bench')!.instances.map((i) => `${i.address}:${i.port}`)).toEqual([`127.0.0.1:${instancePort}`]);
  });

  it('selects the HTTP/2 listener engine when asked (target switchyard-listener-node)', () => {
    const { config } = switchyardH2Config({ upstream: 'http1', ...PORTS }, 40000, undefined, 'node');
    expect(parseConfigText('bench-h2.yaml', stringify(config)).proxy.engine.http2Listener).toBe('node');
    const { config: defaults } = switchyardH2Config({ upstream: 'http1', ...PORTS }, 40000);
    expect(parseConfigText('bench-h2.yaml', stringify(defaults)).proxy.engine.http2Listener).toBe('switchyard');
  });
});

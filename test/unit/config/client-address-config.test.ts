import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load-config.js';
import { forwardedTrust } from '../../../src/proxy/client-address.js';
import { configProblems } from '../../support/config-problems.js';

const parse = (yaml: string) => parseConfigText('test.yaml', yaml);
const problemOf = (yaml: string) => configProblems('test.yaml', yaml).join('\n');

describe('client address configuration', () => {
  it('trusts no proxy and accepts no PROXY protocol by default', () => {
    const c = parse('{}');
    expect(c.proxy.trustForwardedHeaders).toBe(false);
    expect(c.proxy.trustedProxies).toEqual([]);
    expect(c.proxy.trustedHops).toBe(0);
    expect(c.listeners[0]!.proxyProtocol).toBeUndefined();
    expect(forwardedTrust(c.proxy)).toBeNull();
  });

  it('reads trusted proxies (IPv4 and IPv6 ranges, single addresses) and a hop count', () => {
    const c = parse('proxy: { trustedProxies: ["10.0.0.0/8", "::1/128", 192.0.2.7, "2001:db8::/32"], trustedHops: 2 }');
    expect(c.proxy.trustedProxies).toEqual(['10.0.0.0/8', '::1/128', '192.0.2.7', '2001:db8::/32']);
    expect(c.proxy.trustedHops).toBe(2);
    const trust = forwardedTrust(c.proxy)!;
    expect(trust.trustsPeer('10.1.1.1')).toBe(true);
    expect(trust.trustsPeer('::1')).toBe(true);
    expect(trust.trustsPeer('203.0.113.1')).toBe(false);
  });

  it('makes trustForwardedHeaders: true trust every peer', () => {
    const trust = forwardedTrust(parse('proxy: { trustForwardedHeaders: true }').proxy)!;
    expect(trust.everyPeer).toBe(true);
    expect(trust.trustsPeer('203.0.113.1')).toBe(true);
    expect(trust.clientBehind('203.0.113.1', '198.51.100.4')).toBe('198.51.100.4');
  });

  it('makes trustedHops without trustedProxies trust every peer, and with them only those', () => {
    expect(forwardedTrust(parse('proxy: { trustedHops: 1 }').proxy)!.trustsPeer('203.0.113.1')).toBe(true);
    expect(forwardedTrust(parse('proxy: { trustedHops: 1, trustedProxies: ["10.0.0.0/8"] }').proxy)!.trustsPeer('203.0.113.1')).toBe(false);
  });

  it('names a trusted proxy entry that is not an address range', () => {
    expect(problemOf('proxy: { trustedProxies: ["10.0.0.0/8", "lb.internal"] }')).toMatch(/proxy\.trustedProxies\[1\]: "lb\.internal" is not an IPv4 or IPv6 address range such as "10\.0\.0\.0\/8"/);
    expect(problemOf('proxy: { trustedProxies: ["10.0.0.0/33"] }')).toMatch(/proxy\.trustedProxies\[0\]: .*prefix length after "\/" must be a whole number from 0 to 32/);
    expect(problemOf('proxy: { trustedProxies: ["fe80::1%eth0"] }')).toMatch(/proxy\.trustedProxies\[0\]/);
    expect(problemOf('proxy: { trustedProxies: "10.0.0.0/8" }')).toMatch(/proxy\.trustedProxies/);
  });

  it('refuses a hop count that is not a small whole number', () => {
    expect(problemOf('proxy: { trustedHops: -1 }')).toMatch(/proxy\.trustedHops/);
    expect(problemOf('proxy: { trustedHops: 1.5 }')).toMatch(/proxy\.trustedHops/);
    expect(problemOf('proxy: { trustedHops: 33 }')).toMatch(/proxy\.trustedHops/);
  });

  it('reads a listener\'s PROXY protocol sources and refuses an empty or bad list', () => {
    const c = parse('listeners: [{ port: 8080, proxyProtocol: { trustedSources: ["10.0.0.0/8", "::1"] } }]');
    expect(c.listeners[0]!.proxyProtocol).toEqual({ trustedSources: ['10.0.0.0/8', '::1'] });
    expect(problemOf('listeners: [{ port: 8080, proxyProtocol: { trustedSources: [] } }]')).toMatch(/listeners\[0\]\.proxyProtocol\.trustedSources: must list at least one address range/);
    expect(problemOf('listeners: [{ port: 8080, proxyProtocol: {} }]')).toMatch(/listeners\[0\]\.proxyProtocol\.trustedSources/);
    expect(problemOf('listeners: [{ port: 8080, proxyProtocol: { trustedSources: ["any"] } }]')).toMatch(/listeners\[0\]\.proxyProtocol\.trustedSources\[0\]: "any" is not/);
    expect(problemOf('listeners: [{ port: 8080, proxyProtocol: { trustedSources: ["10.0.0.0/8"], version: 2 } }]')).toMatch(/listeners\[0\]\.proxyProtocol.*version/);
  });
});

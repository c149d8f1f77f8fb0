import { describe, expect, it } from 'vitest';
import { forwardedTrust, resolveClientAddress } from '../../../src/proxy/client-address.js';

const settings = (over: Partial<{ trustForwardedHeaders: boolean; trustedProxies: string[]; trustedHops: number }> = {}) => ({
  trustForwardedHeaders: false,
  trustedProxies: [] as string[],
  trustedHops: 0,
  ...over,
});

describe('client address', () => {
  it('trusts no one without settings: the peer is the client whatever X-Forwarded-For says', () => {
    const trust = forwardedTrust(settings());
    expect(trust).toBeNull();
    expect(resolveClientAddress('203.0.113.9', '198.51.100.1', trust)).toBe('203.0.113.9');
  });

  it('ignores X-Forwarded-For from a peer outside trustedProxies', () => {
    const trust = forwardedTrust(settings({ trustedProxies: ['10.0.0.0/8'] }));
    expect(resolveClientAddress('203.0.113.9', '198.51.100.1', trust)).toBe('203.0.113.9');
    expect(resolveClientAddress('::ffff:203.0.113.9', '198.51.100.1', trust)).toBe('::ffff:203.0.113.9');
  });

  it('walks X-Forwarded-For from the right past trusted proxies', () => {
    const trust = forwardedTrust(settings({ trustedProxies: ['10.0.0.0/8', '2001:db8::/32'] }));
    expect(resolveClientAddress('10.0.0.1', '198.51.100.1', trust)).toBe('198.51.100.1');
    expect(resolveClientAddress('10.0.0.1', 'spoofed, 198.51.100.1, 10.2.2.2,10.3.3.3', trust)).toBe('198.51.100.1');
    expect(resolveClientAddress('::ffff:10.0.0.1', '2001:db8::7, 198.51.100.2 , 2001:db8::9', trust)).toBe('198.51.100.2');
    // Only trusted proxies: the left-most entry is as far as anyone vouches.
    expect(resolveClientAddress('10.0.0.1', '10.9.9.9, 10.8.8.8', trust)).toBe('10.9.9.9');
  });

  it('keeps the peer when X-Forwarded-For is absent or empty', () => {
    const trust = forwardedTrust(settings({ trustedProxies: ['10.0.0.0/8'] }));
    expect(resolveClientAddress('10.0.0.1', undefined, trust)).toBe('10.0.0.1');
    expect(resolveClientAddress('10.0.0.1', '', trust)).toBe('10.0.0.1');
    expect(resolveClientAddress('10.0.0.1', ' , ', trust)).toBe('10.0.0.1');
  });

  it('stops at an entry that is not an address: the client is the last address a trusted proxy vouched for', () => {
    const trust = forwardedTrust(settings({ trustedProxies: ['10.0.0.0/8'] }));
    expect(resolveClientAddress('10.0.0.1', '198.51.100.1, unknown', trust)).toBe('10.0.0.1');
    expect(resolveClientAddress('10.0.0.1', '198.51.100.1, garbage, 10.2.2.2', trust)).toBe('10.2.2.2');
    expect(resolveClientAddress('10.0.0.1', '198.51.100.1,,10.2.2.2', trust)).toBe('10.2.2.2');
  });

  it('reads entries written with a port or in brackets', () => {
    const trust = forwardedTrust(settings({ trustedProxies: ['10.0.0.0/8'] }));
    expect(resolveClientAddress('10.0.0.1', '198.51.100.1:5555', trust)).toBe('198.51.100.1');
    expect(resolveClientAddress('10.0.0.1', '[2001:db8::1]:443', trust)).toBe('2001:db8::1');
    expect(resolveClientAddress('10.0.0.1', '[2001:db8::1]', trust)).toBe('2001:db8::1');
    expect(resolveClientAddress('10.0.0.1', '198.51.100.7, [2001:db8::1', trust)).toBe('10.0.0.1');
    expect(resolveClientAddress('10.0.0.1', '2001:db8::1', trust)).toBe('2001:db8::1');
  });

  it('takes the n-th entry from the right with trustedHops, trusting every peer without trustedProxies', () => {
    const one = forwardedTrust(settings({ trustedHops: 1 }));
    expect(resolveClientAddress('203.0.113.9', 'spoofed, 198.51.100.1', one)).toBe('198.51.100.1');
    const two = forwardedTrust(settings({ trustedHops: 2 }));
    expect(resolveClientAddress('203.0.113.9', 'spoofed, 198.51.100.1, 10.0.0.5', two)).toBe('198.51.100.1');
    // Fewer entries than hops, or the entry is not an address: the peer.
    expect(resolveClientAddress('203.0.113.9', '10.0.0.5', two)).toBe('203.0.113.9');
    expect(resolveClientAddress('203.0.113.9', 'junk, 10.0.0.5', two)).toBe('203.0.113.9');
    expect(resolveClientAddress('203.0.113.9', ',10.0.0.5', two)).toBe('203.0.113.9');
  });

  it('with trustedHops and trustedProxies, counts hops only behind a trusted peer', () => {
    const trust = forwardedTrust(settings({ trustedHops: 1, trustedProxies: ['10.0.0.0/8'] }));
    expect(resolveClientAddress('10.0.0.1', '198.51.100.1, 198.51.100.2', trust)).toBe('198.51.100.2');
    expect(resolveClientAddress('203.0.113.9', '198.51.100.1', trust)).toBe('203.0.113.9');
  });

  it('trustForwardedHeaders trusts every peer: the client is the right-most entry not in trustedProxies', () => {
    const trust = forwardedTrust(settings({ trustForwardedHeaders: true }));
    expect(trust!.trustsPeer('203.0.113.9')).toBe(true);
    expect(resolveClientAddress('203.0.113.9', 'spoofed, 198.51.100.1', trust)).toBe('198.51.100.1');
    expect(resolveClientAddress('203.0.113.9', undefined, trust)).toBe('203.0.113.9');
  });
});

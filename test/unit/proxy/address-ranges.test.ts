import { describe, expect, it } from 'vitest';
import { AddressRanges } from '../../../src/proxy/address-ranges.js';

describe('address ranges', () => {
  const ranges = AddressRanges.parse(['10.0.0.0/8', '192.0.2.7', '172.16.0.0/12', '2001:db8::/32', '::1/128', 'fe80::/10']);

  it('matches IPv4 addresses under each range\'s mask', () => {
    for (const inside of ['10.0.0.0', '10.255.255.255', '192.0.2.7', '172.16.0.1', '172.31.255.255']) expect(ranges.contains(inside), inside).toBe(true);
    for (const outside of ['11.0.0.0', '9.255.255.255', '192.0.2.8', '172.32.0.0', '172.15.255.255', '127.0.0.1']) expect(ranges.contains(outside), outside).toBe(false);
  });

  it('matches IPv6 addresses, and an IPv4-mapped address as the IPv4 address it carries', () => {
    for (const inside of ['2001:db8::1', '2001:db8:ffff:ffff:ffff:ffff:ffff:ffff', '::1', 'fe80::1', 'febf::1', '::ffff:10.1.2.3', '::ffff:192.0.2.7']) {
      expect(ranges.contains(inside), inside).toBe(true);
    }
    for (const outside of ['2001:db9::1', '::2', 'fec0::1', '::ffff:11.1.2.3', '::', '::10.1.2.3']) expect(ranges.contains(outside), outside).toBe(false);
  });

  it('reads the address in place within a longer text', () => {
    const text = 'x, 10.9.9.9, y';
    expect(ranges.contains(text, 3, 11)).toBe(true);
    expect(ranges.contains(text, 3, 10)).toBe(false); // "10.9.9." is not an address
    expect(ranges.contains(text, 0, 11)).toBe(false);
  });

  it('answers false for text that is not an address', () => {
    for (const junk of ['', 'unknown', '10.0.0.0/8', '[::1]', '10.0.0.1:80']) expect(ranges.contains(junk), junk).toBe(false);
  });

  it('covers everything with /0 and one address without a prefix', () => {
    const all = AddressRanges.parse(['0.0.0.0/0', '::/0']);
    for (const a of ['1.2.3.4', '255.255.255.255', '::1', '2001:db8::1']) expect(all.contains(a)).toBe(true);
    const one = AddressRanges.parse(['2001:db8::5']);
    expect(one.contains('2001:db8::5')).toBe(true);
    expect(one.contains('2001:db8::4')).toBe(false);
  });

  it('masks host bits given in a range (10.1.2.3/8 is 10.0.0.0/8)', () => {
    const r = AddressRanges.parse(['10.1.2.3/8', '2001:db8::1/16']);
    expect(r.contains('10.200.0.1')).toBe(true);
    expect(r.contains('2001:ffff::')).toBe(true);
  });

  it('refuses an entry that is not a range, naming it', () => {
    expect(() => AddressRanges.parse(['10.0.0.0/8', 'localhost'])).toThrow(/"localhost" is not an IPv4 or IPv6 address range/);
    expect(() => AddressRanges.parse(['10.0.0.0/40'])).toThrow(/from 0 to 32/);
  });
});

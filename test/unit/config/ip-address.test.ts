import { isIP } from 'node:net';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { addressRangeProblem, formatIpv6, IPV4, IPV6, NOT_AN_ADDRESS, parseIpAddress } from '../../../src/config/ip-address.js';

const groups = new Uint16Array(8);
const familyOf = (text: string): number => parseIpAddress(text, 0, text.length, groups);

/** Node's own reading of a canonical address, as eight groups. */
function nodeGroups(text: string): number[] {
  const url = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  const [head, tail] = url.includes('::') ? url.split('::') : [url, undefined];
  const h = head === '' ? [] : head!.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const all = tail === undefined ? h : [...h, ...Array(8 - h.length - t.length).fill('0'), ...t];
  return all.map((g) => parseInt(g, 16));
}

describe('IP address text', () => {
  it('reads IPv4 strictly: four decimal numbers 0-255, no leading zeros', () => {
    expect(familyOf('10.1.2.3')).toBe(IPV4);
    expect([...groups.slice(6)]).toEqual([0x0a01, 0x0203]);
    expect(familyOf('0.0.0.0')).toBe(IPV4);
    expect(familyOf('255.255.255.255')).toBe(IPV4);
    for (const bad of ['256.0.0.1', '10.1.2', '10.1.2.3.4', '010.1.2.3', '10.01.2.3', '1.2.3.4 ', ' 1.2.3.4', '1..2.3', '1.2.3.', '.1.2.3', '1.2.3.4a', 'a.b.c.d', '1.2.3.-4', '1234.1.1.1', '']) {
      expect(familyOf(bad), bad).toBe(NOT_AN_ADDRESS);
    }
  });

  it('reads IPv6 text with "::", short groups and a dotted IPv4 tail', () => {
    const cases: [string, number[]][] = [
      ['::', [0, 0, 0, 0, 0, 0, 0, 0]],
      ['::1', [0, 0, 0, 0, 0, 0, 0, 1]],
      ['1::', [1, 0, 0, 0, 0, 0, 0, 0]],
      ['2001:db8::8:800:200c:417a', [0x2001, 0xdb8, 0, 0, 8, 0x800, 0x200c, 0x417a]],
      ['2001:DB8:0:0:8:800:200C:417A', [0x2001, 0xdb8, 0, 0, 8, 0x800, 0x200c, 0x417a]],
      ['::ffff:192.0.2.128', [0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0280]],
      ['1:2:3:4:5:6:7::', [1, 2, 3, 4, 5, 6, 7, 0]],
      ['::2:3:4:5:6:7:8', [0, 2, 3, 4, 5, 6, 7, 8]],
      ['1:2:3:4:5:6:1.2.3.4', [1, 2, 3, 4, 5, 6, 0x0102, 0x0304]],
    ];
    for (const [text, expected] of cases) {
      expect(familyOf(text), text).toBe(IPV6);
      expect([...groups], text).toEqual(expected);
    }
  });

  it('refuses what is not IPv6 text: zones, brackets, two "::", too many or too long groups, stray colons', () => {
    for (const bad of [':::', ':1', '1:', '1:::2', '1::2::3', '1:2:3:4:5:6:7:8:9', '1:2:3:4:5:6:7', '12345::', 'fe80::1%eth0', '[::1]', '::g', '1:2:3:4:5:6:7:1.2.3.4', '::1.2.3', '::256.1.1.1', ': :']) {
      expect(familyOf(bad), bad).toBe(NOT_AN_ADDRESS);
    }
  });

  it('agrees with Node on random IPv6 addresses written in canonical and full form', () => {
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: 0xffff }), { minLength: 8, maxLength: 8 }), (g) => {
        const canonical = formatIpv6(g);
        expect(isIP(canonical)).toBe(6);
        expect(familyOf(canonical)).toBe(IPV6);
        expect([...groups]).toEqual(g);
        // inet_ntop's text is what URL normalises to, except the IPv4-mapped form it writes dotted.
        if (!canonical.startsWith('::ffff:') || canonical.split(':').length > 4) expect(nodeGroups(canonical)).toEqual(g);
        const full = g.map((x) => x.toString(16).padStart(4, '0')).join(':');
        expect(familyOf(full)).toBe(IPV6);
        expect([...groups]).toEqual(g);
      }),
    );
  });

  it('agrees with Node about random text from an address alphabet', () => {
    fc.assert(
      fc.property(fc.stringMatching(/^[0-9a-f:.]{2,20}$/), (text) => {
        const node = isIP(text);
        const ours = familyOf(text);
        // Node takes IPv4 with leading zeros in the dotted tail of IPv6 text; we do not.
        if (ours !== NOT_AN_ADDRESS) expect(ours).toBe(node);
        else if (node !== 0) expect(text).toMatch(/(^|[.:])0\d/);
      }),
      { numRuns: 2000 },
    );
  });

  it('writes IPv6 as Node writes a remote address (RFC 5952)', () => {
    expect(formatIpv6([0, 0, 0, 0, 0, 0, 0, 1])).toBe('::1');
    expect(formatIpv6([0, 0, 0, 0, 0, 0, 0, 0])).toBe('::');
    expect(formatIpv6([0x2001, 0xdb8, 0, 0, 1, 0, 0, 1])).toBe('2001:db8::1:0:0:1');
    expect(formatIpv6([0x2001, 0xdb8, 0, 1, 1, 1, 1, 1])).toBe('2001:db8:0:1:1:1:1:1');
    expect(formatIpv6([0, 0, 0, 0, 0, 0xffff, 0x7f00, 1])).toBe('::ffff:127.0.0.1');
  });

  it('names what is wrong with an address range', () => {
    expect(addressRangeProblem('10.0.0.0/8')).toBeNull();
    expect(addressRangeProblem('::1/128')).toBeNull();
    expect(addressRangeProblem('192.0.2.7')).toBeNull();
    expect(addressRangeProblem('0.0.0.0/0')).toBeNull();
    expect(addressRangeProblem('10.0.0.0/33')).toMatch(/prefix length after "\/" must be a whole number from 0 to 32/);
    expect(addressRangeProblem('::/129')).toMatch(/from 0 to 128/);
    expect(addressRangeProblem('10.0.0.0/08')).toMatch(/prefix length/);
    expect(addressRangeProblem('10.0.0.0/')).toMatch(/prefix length/);
    expect(addressRangeProblem('example.com/8')).toMatch(/is not an IPv4 or IPv6 address range such as "10.0.0.0\/8"/);
    expect(addressRangeProblem('10.0.0.0/8/8')).toMatch(/prefix length/);
  });
});

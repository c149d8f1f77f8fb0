import { addressRangeProblem, IPV4, isIpv4Mapped, NOT_AN_ADDRESS, parseIpAddress } from '../config/ip-address.js';

/**
 * A set of IPv4 and IPv6 address ranges (CIDRs), built once from the config and asked on every
 * request whether an address falls in one: `contains()` reads the address text in place (no
 * substring, no allocation) and compares it with each range under its mask. An IPv4-mapped
 * IPv6 address (::ffff:10.1.2.3, how a dual-stack listener reports IPv4 clients) is matched
 * against the IPv4 ranges as the IPv4 address it carries, and against the IPv6 ranges as it is.
 *
 * Linear in the number of ranges: a trusted proxy list is a handful of CIDRs.
 */
export class AddressRanges {
  /** [network, mask] per IPv4 range, as 32-bit numbers. */
  private readonly v4: Uint32Array;
  /** 8 network groups then 8 mask groups per IPv6 range. */
  private readonly v6: Uint16Array;
  /** The address being checked (one parse at a time: the router runs one request at a time per thread). */
  private readonly scratch = new Uint16Array(8);

  private constructor(
    v4: number[],
    v6: number[],
    /** The ranges as configured, for logs and the admin API. */
    readonly source: readonly string[],
  ) {
    this.v4 = Uint32Array.from(v4);
    this.v6 = Uint16Array.from(v6);
  }

  /** Builds the set; throws naming the first entry that is not an address range. */
  static parse(ranges: readonly string[]): AddressRanges {
    const v4: number[] = [];
    const v6: number[] = [];
    const groups = new Uint16Array(8);
    for (const range of ranges) {
      const problem = addressRangeProblem(range);
      if (problem !== null) throw new Error(problem);
      const slash = range.indexOf('/');
      const family = parseIpAddress(range, 0, slash < 0 ? range.length : slash, groups);
      const max = family === IPV4 ? 32 : 128;
      const bits = slash < 0 ? max : Number(range.slice(slash + 1));
      if (family === IPV4) {
        const mask = bits === 0 ? 0 : (0xffffffff << (32 - bits)) >>> 0;
        v4.push((((groups[6]! << 16) | groups[7]!) & mask) >>> 0, mask);
      } else {
        const masks: number[] = [];
        for (let g = 0; g < 8; g++) {
          const left = bits - g * 16;
          masks.push(left >= 16 ? 0xffff : left <= 0 ? 0 : (0xffff << (16 - left)) & 0xffff);
        }
        for (let g = 0; g < 8; g++) v6.push(groups[g]! & masks[g]!);
        v6.push(...masks);
      }
    }
    return new AddressRanges(v4, v6, ranges);
  }

  get empty(): boolean {
    return this.source.length === 0;
  }

  /** Whether the address written in `text[from, to)` is in one of the ranges (false for text that is not an address). */
  contains(text: string, from = 0, to = text.length): boolean {
    const groups = this.scratch;
    const family = parseIpAddress(text, from, to, groups);
    if (family === NOT_AN_ADDRESS) return false;
    if (family === IPV4 || isIpv4Mapped(groups)) {
      const address = ((groups[6]! << 16) | groups[7]!) >>> 0;
      const v4 = this.v4;
      for (let i = 0; i < v4.length; i += 2) if (((address & v4[i + 1]!) >>> 0) === v4[i]) return true;
      if (family === IPV4) return false;
    }
    const v6 = this.v6;
    for (let i = 0; i < v6.length; i += 16) {
      let g = 0;
      while (g < 8 && (groups[g]! & v6[i + 8 + g]!) === v6[i + g]) g++;
      if (g === 8) return true;
    }
    return false;
  }
}

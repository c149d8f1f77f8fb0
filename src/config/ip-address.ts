/**
 * IP address text, read strictly and without allocating: the one parser behind the config's
 * address ranges (proxy.trustedProxies, listeners[].proxyProtocol.trustedSources), the
 * X-Forwarded-For walk on every request and the PROXY protocol header.
 *
 * An address is read into eight 16-bit groups (`out`, a Uint16Array of 8 the caller keeps and
 * reuses). IPv4 fills groups 6 and 7 only ("10.1.2.3" → out[6] = 0x0a01, out[7] = 0x0203).
 *
 * IPv4: exactly four decimal numbers 0–255 separated by single dots, no leading zeros ("010"
 * could be read as octal; the PROXY protocol forbids it and so do we). IPv6: RFC 4291 text,
 * groups of 1–4 hex digits, at most one "::", an optional dotted IPv4 tail; no zone ("%eth0")
 * and no brackets (the caller strips those).
 */

export const NOT_AN_ADDRESS = 0;
export const IPV4 = 4;
export const IPV6 = 6;
export type AddressFamily = typeof NOT_AN_ADDRESS | typeof IPV4 | typeof IPV6;

/** Reads `text[from, to)`; returns IPV4, IPV6 or NOT_AN_ADDRESS (then `out` holds garbage). */
export function parseIpAddress(text: string, from: number, to: number, out: Uint16Array): AddressFamily {
  if (to - from < 2 || to - from > 45) return NOT_AN_ADDRESS;
  for (let i = from; i < to; i++) {
    const c = text.charCodeAt(i);
    if (c === 58 /* : */) return parseIpv6(text, from, to, out);
    if (c === 46 /* . */) break;
  }
  const v4 = parseIpv4(text, from, to);
  if (v4 < 0) return NOT_AN_ADDRESS;
  out[6] = v4 >>> 16;
  out[7] = v4 & 0xffff;
  return IPV4;
}

/** An IPv4 address as a 32-bit unsigned number, or -1. */
export function parseIpv4(text: string, from: number, to: number): number {
  let value = 0;
  let parts = 0;
  let i = from;
  while (parts < 4) {
    const start = i;
    let part = 0;
    while (i < to && i - start < 4) {
      const d = text.charCodeAt(i) - 48;
      if (d < 0 || d > 9) break;
      part = part * 10 + d;
      i++;
    }
    const digits = i - start;
    if (digits === 0 || digits > 3 || part > 255) return -1;
    if (digits > 1 && text.charCodeAt(start) === 48 /* 0 */) return -1;
    value = value * 256 + part;
    parts++;
    if (parts === 4) break;
    if (i >= to || text.charCodeAt(i) !== 46 /* . */) return -1;
    i++;
  }
  return i === to ? value : -1;
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  const lower = c | 0x20;
  if (lower >= 97 && lower <= 102) return lower - 87;
  return -1;
}

function parseIpv6(text: string, from: number, to: number, out: Uint16Array): AddressFamily {
  let i = from;
  let n = 0;
  /** The group index where "::" stands, or -1. */
  let gap = -1;
  if (text.charCodeAt(i) === 58) {
    if (text.charCodeAt(i + 1) !== 58) return NOT_AN_ADDRESS;
    gap = 0;
    i += 2;
  }
  while (i < to) {
    const start = i;
    let group = 0;
    while (i < to && i - start < 5) {
      const d = hexDigit(text.charCodeAt(i));
      if (d < 0) break;
      group = group * 16 + d;
      i++;
    }
    if (i === start) return NOT_AN_ADDRESS;
    if (i < to && text.charCodeAt(i) === 46 /* . */) {
      // A dotted IPv4 tail takes the last two groups.
      if (n > 6) return NOT_AN_ADDRESS;
      const v4 = parseIpv4(text, start, to);
      if (v4 < 0) return NOT_AN_ADDRESS;
      out[n++] = v4 >>> 16;
      out[n++] = v4 & 0xffff;
      i = to;
      break;
    }
    if (i - start > 4 || n === 8) return NOT_AN_ADDRESS;
    out[n++] = group;
    if (i === to) break;
    if (text.charCodeAt(i) !== 58) return NOT_AN_ADDRESS;
    i++;
    if (i < to && text.charCodeAt(i) === 58) {
      if (gap >= 0) return NOT_AN_ADDRESS;
      gap = n;
      i++;
    } else if (i === to) {
      return NOT_AN_ADDRESS; // a single trailing ":"
    }
  }
  if (gap < 0) return n === 8 ? IPV6 : NOT_AN_ADDRESS;
  if (n > 7) return NOT_AN_ADDRESS;
  // Move the groups after "::" to the end and fill the gap with zeros.
  const tail = n - gap;
  for (let k = 1; k <= tail; k++) out[8 - k] = out[n - k]!;
  for (let k = gap; k < 8 - tail; k++) out[k] = 0;
  return IPV6;
}

/** Whether the eight groups are an IPv4-mapped IPv6 address (::ffff:a.b.c.d). */
export function isIpv4Mapped(groups: Uint16Array): boolean {
  return groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff;
}

/** Dotted text of an IPv4 address given as a 32-bit unsigned number. */
export function formatIpv4(value: number): string {
  return `${value >>> 24}.${(value >>> 16) & 0xff}.${(value >>> 8) & 0xff}.${value & 0xff}`;
}

/**
 * IPv6 text as Node writes a socket's remoteAddress (inet_ntop, RFC 5952): lower-case hex,
 * leading zeros dropped, the first longest run of two or more zero groups written "::", and an
 * IPv4-mapped address as "::ffff:a.b.c.d".
 */
export function formatIpv6(groups: ArrayLike<number>): string {
  if (groups[0] === 0 && groups[1] === 0 && groups[2] === 0 && groups[3] === 0 && groups[4] === 0 && groups[5] === 0xffff) {
    return `::ffff:${formatIpv4(((groups[6]! << 16) | groups[7]!) >>> 0)}`;
  }
  let bestStart = -1;
  let bestLength = 1;
  for (let i = 0; i < 8; ) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLength) {
      bestStart = i;
      bestLength = j - i;
    }
    i = j;
  }
  let text = '';
  for (let i = 0; i < 8; i++) {
    if (i === bestStart) {
      text += '::';
      i += bestLength - 1;
      continue;
    }
    if (text !== '' && !text.endsWith(':')) text += ':';
    text += groups[i]!.toString(16);
  }
  return text;
}

/**
 * Why `text` is not an address range ("10.0.0.0/8", "2001:db8::/32", or one address such as
 * "192.0.2.7" or "::1"), or null when it is one. For config validation.
 */
export function addressRangeProblem(text: string): string | null {
  const slash = text.indexOf('/');
  const addressEnd = slash < 0 ? text.length : slash;
  const family = parseIpAddress(text, 0, addressEnd, new Uint16Array(8));
  if (family === NOT_AN_ADDRESS) return `"${text}" is not an IPv4 or IPv6 address range such as "10.0.0.0/8", "2001:db8::/32" or "192.0.2.7"`;
  if (slash < 0) return null;
  const bits = text.slice(slash + 1);
  const max = family === IPV4 ? 32 : 128;
  if (!/^(0|[1-9][0-9]{0,2})$/.test(bits) || Number(bits) > max) return `"${text}": the prefix length after "/" must be a whole number from 0 to ${max}`;
  return null;
}

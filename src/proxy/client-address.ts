import { NOT_AN_ADDRESS, parseIpAddress } from '../config/ip-address.js';
import { AddressRanges } from './address-ranges.js';

/**
 * Whom the router believes about a request's origin, prepared once per configuration from
 * proxy.trustForwardedHeaders, proxy.trustedProxies and proxy.trustedHops. Null (see
 * `forwardedTrust`) when no peer is trusted, so the request path pays one comparison.
 *
 * The rule (Traefik's, with Envoy's hop count as an alternative):
 * - A peer that is not trusted is the client; whatever it wrote in X-Forwarded-For, -Proto,
 *   -Host, -Port, X-Real-IP or Forwarded is dropped and replaced with what the router saw.
 * - A trusted peer's forwarding headers are kept (the router appends to X-Forwarded-For). The
 *   client is the right-most X-Forwarded-For entry that is not itself a trusted proxy: each
 *   trusted proxy appended the address it saw, so that entry is the first one no trusted party
 *   vouches for beyond. With `trustedHops` n instead, the client is the n-th entry from the right.
 */
export class ForwardedTrust {
  private readonly scratch = new Uint16Array(8);
  /** The address of the entry last read by `entryAt` (the router runs one request at a time per thread). */
  private from = 0;
  private to = 0;

  constructor(
    /** proxy.trustedProxies; null when empty. */
    readonly proxies: AddressRanges | null,
    /** Every peer is trusted (trustForwardedHeaders, or trustedHops without trustedProxies). */
    readonly everyPeer: boolean,
    /** proxy.trustedHops (0 = walk past trusted proxies). */
    readonly hops: number,
  ) {}

  /** Whether the connection's peer is a trusted proxy. */
  trustsPeer(peer: string): boolean {
    return this.everyPeer || (this.proxies !== null && this.proxies.contains(peer));
  }

  /**
   * The client address of a request from the trusted peer `peer` carrying `forwardedFor` (the
   * X-Forwarded-For value, repeated fields joined with ","). Reads the header in place; the
   * only string it makes is the address it returns.
   */
  clientBehind(peer: string, forwardedFor: string | undefined): string {
    if (forwardedFor === undefined || forwardedFor.length === 0) return peer;
    return this.hops > 0 ? this.hopFrom(peer, forwardedFor) : this.walk(peer, forwardedFor);
  }

  /**
   * Right to left past trusted proxies. The walk stops at an entry that is not an address (it
   * cannot be checked), and the client is then the last address it accepted: that entry's right
   * neighbour, a trusted proxy (or the peer).
   */
  private walk(peer: string, xff: string): string {
    const proxies = this.proxies;
    let accepted = false;
    let acceptedFrom = 0;
    let acceptedTo = 0;
    for (let end = xff.length; end >= 0; ) {
      const comma = xff.lastIndexOf(',', end - 1);
      if (!this.entryAt(xff, comma + 1, end)) break;
      const from = this.from;
      const to = this.to;
      if (proxies === null || !proxies.contains(xff, from, to)) return xff.slice(from, to);
      accepted = true;
      acceptedFrom = from;
      acceptedTo = to;
      end = comma;
    }
    return accepted ? xff.slice(acceptedFrom, acceptedTo) : peer;
  }

  /** The n-th entry from the right, or the peer when there are fewer or it is not an address. */
  private hopFrom(peer: string, xff: string): string {
    let end = xff.length;
    for (let hop = 1; hop < this.hops; hop++) {
      end = xff.lastIndexOf(',', end - 1);
      if (end < 0) return peer;
    }
    const comma = xff.lastIndexOf(',', end - 1);
    return this.entryAt(xff, comma + 1, end) ? xff.slice(this.from, this.to) : peer;
  }

  /**
   * Finds the address of the X-Forwarded-For entry in `text[from, to)` (into this.from/this.to);
   * false for an empty entry or one that is not an address. Spaces and tabs around it are
   * skipped, and the forms some proxies write are read: "[2001:db8::1]", "[2001:db8::1]:443"
   * and "192.0.2.7:443" (the port is left out).
   */
  private entryAt(text: string, from: number, to: number): boolean {
    if (from > to) return false;
    while (from < to && isSpace(text.charCodeAt(from))) from++;
    while (to > from && isSpace(text.charCodeAt(to - 1))) to--;
    if (from === to) return false;
    if (text.charCodeAt(from) === 91 /* [ */) {
      const close = text.indexOf(']', from);
      if (close < 0 || close >= to) return false;
      if (close + 1 !== to && text.charCodeAt(close + 1) !== 58 /* : */) return false;
      from++;
      to = close;
    } else {
      // "a.b.c.d:port": a single colon after a dot is a port; IPv6 text has two colons or more.
      const colon = text.indexOf(':', from);
      if (colon > from && colon < to) {
        const second = text.indexOf(':', colon + 1);
        if ((second < 0 || second >= to) && text.lastIndexOf('.', colon) >= from) to = colon;
      }
    }
    if (parseIpAddress(text, from, to, this.scratch) === NOT_AN_ADDRESS) return false;
    this.from = from;
    this.to = to;
    return true;
  }
}

function isSpace(c: number): boolean {
  return c === 32 || c === 9;
}

/** The trust settings of a configuration, or null when no peer is trusted. */
export function forwardedTrust(proxy: { trustForwardedHeaders: boolean; trustedProxies: readonly string[]; trustedHops: number }): ForwardedTrust | null {
  const proxies = proxy.trustedProxies.length > 0 ? AddressRanges.parse(proxy.trustedProxies) : null;
  const everyPeer = proxy.trustForwardedHeaders || (proxies === null && proxy.trustedHops > 0);
  if (!everyPeer && proxies === null) return null;
  return new ForwardedTrust(proxies, everyPeer, proxy.trustedHops);
}

/**
 * The client address of a request: `peer` (the connection's client address: the TCP peer, or
 * the address a PROXY protocol header gave) when it is not trusted, else the address found in
 * `forwardedFor` behind it.
 */
export function resolveClientAddress(peer: string, forwardedFor: string | undefined, trust: ForwardedTrust | null): string {
  return trust !== null && trust.trustsPeer(peer) ? trust.clientBehind(peer, forwardedFor) : peer;
}

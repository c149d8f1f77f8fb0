import type { IncomingMessage } from 'node:http';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { HOP_BY_HOP } from '../../../src/proxy/hop-by-hop.js';
import { buildUpstreamHeaders, forwardingHeaderSettings } from '../../../src/proxy/request-headers.js';
import { buildClientHeaders, UpstreamFramingError } from '../../../src/proxy/response-headers.js';

const NAMES = [
  'Host', 'Accept', 'X-Custom', 'x-other', 'Connection', 'Keep-Alive', 'TE', 'Trailer', 'Upgrade', 'Proxy-Authorization', 'Proxy-Connection',
  'X-Forwarded-For', 'X-Forwarded-Proto', 'X-Forwarded-Host', 'X-Forwarded-Port', 'X-Real-IP', 'Forwarded', 'Via', 'X-Request-Id', 'Expect', 'Cookie',
];
/** Headers that say where a request came from: kept only from a trusted peer. */
const FORWARDING = ['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-forwarded-port', 'x-real-ip', 'forwarded'];
const VALUES = ['v', '1.2.3.4', 'close', 'keep-alive', 'x-custom', 'X-Other, cookie', 'upgrade', '100-continue', 'https', ''];
const header = fc.tuple(fc.constantFrom(...NAMES), fc.constantFrom(...VALUES));

/** The header fields buildUpstreamHeaders reads: a plain object standing in for the parsed request. */
function requestOf(pairs: [string, string][]): IncomingMessage {
  const headers: Record<string, string> = {};
  for (const [n, v] of pairs) {
    const lower = n.toLowerCase();
    headers[lower] = headers[lower] === undefined ? v : `${headers[lower]}, ${v}`;
  }
  return { rawHeaders: pairs.flat(), headers, httpVersionMinor: 1 } as unknown as IncomingMessage;
}

function connectionNamed(pairs: [string, string][]): Set<string> {
  const out = new Set<string>();
  for (const [n, v] of pairs) if (n.toLowerCase() === 'connection') for (const t of v.split(',')) if (t.trim()) out.add(t.trim().toLowerCase());
  return out;
}

describe('header filtering (properties)', () => {
  const settings = forwardingHeaderSettings({ trustForwardedHeaders: false, trustedProxies: ['10.0.0.0/8'], trustedHops: 0, requestIdHeader: 'x-request-id', via: 'switchyard' });
  const PEER = '10.0.0.9';

  it('never forwards hop-by-hop headers or those named in Connection, and keeps the others in order', () => {
    fc.assert(
      fc.property(fc.array(header, { maxLength: 12 }), fc.option(fc.constantFrom('a.internal'), { nil: null }), fc.boolean(), (pairs, hostRewrite, trusted) => {
        const out = buildUpstreamHeaders(requestOf(pairs), settings, 'rid', hostRewrite, 'http', null, PEER, trusted);
        const names = out.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
        const valueOf = (name: string): string | undefined => (names.includes(name) ? out[names.indexOf(name) * 2 + 1] : undefined);
        const named = connectionNamed(pairs);
        for (const n of names) {
          expect(HOP_BY_HOP.has(n), n).toBe(false);
          expect(n === 'expect').toBe(false);
          if (!['x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'via', 'x-request-id', 'host'].includes(n)) expect(named.has(n), n).toBe(false);
        }
        for (const single of ['x-forwarded-for', 'via', 'x-request-id']) expect(names.filter((n) => n === single)).toHaveLength(1);
        if (!trusted) expect(names.filter((n) => n === 'x-forwarded-proto')).toHaveLength(1);
        expect(valueOf('x-request-id')).toBe('rid');
        const sent = (name: string) => pairs.filter(([n]) => n.toLowerCase() === name).map(([, v]) => v);
        if (trusted) {
          // A trusted proxy's X-Forwarded-For goes on with the peer appended; its -Proto is kept.
          expect(valueOf('x-forwarded-for')).toBe([...sent('x-forwarded-for'), PEER].join(', '));
          const proto = sent('x-forwarded-proto');
          expect(valueOf('x-forwarded-proto')).toBe(proto.length > 0 && !named.has('x-forwarded-proto') ? proto[0] : 'http');
        } else {
          // An untrusted client's forwarding headers are replaced, never appended to.
          expect(valueOf('x-forwarded-for')).toBe(PEER);
          expect(valueOf('x-forwarded-proto')).toBe('http');
          for (const n of ['x-forwarded-port', 'x-real-ip', 'forwarded']) expect(names.includes(n), n).toBe(false);
        }
        const kept = pairs.filter(([n]) => {
          const l = n.toLowerCase();
          if (FORWARDING.includes(l) && (!trusted || l === 'x-forwarded-for')) return false;
          return !HOP_BY_HOP.has(l) && !named.has(l) && !['expect', 'via', 'x-request-id'].includes(l) && !(l === 'host' && hostRewrite !== null);
        });
        expect(out.slice(0, kept.length * 2)).toEqual(kept.flat());
        if (hostRewrite !== null) expect(names.filter((n) => n === 'host')).toHaveLength(1);
      }),
      { numRuns: 2_000 },
    );
  });

  const RESPONSE_NAMES = ['Content-Type', 'Content-Length', 'Transfer-Encoding', 'Connection', 'Keep-Alive', 'X-Custom', 'Set-Cookie', 'Upgrade', 'Trailer', 'X-Request-Id'];
  const RESPONSE_VALUES = ['text/plain', '5', '12', 'chunked', 'gzip, chunked', 'close', 'x-custom', 'a=1', '-1', ''];

  it('drops hop-by-hop response headers and refuses exactly the ambiguous framings', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(fc.constantFrom(...RESPONSE_NAMES), fc.constantFrom(...RESPONSE_VALUES)), { maxLength: 10 }), (pairs) => {
        const raw = pairs.flatMap(([n, v]) => [Buffer.from(n), Buffer.from(v)]);
        const lengths = pairs.filter(([n]) => n === 'Content-Length').map(([, v]) => v);
        const encodings = pairs.filter(([n]) => n === 'Transfer-Encoding').map(([, v]) => v);
        const ambiguous =
          lengths.length > 1 || lengths.some((v) => !/^\d+$/.test(v)) || encodings.length > 1 || encodings.some((v) => v.trim().toLowerCase() !== 'chunked') || (lengths.length > 0 && encodings.length > 0);
        let out: string[];
        try {
          out = buildClientHeaders(raw, 'x-request-id', 'rid');
        } catch (err) {
          expect(err).toBeInstanceOf(UpstreamFramingError);
          expect(ambiguous).toBe(true);
          return;
        }
        expect(ambiguous).toBe(false);
        const named = connectionNamed(pairs);
        const names = out.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
        for (const n of names) {
          expect(HOP_BY_HOP.has(n), n).toBe(false);
          expect(named.has(n) && n !== 'x-request-id', n).toBe(false);
        }
        expect(names.filter((n) => n === 'x-request-id').length).toBeGreaterThanOrEqual(1);
      }),
      { numRuns: 3_000 },
    );
  });
});

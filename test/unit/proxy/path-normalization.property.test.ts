import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { needsNormalization, normalizePath } from '../../../src/proxy/path-normalization.js';

const SEGMENTS = ['', '.', '..', 'a', 'b', 'public', 'admin', '%2e', '%2E', '%2e%2e', '.%2e', '%2e.', '%61', '%41dmin', '%25', '%252e', '%2F', '%2f', '%5C', '%3B', '..%3b', 'x%3By', ';', '..;', '.;x', 'a;b', '%zz', '%4', '%00', '~', 'caf%C3%A9', '...'];
const SEPARATORS = ['/', '/', '/', '\\', '//'];

/** Paths built from tricky segments and separators, always starting with "/". */
const trickyPath = fc
  .array(fc.tuple(fc.constantFrom(...SEPARATORS), fc.constantFrom(...SEGMENTS)), { minLength: 0, maxLength: 8 })
  .map((parts) => `/${parts.map(([sep, seg], i) => (i === 0 ? seg : sep + seg)).join('')}`);

/** What an upstream that decodes every escape once and splits on "/" and "\" would read. */
function segmentsAfterOneDecode(path: string): string[] {
  const decoded = path.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));
  return decoded.split(/[/\\]/).slice(1);
}

describe('normalizePath (properties)', () => {
  it('is idempotent', () => {
    fc.assert(
      fc.property(trickyPath, fc.boolean(), (path, keep) => {
        const once = normalizePath(path, keep);
        if (typeof once !== 'string') return;
        expect(normalizePath(once, keep)).toBe(once);
        expect(needsNormalization(once)).toBe(once.includes('%'));
      }),
      { numRuns: 2_000 },
    );
  });

  it('leaves nothing an upstream could read as a dot segment, an extra separator or a dot segment with parameters', () => {
    fc.assert(
      fc.property(trickyPath, (path) => {
        const n = normalizePath(path, false);
        if (typeof n !== 'string') return;
        expect(n.startsWith('/')).toBe(true);
        expect(n.includes('//')).toBe(false);
        expect(n.includes('\\')).toBe(false);
        const segments = segmentsAfterOneDecode(n);
        for (let i = 0; i < segments.length; i++) {
          const s = segments[i]!;
          expect(s === '.' || s === '..', n).toBe(false);
          expect(s.startsWith('.;') || s.startsWith('..;'), n).toBe(false);
          // Empty only as the trailing segment of a path ending in "/".
          if (s === '') expect(i === segments.length - 1, n).toBe(true);
        }
      }),
      { numRuns: 3_000 },
    );
  });

  it('agrees with the WHATWG URL parser on paths without escapes or parameters', () => {
    const plain = trickyPath.filter((p) => !p.includes('%') && !p.includes(';'));
    fc.assert(
      fc.property(plain, (path) => {
        const collapsed = path.replace(/\\/g, '/').replace(/\/+/g, '/');
        expect(normalizePath(path, false)).toBe(new URL(`http://h${collapsed}`).pathname);
      }),
      { numRuns: 2_000 },
    );
  });

  it('refuses exactly the paths with malformed escapes, encoded NUL or (in reject mode) encoded slashes', () => {
    fc.assert(
      fc.property(trickyPath, (path) => {
        const r = normalizePath(path, false);
        const malformed = /%(?![0-9A-Fa-f]{2})/.test(path) || /%00/.test(path) || /%(2f|5c)/i.test(path);
        if (malformed) expect(typeof r).not.toBe('string');
      }),
      { numRuns: 2_000 },
    );
  });

  it('returns the same string, without copying, when nothing needs normalising', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z0-9_~-][a-z0-9._~-]*$/), { maxLength: 6 }), (segments) => {
        const path = `/${segments.join('/')}`;
        if (needsNormalization(path)) return;
        expect(normalizePath(path, false)).toBe(path);
      }),
    );
  });
});

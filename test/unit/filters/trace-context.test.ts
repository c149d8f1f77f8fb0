import { describe, expect, it } from 'vitest';
import { isValidTraceparent } from '../../../src/filters/trace-context-filter.js';
import { TraceIdSource } from '../../../src/filters/trace-id-source.js';

const VALID = '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01';

describe('isValidTraceparent', () => {
  it('accepts version 00 and future versions with more fields', () => {
    expect(isValidTraceparent(VALID)).toBe(true);
    expect(isValidTraceparent(VALID.replace(/-01$/, '-00'))).toBe(true);
    expect(isValidTraceparent(`01${VALID.slice(2)}`)).toBe(true);
    expect(isValidTraceparent(`01${VALID.slice(2)}-whatever`)).toBe(true);
  });

  it.each([
    ['too short', VALID.slice(0, 54)],
    ['version 00 with extra fields', `${VALID}-x`],
    ['version ff', `ff${VALID.slice(2)}`],
    ['upper-case hex', VALID.toUpperCase()],
    ['an all-zero trace id', `00-${'0'.repeat(32)}-00f067aa0ba902b7-01`],
    ['an all-zero parent id', `00-4bf92f3577b34da6a3ce929d0e0e4736-${'0'.repeat(16)}-01`],
    ['a wrong separator', VALID.replace('-00f0', '_00f0')],
    ['a non-hex character', VALID.replace('4bf9', '4bg9')],
    ['two joined values', `${VALID}, ${VALID}`],
    ['a future version without "-" after the fields', `01${VALID.slice(2)}x`],
  ])('rejects %s', (_name, value) => {
    expect(isValidTraceparent(value)).toBe(false);
  });
});

describe('TraceIdSource', () => {
  it('gives distinct lower-case hex ids of the asked length across pool refills', () => {
    const source = new TraceIdSource();
    const seen = new Set<string>();
    for (let i = 0; i < 1_000; i++) {
      const id = source.next(16);
      expect(id).toMatch(/^[0-9a-f]{32}$/);
      seen.add(id);
    }
    expect(seen.size).toBe(1_000);
    expect(source.next(8)).toMatch(/^[0-9a-f]{16}$/);
  });
});

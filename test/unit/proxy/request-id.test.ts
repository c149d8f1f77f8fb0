import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newRequestId, requestIdFor } from '../../../src/proxy/request-id.js';

const UUID_V4 = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

describe('request ids', () => {
  it('are UUID v4 text, the shape crypto.randomUUID gives, across several fills of the random pool', () => {
    expect(randomUUID()).toMatch(UUID_V4);
    const seen = new Set<string>();
    for (let i = 0; i < 100_000; i++) {
      const id = newRequestId();
      expect(id).toMatch(UUID_V4);
      seen.add(id);
    }
    expect(seen.size).toBe(100_000);
  });

  it('use every hex digit in every random position (no digit stuck by the byte-to-text step)', () => {
    const digits = Array.from({ length: 36 }, () => new Set<string>());
    for (let i = 0; i < 5_000; i++) {
      const id = newRequestId();
      for (let p = 0; p < 36; p++) digits[p]!.add(id[p]!);
    }
    for (let p = 0; p < 36; p++) {
      if ([8, 13, 18, 23].includes(p)) expect([...digits[p]!]).toEqual(['-']);
      else if (p === 14) expect([...digits[p]!]).toEqual(['4']);
      else if (p === 19) expect([...digits[p]!].sort()).toEqual(['8', '9', 'a', 'b']);
      else expect(digits[p]!.size, `position ${p}`).toBe(16);
    }
  });

  it('propagate an acceptable client id and replace an unacceptable one', () => {
    expect(requestIdFor('abc-123')).toBe('abc-123');
    for (const bad of [undefined, '', 'a b', 'x'.repeat(129), 'caf\u00e9', ['a', 'b']]) expect(requestIdFor(bad)).toMatch(UUID_V4);
  });
});

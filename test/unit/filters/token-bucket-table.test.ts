import { describe, expect, it } from 'vitest';
import { MAX_KEY_LENGTH, TokenBucketTable, type TakeResult } from '../../../src/filters/token-bucket-table.js';

const result = (): TakeResult => ({ allowed: false, remaining: 0, waitMs: 0 });

describe('TokenBucketTable', () => {
  it('lets a burst through, then one request per refill interval, and says how long to wait', () => {
    const t = new TokenBucketTable(10, 3, 100, 0); // 10/s = one token per 100ms, burst 3
    const r = result();
    expect(t.take('a', 0, r)).toMatchObject({ allowed: true, remaining: 2 });
    expect(t.take('a', 0, r)).toMatchObject({ allowed: true, remaining: 1 });
    expect(t.take('a', 0, r)).toMatchObject({ allowed: true, remaining: 0 });
    expect(t.take('a', 0, r)).toMatchObject({ allowed: false, remaining: 0, waitMs: 100 });
    expect(t.take('a', 50, r)).toMatchObject({ allowed: false, waitMs: 50 });
    expect(t.take('a', 100, r).allowed).toBe(true);
    expect(t.take('a', 100, r).allowed).toBe(false);
    // A long quiet spell refills to the burst, not beyond.
    for (let i = 0; i < 3; i++) expect(t.take('a', 10_000, r).allowed).toBe(true);
    expect(t.take('a', 10_000, r).allowed).toBe(false);
  });

  it('keeps one bucket per key', () => {
    const t = new TokenBucketTable(1, 1, 100, 0);
    const r = result();
    expect(t.take('a', 0, r).allowed).toBe(true);
    expect(t.take('a', 0, r).allowed).toBe(false);
    expect(t.take('b', 0, r).allowed).toBe(true);
    expect(t.size).toBe(2);
  });

  it('stays within maxKeys under a flood of distinct keys, and the flood cannot reset a limited key', () => {
    const t = new TokenBucketTable(1, 2, 100, 0);
    const r = result();
    // A client uses up its bucket.
    t.take('victim', 0, r);
    t.take('victim', 0, r);
    expect(t.take('victim', 0, r).allowed).toBe(false);
    // 100,000 distinct keys in the same instant: none of the tracked buckets has refilled.
    let allowed = 0;
    for (let i = 0; i < 100_000; i++) if (t.take(`flood-${i}`, 1, r).allowed) allowed++;
    expect(t.size).toBeLessThanOrEqual(100);
    // The keys that did not fit share one overflow bucket: its burst (2) and no more got through,
    // besides the 99 keys that got a bucket of their own before the table was full.
    expect(allowed).toBe(99 + 2);
    expect(t.overflowTakes).toBe(100_000 - 99);
    expect(t.take('victim', 1, r).allowed).toBe(false);
  });

  it('reclaims buckets that have refilled for new keys', () => {
    const t = new TokenBucketTable(1, 1, 10, 0);
    const r = result();
    for (let i = 0; i < 10; i++) t.take(`old-${i}`, 0, r);
    // Two seconds later every old bucket is full again: new keys take their places.
    for (let i = 0; i < 10; i++) expect(t.take(`new-${i}`, 2_000, r).allowed).toBe(true);
    expect(t.size).toBe(10);
    expect(t.overflowTakes).toBe(0);
  });

  it('moves a busy oldest key to the back so it does not block reclaiming idle ones', () => {
    const t = new TokenBucketTable(1, 1, 3, 0);
    const r = result();
    t.take('busy', 0, r);
    t.take('idle-1', 0, r);
    t.take('idle-2', 0, r);
    t.take('busy', 1_500, r); // busy is drained again at 1.5s; the idle ones are full
    expect(t.take('new', 1_600, r).allowed).toBe(true);
    expect(t.overflowTakes).toBe(0);
    expect(t.take('busy', 1_600, r).allowed).toBe(false);
  });

  it('cuts very long keys so a key cannot hold unbounded memory', () => {
    const t = new TokenBucketTable(1, 1, 10, 0);
    const r = result();
    expect(t.take('x'.repeat(100_000), 0, r).allowed).toBe(true);
    expect(t.take('x'.repeat(MAX_KEY_LENGTH), 0, r).allowed).toBe(false);
  });
});

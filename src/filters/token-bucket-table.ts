/** One key's bucket: tokens left, as of `at` (performance.now() milliseconds). */
interface Bucket {
  tokens: number;
  at: number;
}

/** What taking a token said: taken, or how long until one is there. */
export interface TakeResult {
  allowed: boolean;
  /** Whole tokens left after this request (0 when refused). */
  remaining: number;
  /** Milliseconds until the next token (refused), or until the bucket is full again (allowed). */
  waitMs: number;
}

/** Keys longer than this are cut: a key's memory is bounded whatever a client sends. */
export const MAX_KEY_LENGTH = 256;

/** How many of the oldest keys one new key may look at for a bucket to reuse. */
const RECLAIM_PROBES = 4;

/**
 * Token buckets by key with bounded memory: at most `maxKeys` keys have a bucket of their own
 * (each key cut to MAX_KEY_LENGTH characters). A bucket that has refilled completely holds no
 * information (a new bucket would be the same), so it can be dropped at any time.
 *
 * A new key when the table is full looks at the oldest keys (up to RECLAIM_PROBES): a full
 * bucket is dropped and its place taken; a bucket still in use is moved to the back, so busy
 * keys do not block the reclaim of idle ones. When no place is found, the key takes from the
 * shared overflow bucket (same rate and burst): keys that do not fit are limited together, so
 * a flood of distinct keys can neither grow the table nor reset the buckets of clients that are
 * being limited. Each take is O(1), amortised.
 *
 * The clock is passed in (performance.now() in production) so tests can drive time.
 */
export class TokenBucketTable {
  private readonly buckets = new Map<string, Bucket>();
  private readonly overflow: Bucket;
  /** Tokens added per millisecond. */
  private readonly ratePerMs: number;
  /** Requests that took from the overflow bucket since start. */
  overflowTakes = 0;

  constructor(
    ratePerSecond: number,
    readonly burst: number,
    readonly maxKeys: number,
    now: number,
  ) {
    this.ratePerMs = ratePerSecond / 1000;
    this.overflow = { tokens: burst, at: now };
  }

  /** Keys with a bucket of their own. */
  get size(): number {
    return this.buckets.size;
  }

  /** Takes one token from `key`'s bucket at time `now`; `out` receives the result (reused by the caller). */
  take(key: string, now: number, out: TakeResult): TakeResult {
    if (key.length > MAX_KEY_LENGTH) key = key.slice(0, MAX_KEY_LENGTH);
    let bucket = this.buckets.get(key);
    if (bucket === undefined) {
      bucket = this.place(key, now);
      if (bucket === this.overflow) this.overflowTakes++;
    }
    const tokens = Math.min(this.burst, bucket.tokens + (now - bucket.at) * this.ratePerMs);
    bucket.at = now;
    if (tokens >= 1) {
      bucket.tokens = tokens - 1;
      out.allowed = true;
      out.remaining = Math.floor(bucket.tokens);
      out.waitMs = (this.burst - bucket.tokens) / this.ratePerMs;
    } else {
      bucket.tokens = tokens;
      out.allowed = false;
      out.remaining = 0;
      out.waitMs = (1 - tokens) / this.ratePerMs;
    }
    return out;
  }

  /** A bucket for a key not in the table: a new one, a reclaimed one, or the overflow bucket. */
  private place(key: string, now: number): Bucket {
    const buckets = this.buckets;
    if (buckets.size >= this.maxKeys) {
      let freed = false;
      for (let probe = 0; probe < RECLAIM_PROBES && !freed; probe++) {
        const oldest = buckets.keys().next();
        if (oldest.done === true) break;
        const old = buckets.get(oldest.value)!;
        buckets.delete(oldest.value);
        if (old.tokens + (now - old.at) * this.ratePerMs >= this.burst) freed = true;
        else buckets.set(oldest.value, old);
      }
      if (!freed) return this.overflow;
    }
    const bucket: Bucket = { tokens: this.burst, at: now };
    buckets.set(key, bucket);
    return bucket;
  }
}

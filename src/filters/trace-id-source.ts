import { randomFillSync } from 'node:crypto';

const POOL_BYTES = 4096;

/**
 * Random hex ids for trace and span ids, cut from a pool of random bytes refilled 4 KiB at a
 * time (one randomFillSync per ~170 new traces instead of one per id). Ids are random as W3C
 * trace context asks; they are identifiers, not secrets.
 */
export class TraceIdSource {
  private readonly pool = Buffer.allocUnsafe(POOL_BYTES);
  private offset = POOL_BYTES;

  /** `bytes` random bytes as lower-case hex, never all zeros. */
  next(bytes: number): string {
    for (;;) {
      if (this.offset + bytes > POOL_BYTES) {
        randomFillSync(this.pool);
        this.offset = 0;
      }
      const start = this.offset;
      this.offset += bytes;
      const id = this.pool.toString('hex', start, start + bytes);
      if (!isZeros(id)) return id;
    }
  }
}

function isZeros(hex: string): boolean {
  for (let i = 0; i < hex.length; i++) if (hex.charCodeAt(i) !== 48) return false;
  return true;
}

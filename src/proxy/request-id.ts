import { randomFillSync } from 'node:crypto';

const MAX_ID_LENGTH = 128;

/** Whether a client-supplied request id is safe to propagate: short, visible ASCII. */
function isAcceptableId(id: string): boolean {
  if (id.length === 0 || id.length > MAX_ID_LENGTH) return false;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

/** Propagates the client's request id when acceptable, otherwise makes a new one (UUID v4). */
export function requestIdFor(supplied: string | string[] | undefined): string {
  if (typeof supplied === 'string' && isAcceptableId(supplied)) return supplied;
  return newRequestId();
}

/** Ids drawn from one fill of the random pool (crypto.randomUUID caches 128 the same way). */
const IDS_PER_FILL = 256;
const pool = Buffer.allocUnsafeSlow(16 * IDS_PER_FILL);
let nextId = IDS_PER_FILL;
/** The id being written: 32 hex digits with dashes at 8, 13, 18 and 23 (set once). */
const text = Buffer.from('00000000-0000-4000-8000-000000000000', 'latin1');
const HEX = Buffer.from('0123456789abcdef', 'latin1');

/**
 * A random UUID (version 4, RFC 9562 §5.4) from the crypto RNG, as crypto.randomUUID() makes
 * one, but written as bytes into one buffer and decoded once. randomUUID() joins its 16 hex
 * pairs and 4 dashes into a string piece by piece: about 0.5 KiB of garbage for each id, 6 % of
 * everything a proxied GET allocated (sampled allocation profile, docs/performance.md).
 */
export function newRequestId(): string {
  if (nextId === IDS_PER_FILL) {
    randomFillSync(pool);
    nextId = 0;
  }
  const at = 16 * nextId++;
  let j = 0;
  for (let i = 0; i < 16; i++) {
    if (j === 8 || j === 13 || j === 18 || j === 23) j++;
    let b = pool[at + i]!;
    if (i === 6) b = (b & 0x0f) | 0x40; // version 4
    else if (i === 8) b = (b & 0x3f) | 0x80; // variant 10
    text[j++] = HEX[b >> 4]!;
    text[j++] = HEX[b & 15]!;
  }
  return text.toString('latin1', 0, 36);
}

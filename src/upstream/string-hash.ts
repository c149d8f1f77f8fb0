/**
 * A fast, well-mixed 32-bit hash of a string: FNV-1a over UTF-16 code units, then the
 * MurmurHash3 finaliser so nearby inputs ("10.0.0.1:80#1", "#2") land far apart on a ring.
 * Written here rather than taken from a package: it is a dozen lines, allocates nothing, and
 * consistent hashing needs only distribution, not cryptographic strength.
 */
export function hash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * One bearer token, checked in constant time. Both sides are hashed first (SHA-256) so the
 * comparison has a fixed length and reveals neither where the bytes differ nor the token's
 * length; `crypto.timingSafeEqual` compares the digests.
 */
export class BearerToken {
  private readonly digest: Buffer;

  constructor(token: string) {
    this.digest = sha256(token);
  }

  /**
   * The digest of the token an `Authorization: Bearer <token>` header presents, or null when
   * the header is missing or of another scheme. Hash it once, then ask each token `matches`.
   */
  static presented(authorization: string | undefined): Buffer | null {
    // The scheme is case-insensitive (RFC 9110 §11.1); the token is not.
    if (authorization === undefined || authorization.length < 7 || authorization.slice(0, 7).toLowerCase() !== 'bearer ') return null;
    return sha256(authorization.slice(7).trim());
  }

  /** Whether a presented digest (from `presented`) is this token's, in constant time. */
  matches(presented: Buffer): boolean {
    return timingSafeEqual(presented, this.digest);
  }

  accepts(authorization: string | undefined): boolean {
    const presented = BearerToken.presented(authorization);
    return presented !== null && this.matches(presented);
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

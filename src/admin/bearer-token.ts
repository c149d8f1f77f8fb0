import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Checks `Authorization: Bearer <token>` in constant time. Both sides are hashed first so the
 * comparison has a fixed length and does not reveal the token's length either.
 */
export class BearerToken {
  private readonly digest: Buffer;

  constructor(token: string) {
    this.digest = sha256(token);
  }

  accepts(authorization: string | undefined): boolean {
    // The scheme is case-insensitive (RFC 9110 §11.1); the token is not.
    if (authorization === undefined || authorization.length < 7 || authorization.slice(0, 7).toLowerCase() !== 'bearer ') return false;
    return timingSafeEqual(sha256(authorization.slice(7).trim()), this.digest);
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

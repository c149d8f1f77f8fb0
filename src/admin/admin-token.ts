import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * The admin bearer token. Compared in constant time over SHA-256 digests, so neither the
 * content nor the length of the configured token leaks through response timing.
 */
export class AdminToken {
  private readonly digest: Buffer;

  constructor(token: string) {
    this.digest = sha256(token);
  }

  /** Whether an Authorization header carries this token ("Bearer <token>"). */
  matches(authorization: string | undefined): boolean {
    if (authorization === undefined || authorization.length < 7 || authorization.slice(0, 7).toLowerCase() !== 'bearer ') return false;
    return timingSafeEqual(sha256(authorization.slice(7).trim()), this.digest);
  }
}

function sha256(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

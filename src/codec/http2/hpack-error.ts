/**
 * A header block that cannot be decoded (RFC 7541): a connection error of type
 * COMPRESSION_ERROR (RFC 9113 §4.3), since the decoder's dynamic table is no longer in step
 * with the peer's.
 */
export class HpackError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'HpackError';
  }
}

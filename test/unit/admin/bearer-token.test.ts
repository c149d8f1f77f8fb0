import { describe, expect, it } from 'vitest';
import { BearerToken } from '../../../src/admin/bearer-token.js';

describe('BearerToken', () => {
  const token = new BearerToken('s3cret-token-0123456789');

  it('accepts the bearer token, scheme case-insensitive', () => {
    expect(token.accepts('Bearer s3cret-token-0123456789')).toBe(true);
    expect(token.accepts('bearer s3cret-token-0123456789')).toBe(true);
  });

  it('refuses a missing header, other schemes, prefixes, extensions and other tokens', () => {
    for (const header of [undefined, '', 'Bearer', 'Bearer ', 'Basic s3cret-token-0123456789', 'Bearer s3cret-token-012345678', 'Bearer s3cret-token-01234567890', 'Bearer S3CRET-TOKEN-0123456789', 's3cret-token-0123456789']) {
      expect(token.accepts(header), String(header)).toBe(false);
    }
  });
});

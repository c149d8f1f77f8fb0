import { describe, expect, it } from 'vitest';
import { AdminToken } from '../../../src/admin/admin-token.js';

describe('AdminToken', () => {
  const token = new AdminToken('s3cret-token-0123456789');

  it('accepts the bearer token, scheme case-insensitive', () => {
    expect(token.matches('Bearer s3cret-token-0123456789')).toBe(true);
    expect(token.matches('bearer s3cret-token-0123456789')).toBe(true);
  });

  it('refuses a missing header, other schemes, prefixes, extensions and other tokens', () => {
    for (const header of [undefined, '', 'Bearer', 'Bearer ', 'Basic s3cret-token-0123456789', 'Bearer s3cret-token-012345678', 'Bearer s3cret-token-01234567890', 'Bearer S3CRET-TOKEN-0123456789', 's3cret-token-0123456789']) {
      expect(token.matches(header), String(header)).toBe(false);
    }
  });
});

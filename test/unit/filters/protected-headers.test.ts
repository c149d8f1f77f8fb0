import { describe, expect, it } from 'vitest';
import { PROTECTED_HEADERS } from '../../../src/config/protected-headers.js';
import { HOP_BY_HOP } from '../../../src/proxy/hop-by-hop.js';

describe('PROTECTED_HEADERS', () => {
  it('protects every hop-by-hop header the proxy strips', () => {
    for (const name of HOP_BY_HOP) expect(PROTECTED_HEADERS.has(name), name).toBe(true);
  });
});

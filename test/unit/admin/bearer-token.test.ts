import { beforeEach, describe, expect, it, vi } from 'vitest';

// Watch the comparisons: every token check must go through crypto.timingSafeEqual on two
// SHA-256 digests (32 bytes each), whatever the presented token's length or first bytes.
const compared = vi.hoisted(() => ({ calls: [] as [number, number][] }));
vi.mock('node:crypto', async (original) => {
  const crypto = await original<typeof import('node:crypto')>();
  return {
    ...crypto,
    timingSafeEqual: (a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView) => {
      compared.calls.push([a.byteLength, b.byteLength]);
      return crypto.timingSafeEqual(a, b);
    },
  };
});

const { BearerToken } = await import('../../../src/admin/bearer-token.js');
const { AdminAccess } = await import('../../../src/admin/admin-access.js');

const WRITE = 's3cret-token-0123456789';
const READ = 'read-only-token-0123456789';

describe('BearerToken', () => {
  const token = new BearerToken(WRITE);
  beforeEach(() => {
    compared.calls = [];
  });

  it('accepts the bearer token, scheme case-insensitive', () => {
    expect(token.accepts(`Bearer ${WRITE}`)).toBe(true);
    expect(token.accepts(`bearer ${WRITE}`)).toBe(true);
  });

  it('refuses a missing header, other schemes, prefixes, extensions and other tokens', () => {
    for (const header of [undefined, '', 'Bearer', 'Bearer ', `Basic ${WRITE}`, `Bearer ${WRITE.slice(0, -1)}`, `Bearer ${WRITE}0`, `Bearer ${WRITE.toUpperCase()}`, WRITE]) {
      expect(token.accepts(header), String(header)).toBe(false);
    }
  });

  it('compares equal-length SHA-256 digests with timingSafeEqual, whatever the length presented', () => {
    for (const presented of ['x', WRITE.slice(0, 5), WRITE, `${WRITE}-and-much-longer-than-the-token-itself`, 'z'.repeat(10_000)]) {
      token.accepts(`Bearer ${presented}`);
    }
    expect(compared.calls).toEqual(Array(5).fill([32, 32]));
  });
});

describe('AdminAccess', () => {
  beforeEach(() => {
    compared.calls = [];
  });

  it('leaves reads open and guards mutations with admin.token alone', () => {
    const access = new AdminAccess({ token: WRITE });
    expect(access.checkRead('/api/v1/config', undefined)).toBeNull();
    expect(access.checkMutation(undefined)).toMatchObject({ status: 401, headers: { 'www-authenticate': expect.stringContaining('Bearer') } });
    expect(access.checkMutation(`Bearer ${WRITE}`)).toBeNull();
  });

  it('with admin.readToken: reads need either token; the probes and the status page files stay open', () => {
    const access = new AdminAccess({ token: WRITE, readToken: READ });
    for (const path of ['/api/v1/config', '/api/v1/status', '/metrics', '/api/v1/nothing-here']) {
      expect(access.checkRead(path, undefined), path).toMatchObject({ status: 401, body: { error: 'unauthorized' } });
      expect(access.checkRead(path, 'Bearer wrong-token-0123456789'), path).toMatchObject({ status: 401 });
      expect(access.checkRead(path, `Bearer ${READ}`), path).toBeNull();
      expect(access.checkRead(path, `Bearer ${WRITE}`), path).toBeNull();
    }
    for (const path of ['/healthz', '/readyz', '/', '/status.js', '/status.css', '/favicon.svg']) expect(access.checkRead(path, undefined), path).toBeNull();
  });

  it('refuses a mutation with the read token as forbidden (403), with no token or a wrong one as unauthorized (401)', () => {
    const access = new AdminAccess({ token: WRITE, readToken: READ });
    expect(access.checkMutation(`Bearer ${READ}`)).toMatchObject({ status: 403, body: { error: 'forbidden' } });
    expect(access.checkMutation('Bearer nope-nope-nope-nope')).toMatchObject({ status: 401 });
    expect(access.checkMutation(`Bearer ${WRITE}`)).toBeNull();
    // One token for everything: the same value in both.
    const same = new AdminAccess({ token: WRITE, readToken: WRITE });
    expect(same.checkMutation(`Bearer ${WRITE}`)).toBeNull();
    expect(same.checkRead('/api/v1/status', `Bearer ${WRITE}`)).toBeNull();
  });

  it('compares the presented token with every configured token, in constant time, whichever matches', () => {
    const access = new AdminAccess({ token: WRITE, readToken: READ });
    access.checkRead('/api/v1/status', `Bearer ${READ}`);
    access.checkRead('/api/v1/status', `Bearer ${WRITE}`);
    access.checkRead('/api/v1/status', 'Bearer x');
    access.checkMutation(`Bearer ${WRITE}`);
    access.checkMutation('Bearer x');
    expect(compared.calls).toEqual(Array(10).fill([32, 32]));
  });
});

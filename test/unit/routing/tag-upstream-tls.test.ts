import { describe, expect, it } from 'vitest';
import type { ServiceInstance } from '../../../src/registry/service-instance.js';
import { tagUpstreamTls } from '../../../src/routing/tag-upstream-tls.js';

const instance = (tags: string[]): ServiceInstance => ({ id: 'n/x', service: 'x', address: '127.0.0.1', port: 1, weight: 1, tags, meta: {}, health: 'passing' });
const tls = (tags: string[], prefix: string | null = 'urlprefix-') => tagUpstreamTls(instance(tags), prefix);

describe('tagUpstreamTls', () => {
  it('declares nothing without a valid proto=https route tag', () => {
    expect(tls([])).toBeUndefined();
    expect(tls(['urlprefix-/a', 'urlprefix-/b proto=http', 'primary'])).toBeUndefined();
    expect(tls(['urlprefix-/a proto=https weight=0'])).toBeUndefined();
    expect(tls(['route-/a proto=https'])).toBeUndefined();
    expect(tls(['urlprefix-/a proto=https'], null)).toBeUndefined();
  });

  it('declares verified TLS unless every https tag skips verification', () => {
    expect(tls(['urlprefix-/a proto=https'])).toEqual({ verify: true });
    expect(tls(['urlprefix-/a proto=https tlsskipverify=true'])).toEqual({ verify: false });
    expect(tls(['urlprefix-/a proto=https tlsskipverify=true', 'urlprefix-/b proto=https'])).toEqual({ verify: true });
    expect(tls(['route-/a proto=https'], 'route-')).toEqual({ verify: true });
  });

  it('returns the same object for the same answer (an unchanged answer keeps the pool)', () => {
    expect(tls(['urlprefix-/a proto=https'])).toBe(tls(['urlprefix-/b proto=https']));
    expect(tls(['urlprefix-/a proto=https tlsskipverify=true'])).toBe(tls(['urlprefix-/c proto=https tlsskipverify=true']));
  });
});

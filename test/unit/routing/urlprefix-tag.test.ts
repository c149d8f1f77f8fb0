import { describe, expect, it } from 'vitest';
import { parseUrlprefixTag } from '../../../src/routing/urlprefix-tag.js';

const parse = (tag: string) => parseUrlprefixTag(tag, 'urlprefix-');

describe('parseUrlprefixTag', () => {
  it('ignores tags without the prefix', () => {
    expect(parse('primary')).toBeNull();
    expect(parseUrlprefixTag('urlprefix-/a', 'route-')).toBeNull();
  });

  it('parses host-less and host routes, normalising host case and trailing slashes', () => {
    expect(parse('urlprefix-/api/')).toEqual({
      ok: true,
      route: { host: undefined, path: '/api', stripPrefix: false, rewritePrefix: undefined, hostRewrite: undefined, https: false, tlsSkipVerify: false },
    });
    expect(parse('urlprefix-Shop.Example.com/')).toMatchObject({ ok: true, route: { host: 'shop.example.com', path: '/' } });
    expect(parse('urlprefix-*.example.com/x')).toMatchObject({ ok: true, route: { host: '*.example.com', path: '/x' } });
  });

  it('maps strip= to stripPrefix or to a partial rewrite', () => {
    expect(parse('urlprefix-/api strip=/api')).toMatchObject({ ok: true, route: { stripPrefix: true } });
    expect(parse('urlprefix-/api/v1 strip=/api')).toMatchObject({ ok: true, route: { stripPrefix: false, rewritePrefix: '/v1' } });
    expect(parse('urlprefix-/api strip=/other')).toMatchObject({ ok: false, reason: expect.stringContaining('not a prefix') });
    expect(parse('urlprefix-/apix strip=/api')).toMatchObject({ ok: false });
  });

  it('accepts proto=http and host=<name>, rejects what it cannot honour', () => {
    expect(parse('urlprefix-/a proto=http host=internal.example')).toMatchObject({ ok: true, route: { hostRewrite: 'internal.example' } });
    expect(parse('urlprefix-/a proto=tcp')).toMatchObject({ ok: false, reason: expect.stringContaining('proto=tcp') });
    expect(parse('urlprefix-/a proto=grpc')).toMatchObject({ ok: false, reason: expect.stringContaining('services.<name>.protocol') });
    expect(parse('urlprefix-/a host=dst')).toMatchObject({ ok: false });
    // A name the route's hostRewrite would refuse rejects the tag (it used to throw while the route table was built).
    expect(parse('urlprefix-/a host=bad_host!')).toMatchObject({ ok: false, reason: expect.stringContaining('must be a host name') });
    expect(parse('urlprefix-/a host=Internal.Example:8443')).toMatchObject({ ok: true, route: { hostRewrite: 'internal.example:8443' } });
    expect(parse('urlprefix-/a redirect=301,https://x')).toMatchObject({ ok: false, reason: expect.stringContaining('redirect') });
  });

  it('reads weight= as a fixed share and rejects a weight that is not a number above 0', () => {
    expect(parse('urlprefix-/a weight=0.2')).toMatchObject({ ok: true, route: { weight: 0.2 } });
    expect(parse('urlprefix-/a weight=1.5')).toMatchObject({ ok: true, route: { weight: 1.5 } });
    expect(parse('urlprefix-/a')).toMatchObject({ ok: true, route: { weight: undefined } });
    for (const bad of ['weight=0', 'weight=-0.1', 'weight=', 'weight=abc', 'weight=Infinity']) {
      expect(parse(`urlprefix-/a ${bad}`)).toMatchObject({ ok: false, reason: expect.stringContaining('must be a number above 0') });
    }
  });

  it('maps proto=https and tlsskipverify= to upstream TLS', () => {
    expect(parse('urlprefix-/a proto=https')).toMatchObject({ ok: true, route: { https: true, tlsSkipVerify: false } });
    expect(parse('urlprefix-/a proto=https tlsskipverify=true')).toMatchObject({ ok: true, route: { https: true, tlsSkipVerify: true } });
    expect(parse('urlprefix-/a proto=https tlsskipverify=false')).toMatchObject({ ok: true, route: { https: true, tlsSkipVerify: false } });
    expect(parse('urlprefix-/a tlsskipverify=true')).toMatchObject({ ok: false, reason: expect.stringContaining('only applies with proto=https') });
    expect(parse('urlprefix-/a proto=https tlsskipverify=yes')).toMatchObject({ ok: false, reason: expect.stringContaining('true or false') });
  });

  it('rejects tags without a path or with a bad host', () => {
    expect(parse('urlprefix-example.com')).toMatchObject({ ok: false, reason: expect.stringContaining('no path') });
    expect(parse('urlprefix-bad_host!/x')).toMatchObject({ ok: false, reason: expect.stringContaining('host') });
    expect(parse('urlprefix-example.com:8080/x')).toMatchObject({ ok: false });
  });
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchJson } from '../../support/http-client.js';
import { startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

describe('routing over real sockets', () => {
  let ups: TestUpstream[];
  let proxy: ProxyHarness;

  beforeAll(async () => {
    ups = await Promise.all(['root', 'api', 'api-v1', 'shop', 'wild', 'deep-wild', 'canary', 'post'].map((n) => startUpstream(n)));
    const svc = Object.fromEntries(ups.map((u) => [u.name, [{ port: u.port }]]));
    proxy = await startProxy({
      services: svc,
      config: {
        routes: [
          { name: 'root', match: { path: '/' }, service: 'root' },
          { name: 'api', match: { path: '/api' }, service: 'api', stripPrefix: true },
          { name: 'api-v1', match: { path: '/api/v1/' }, service: 'api-v1', rewritePrefix: '/v1-internal' },
          { name: 'shop', match: { host: 'shop.example.com', path: '/' }, service: 'shop', hostRewrite: 'shop.internal' },
          { name: 'wild', match: { host: '*.example.com', path: '/' }, service: 'wild' },
          { name: 'deep-wild', match: { host: '*.eu.example.com', path: '/' }, service: 'deep-wild' },
          { name: 'canary', match: { path: '/api', headers: { 'x-canary': 'yes' } }, service: 'canary' },
          { name: 'post', match: { path: '/api', methods: ['POST'] }, service: 'post' },
        ],
      },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await Promise.all(ups.map((u) => u.close()));
  });

  const get = (path: string, headers: Record<string, string> = {}, method = 'GET') => fetchJson<EchoReply>(`${proxy.url}${path}`, { headers, method });

  it('sends the longest matching prefix to its service', async () => {
    expect((await get('/anything')).json.instance).toBe('root');
    expect((await get('/api/users')).json.instance).toBe('api');
    expect((await get('/api/v1/users')).json.instance).toBe('api-v1');
  });

  it('matches prefixes on segment boundaries only', async () => {
    expect((await get('/api')).json.instance).toBe('api');
    expect((await get('/api/')).json.instance).toBe('api');
    expect((await get('/apix')).json.instance).toBe('root');
    expect((await get('/api/v1')).json.instance).toBe('api-v1');
    expect((await get('/api/v10')).json.instance).toBe('api');
  });

  it('strips and rewrites prefixes, keeping the query string', async () => {
    expect((await get('/api/users?x=1')).json.url).toBe('/users?x=1');
    expect((await get('/api')).json.url).toBe('/');
    expect((await get('/api?q=2')).json.url).toBe('/?q=2');
    expect((await get('/api/v1/users?y')).json.url).toBe('/v1-internal/users?y');
    expect((await get('/api/v1')).json.url).toBe('/v1-internal');
    expect((await get('/plain/path?z=3')).json.url).toBe('/plain/path?z=3');
  });

  it('prefers exact host, then the most specific wildcard, then host-less routes', async () => {
    expect((await get('/', { host: 'shop.example.com' })).json.instance).toBe('shop');
    expect((await get('/', { host: 'SHOP.Example.com:8443' })).json.instance).toBe('shop');
    expect((await get('/', { host: 'blog.example.com' })).json.instance).toBe('wild');
    expect((await get('/', { host: 'a.b.example.com' })).json.instance).toBe('wild');
    expect((await get('/', { host: 'paris.eu.example.com' })).json.instance).toBe('deep-wild');
    expect((await get('/', { host: 'example.com' })).json.instance).toBe('root');
    expect((await get('/', { host: 'other.org' })).json.instance).toBe('root');
  });

  it('falls through from a host group to host-less routes when the host group has no matching route', async () => {
    // shop.example.com only routes "/", which matches everything, so use a host whose group cannot match:
    expect((await get('/api/users', { host: 'unknown.test' })).json.instance).toBe('api');
  });

  it('rewrites the Host header when the route says so and keeps it otherwise', async () => {
    const shop = await get('/', { host: 'shop.example.com' });
    expect(shop.json.headers.host).toBe('shop.internal');
    expect(shop.json.headers['x-forwarded-host']).toBe('shop.example.com');
    const plain = await get('/', { host: 'keep.me:1234' });
    expect(plain.json.headers.host).toBe('keep.me:1234');
  });

  it('prefers routes with more conditions at the same prefix, and falls back when they do not hold', async () => {
    expect((await get('/api/x', { 'x-canary': 'yes' })).json.instance).toBe('canary');
    expect((await get('/api/x', { 'x-canary': 'no' })).json.instance).toBe('api');
    expect((await get('/api/x', {}, 'POST')).json.instance).toBe('post');
    expect((await get('/api/x', {}, 'PUT')).json.instance).toBe('api');
  });
});

import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

describe('route header rules', () => {
  let app: TestUpstream;
  let proxy: ProxyHarness;
  const base = {
    listeners: [{ name: 'test', address: '127.0.0.1', port: 0 }],
    admin: { address: '127.0.0.1', port: 0 },
    registry: { type: 'file', path: 'services.yaml', debounce: '20ms' },
  };

  beforeAll(async () => {
    app = await startUpstream('app', (req, res) => {
      const body = JSON.stringify({ instance: 'app', method: req.method, url: req.url, headers: req.headers, rawHeaders: req.rawHeaders, bodyBytes: 0 });
      res.writeHead(200, [
        'content-type', 'application/json',
        'server', 'app/1.0',
        'x-powered-by', 'node',
        'X-Powered-By', 'express',
        'x-keep', 'yes',
        'cache-control', 'private',
      ]);
      res.end(body);
    });
    proxy = await startProxy({
      services: { app: [{ port: app.port }] },
      config: {
        routes: [
          {
            name: 'shop',
            match: { host: 'shop.example.com', path: '/' },
            service: 'app',
            headerRules: {
              request: {
                remove: ['x-internal', 'Cookie'],
                set: { 'x-env': 'prod', 'x-client': 'ip=${clientAddress} id=${requestId}', 'x-route': '${route}@${host}', 'x-price': 'costs $$5' },
                add: { 'x-tag': 'edge' },
              },
              response: { remove: ['x-powered-by', 'server'], set: { 'cache-control': 'no-store' }, add: { 'x-served-by': '${route}' } },
            },
          },
          { name: 'plain', match: { path: '/' }, service: 'app' },
        ],
      },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await app.close();
  });

  it('removes, sets and adds request headers with variables', async () => {
    const r = await fetchJson<EchoReply>(`${proxy.url}/x`, {
      headers: { host: 'shop.example.com:8080', 'x-internal': 'secret', cookie: 'a=1', 'x-env': 'dev', 'x-tag': 'client', 'x-request-id': 'req-123' },
    });
    const h = r.json.headers;
    expect(h['x-internal']).toBeUndefined();
    expect(h.cookie).toBeUndefined();
    expect(h['x-env']).toBe('prod');
    expect(h['x-client']).toBe('ip=127.0.0.1 id=req-123');
    expect(h['x-route']).toBe('shop@shop.example.com');
    expect(h['x-price']).toBe('costs $5');
    // add appends after the client's own value.
    expect(h['x-tag']).toBe('client, edge');
    // The proxy's own headers are still there and untouched.
    expect(h['x-request-id']).toBe('req-123');
    expect(h['x-forwarded-for']).toBe('127.0.0.1');
    expect(h.via).toBe('1.1 switchyard');
  });

  it('removes, sets and adds response headers', async () => {
    const r = await fetchText(`${proxy.url}/x`, { headers: { host: 'shop.example.com' } });
    expect(r.headers['x-powered-by']).toBeUndefined();
    expect(r.headers.server).toBeUndefined();
    expect(r.headers['cache-control']).toBe('no-store');
    expect(r.headers['x-served-by']).toBe('shop');
    expect(r.headers['x-keep']).toBe('yes');
    expect(r.headers['x-request-id']).toBeDefined();
  });

  it('leaves routes without rules alone', async () => {
    const r = await fetchText(`${proxy.url}/x`, { headers: { host: 'other.example.com', 'x-internal': 'kept' } });
    expect(r.headers.server).toBe('app/1.0');
    expect((JSON.parse(r.body) as EchoReply).headers['x-internal']).toBe('kept');
  });

  it.each([
    ['a hop-by-hop header', { request: { set: { connection: 'close' } } }, /headerRules\.request\.set\.connection: is a hop-by-hop, framing or proxy-owned header/],
    ['a proxy-owned header', { request: { remove: ['X-Forwarded-For'] } }, /headerRules\.request\.remove\[0\]: is a hop-by-hop, framing or proxy-owned header/],
    ['a framing header', { response: { add: { 'transfer-encoding': 'gzip' } } }, /headerRules\.response\.add\.transfer-encoding: is a hop-by-hop/],
    ['the request id header', { response: { remove: ['x-request-id'] } }, /headerRules\.response: must not change the request id header "x-request-id"/],
    ['an unknown variable', { request: { set: { 'x-a': '${user}' } } }, /headerRules\.request\.set\.x-a: unknown variable "\$\{user\}"/],
    ['an unclosed variable', { request: { set: { 'x-a': '${route' } } }, /is not closed with "}"/],
    ['a stray $', { request: { set: { 'x-a': 'a$b' } } }, /"\$" at 1 starts no variable/],
    ['a line break in a value', { request: { set: { 'x-a': 'a\r\nb: c' } } }, /must not contain CR, LF or NUL/],
    ['a bad header name', { request: { set: { 'x a': 'v' } } }, /must be a valid HTTP header name/],
  ])('rejects %s with the field named', async (_name, headerRules, expected) => {
    await writeFile(proxy.configFile, stringify({ ...base, routes: [{ name: 'r', service: 'app', headerRules }] }));
    await expect(proxy.app.reload()).rejects.toThrow(expected);
  });
});

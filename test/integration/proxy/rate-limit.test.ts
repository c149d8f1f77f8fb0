import { Agent } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { parsePrometheusText } from '../../support/prometheus-text.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';

interface RouteJson {
  name: string;
  rateLimit: { by: string; burst: number; maxKeys: number; keys: number; overflowRequests: number; allowed: number; limited: number } | null;
}

describe('route rate limit', () => {
  let app: TestUpstream;
  let proxy: ProxyHarness;
  let admin: string;
  const base = {
    listeners: [{ name: 'test', address: '127.0.0.1', port: 0 }],
    admin: { address: '127.0.0.1', port: 0 },
    registry: { type: 'file', path: 'services.yaml', debounce: '20ms' },
  };
  const routes = (perKeyRequests: number) => [
    { name: 'by-key', match: { path: '/key' }, service: 'app', rateLimit: { requests: perKeyRequests, per: '1m', by: 'header', header: 'x-api-key', maxKeys: 50 } },
    { name: 'whole', match: { path: '/whole' }, service: 'app', rateLimit: { requests: 2, per: '1m', by: 'route' } },
    { name: 'by-client', match: { path: '/client' }, service: 'app', rateLimit: { requests: 1, per: '1h', burst: 2 } },
    { name: 'free', match: { path: '/' }, service: 'app' },
  ];
  const routeView = async (name: string) => (await fetchJson<RouteJson[]>(`${admin}/api/v1/routes`)).json.find((r) => r.name === name)!;

  beforeAll(async () => {
    app = await startUpstream('app');
    proxy = await startProxy({ services: { app: [{ port: app.port }] }, config: { routes: routes(3) } });
    admin = `http://127.0.0.1:${proxy.app.adminAddress!.port}`;
  });
  afterAll(async () => {
    await proxy.close();
    await app.close();
  });

  it('answers 429 past the burst with Retry-After and the IETF RateLimit fields, per key', async () => {
    const agent = new Agent({ keepAlive: true });
    const statuses: number[] = [];
    for (let i = 0; i < 4; i++) statuses.push((await fetchText(`${proxy.url}/key`, { headers: { 'x-api-key': 'alice' }, agent })).status);
    expect(statuses).toEqual([200, 200, 200, 429]);
    const limited = await fetchText(`${proxy.url}/key`, { headers: { 'x-api-key': 'alice' }, agent });
    expect(limited.status).toBe(429);
    const retryAfter = Number(limited.headers['retry-after']);
    // 3 per minute: the next token is at most 20 s away.
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(20);
    expect(limited.headers['ratelimit-policy']).toBe('"default";q=3;w=60');
    expect(limited.headers['ratelimit']).toBe(`"default";r=0;t=${retryAfter}`);
    expect(limited.headers['x-switchyard-error']).toBe('rate_limited');
    expect(JSON.parse(limited.body)).toMatchObject({ error: 'rate_limited' });
    // The connection stays usable, another key has its own bucket, and the unlimited route is untouched.
    expect((await fetchText(`${proxy.url}/key`, { headers: { 'x-api-key': 'bob' }, agent })).status).toBe(200);
    expect((await fetchText(`${proxy.url}/other`, { agent })).status).toBe(200);
    agent.destroy();
  });

  it('limits the whole route with by: route, and the client address by default (with burst)', async () => {
    expect([(await fetchText(`${proxy.url}/whole`)).status, (await fetchText(`${proxy.url}/whole`)).status, (await fetchText(`${proxy.url}/whole`)).status]).toEqual([200, 200, 429]);
    expect([(await fetchText(`${proxy.url}/client`)).status, (await fetchText(`${proxy.url}/client`)).status, (await fetchText(`${proxy.url}/client`)).status]).toEqual([200, 200, 429]);
    const limited = await fetchText(`${proxy.url}/client`);
    expect(limited.headers['ratelimit-policy']).toBe('"default";q=1;w=3600');
  });

  it('counts allowed and limited requests in metrics and the admin API', async () => {
    const samples = parsePrometheusText((await fetchText(`${admin}/metrics`)).body).filter((s) => s.name === 'switchyard_rate_limit_requests_total');
    const value = (route: string, result: string) => samples.find((s) => s.labels.route === route && s.labels.result === result)?.value;
    expect(value('by-key', 'allowed')).toBe(4);
    expect(value('by-key', 'limited')).toBe(2);
    expect(value('whole', 'limited')).toBe(1);
    const view = await routeView('by-key');
    expect(view.rateLimit).toMatchObject({ by: 'header x-api-key', burst: 3, maxKeys: 50, keys: 2, allowed: 4, limited: 2 });
    expect((await routeView('free')).rateLimit).toBeNull();
  });

  it('keeps the buckets across a reload that leaves the limit unchanged, and starts afresh when it changes', async () => {
    await writeFile(proxy.configFile, stringify({ ...base, routes: routes(3) }));
    await proxy.app.reload();
    expect((await fetchText(`${proxy.url}/key`, { headers: { 'x-api-key': 'alice' } })).status).toBe(429);
    await writeFile(proxy.configFile, stringify({ ...base, routes: routes(4) }));
    await proxy.app.reload();
    expect((await fetchText(`${proxy.url}/key`, { headers: { 'x-api-key': 'alice' } })).status).toBe(200);
  });

  it('stays within maxKeys under a flood of distinct keys; the keys that do not fit share one bucket', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: 8 });
    const statuses = new Map<number, number>();
    let next = 0;
    const client = async () => {
      while (next < 2_000) {
        const i = next++;
        const status = (await fetchText(`${proxy.url}/key`, { headers: { 'x-api-key': `flood-${i}` }, agent })).status;
        statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
    };
    await Promise.all(Array.from({ length: 8 }, client));
    agent.destroy();
    const view = await routeView('by-key');
    expect(view.rateLimit!.keys).toBeLessThanOrEqual(50);
    expect(view.rateLimit!.overflowRequests).toBeGreaterThan(1_900);
    // Only the keys with a bucket and the overflow bucket's burst got through.
    expect(statuses.get(200)).toBeLessThanOrEqual(50 + 4);
    expect(statuses.get(429)).toBeGreaterThanOrEqual(2_000 - 54);
  });

  it('rejects a bad rate limit with the field named', async () => {
    await writeFile(proxy.configFile, stringify({ ...base, routes: [{ name: 'x', service: 'app', rateLimit: { requests: 0 } }] }));
    await expect(proxy.app.reload()).rejects.toThrow(/routes\[0\]\.rateLimit\.requests: must be a number of requests above 0/);
    await writeFile(proxy.configFile, stringify({ ...base, routes: [{ name: 'x', service: 'app', rateLimit: { requests: 5, by: 'header' } }] }));
    await expect(proxy.app.reload()).rejects.toThrow(/routes\[0\]\.rateLimit\.header: is required with by: header/);
    await writeFile(proxy.configFile, stringify({ ...base, routes: [{ name: 'x', service: 'app', rateLimit: { requests: 5, per: '0s' } }] }));
    await expect(proxy.app.reload()).rejects.toThrow(/routes\[0\]\.rateLimit\.per: must be a duration above 0/);
    await writeFile(proxy.configFile, stringify({ ...base, routes: [{ name: 'x', service: 'app', rateLimit: { requests: 5, maxKeys: 0 } }] }));
    await expect(proxy.app.reload()).rejects.toThrow(/routes\[0\]\.rateLimit\.maxKeys: must be a whole number from 1 to 1000000/);
  });
});

describe('rate limit by client address behind a trusted proxy', () => {
  // 127.0.0.1 plays the load balancer (proxy.trustedProxies); 127.0.0.2 a client that reaches the router directly.
  let app: TestUpstream;
  let proxy: ProxyHarness;

  beforeAll(async () => {
    app = await startUpstream('app');
    proxy = await startProxy({
      services: { app: [{ port: app.port }] },
      config: {
        proxy: { trustedProxies: ['127.0.0.1/32'] },
        routes: [{ name: 'by-client', match: { path: '/' }, service: 'app', rateLimit: { requests: 1, per: '1h', by: 'clientAddress' } }],
      },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await app.close();
  });

  const get = async (localAddress: string, xff?: string) =>
    (await fetchText(`${proxy.url}/`, { localAddress, headers: xff === undefined ? {} : { 'x-forwarded-for': xff } })).status;

  it('gives each client behind the trusted proxy a bucket of its own', async () => {
    expect(await get('127.0.0.1', '198.51.100.1')).toBe(200);
    expect(await get('127.0.0.1', '198.51.100.2')).toBe(200);
    expect(await get('127.0.0.1', '198.51.100.1')).toBe(429);
    expect(await get('127.0.0.1', '198.51.100.2')).toBe(429);
    // A spoofed entry left of the proxy's own does not make a new client.
    expect(await get('127.0.0.1', '203.0.113.50, 198.51.100.1')).toBe(429);
    expect(await get('127.0.0.1', '198.51.100.3')).toBe(200);
  });

  it('logs a refused request with the client address it was limited by', async () => {
    const headers = { 'x-forwarded-for': '198.51.100.20', 'user-agent': 'limited/1' };
    expect((await fetchText(`${proxy.url}/`, { localAddress: '127.0.0.1', headers: { ...headers, 'x-request-id': 'rl-first' } })).status).toBe(200);
    expect((await fetchText(`${proxy.url}/`, { localAddress: '127.0.0.1', headers: { ...headers, 'x-request-id': 'rl-refused' } })).status).toBe(429);
    const line = () => proxy.log.lines.find((l) => l.component === 'access' && l.requestId === 'rl-refused');
    await eventually(() => line() !== undefined, 5_000, 'the refused request in the access log');
    expect(line()).toMatchObject({ status: 429, error: 'rate_limited', clientAddress: '198.51.100.20', userAgent: 'limited/1', protocol: 'HTTP/1.1' });
  });

  it('keeps an untrusted peer in its own bucket whatever X-Forwarded-For it sends', async () => {
    expect(await get('127.0.0.2', '198.51.100.10')).toBe(200);
    expect(await get('127.0.0.2', '198.51.100.11')).toBe(429);
    expect(await get('127.0.0.2', '198.51.100.12, 198.51.100.13')).toBe(429);
    expect(await get('127.0.0.2')).toBe(429);
  });
});

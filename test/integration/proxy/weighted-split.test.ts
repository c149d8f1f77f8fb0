import { Agent, request } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchJson } from '../../support/http-client.js';
import { startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';

interface RouteJson {
  name: string;
  service: string;
  backends: { service: string; weight: number; percent: number; requests: number }[] | null;
  requests: number;
}

/** Sends `n` GETs over `concurrency` keep-alive connections; counts answers by upstream instance. */
async function splitOf(url: string, n: number, headers: (i: number) => Record<string, string> = () => ({}), concurrency = 8): Promise<Map<string, number>> {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const counts = new Map<string, number>();
  let next = 0;
  const client = async (): Promise<void> => {
    while (next < n) {
      const i = next++;
      const instance = await new Promise<string>((resolve, reject) => {
        const req = request(`${url}/split/${i}`, { agent, headers: headers(i) }, (res) => {
          let body = '';
          res.setEncoding('utf8');
          res.on('data', (c: string) => (body += c));
          res.on('end', () => (res.statusCode === 200 ? resolve((JSON.parse(body) as { instance: string }).instance) : reject(new Error(`status ${res.statusCode}: ${body}`))));
        });
        req.on('error', reject);
        req.end();
      });
      counts.set(instance, (counts.get(instance) ?? 0) + 1);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  agent.destroy();
  return counts;
}

describe('weighted split between services', () => {
  let v1: TestUpstream;
  let v2: TestUpstream;
  let proxy: ProxyHarness;
  let admin: string;
  const base = {
    listeners: [{ name: 'test', address: '127.0.0.1', port: 0 }],
    admin: { address: '127.0.0.1', port: 0 },
    registry: { type: 'file', path: 'services.yaml', debounce: '20ms' },
  };
  const splitRoute = (w1: number, w2: number, extra: Record<string, unknown> = {}) => ({
    name: 'checkout',
    match: { path: '/' },
    backends: [
      { service: 'checkout-v1', weight: w1 },
      { service: 'checkout-v2', weight: w2 },
    ],
    ...extra,
  });

  beforeAll(async () => {
    v1 = await startUpstream('v1');
    v2 = await startUpstream('v2');
    proxy = await startProxy({
      services: { 'checkout-v1': [{ port: v1.port }], 'checkout-v2': [{ port: v2.port }] },
      config: { routes: [splitRoute(90, 10)] },
    });
    admin = `http://127.0.0.1:${proxy.app.adminAddress!.port}`;
  });
  afterAll(async () => {
    await proxy.close();
    await v1.close();
    await v2.close();
  });

  it('splits 10,000 requests 90/10 within 1 percentage point (smooth weighted round robin: exactly)', async () => {
    const counts = await splitOf(proxy.url, 10_000);
    const v2Share = (counts.get('v2') ?? 0) / 10_000;
    expect(Math.abs(v2Share - 0.1)).toBeLessThanOrEqual(0.01);
    expect(counts.get('v1')! + counts.get('v2')!).toBe(10_000);
    // The round robin is exact over whole cycles of 100 picks.
    expect(counts).toEqual(new Map([['v1', 9000], ['v2', 1000]]));
  });

  it('shows the split and what each service got in the admin API routes output', async () => {
    const routes = (await fetchJson<RouteJson[]>(`${admin}/api/v1/routes`)).json;
    const route = routes.find((r) => r.name === 'checkout')!;
    expect(route.service).toBe('checkout-v1 90% | checkout-v2 10%');
    expect(route.backends).toEqual([
      { service: 'checkout-v1', weight: 90, percent: 90, requests: 9000 },
      { service: 'checkout-v2', weight: 10, percent: 10, requests: 1000 },
    ]);
    expect(route.requests).toBe(10_000);
  });

  it('applies a weight change on reload without a restart', async () => {
    await writeFile(proxy.configFile, stringify({ ...base, routes: [splitRoute(25, 75)] }));
    await proxy.app.reload();
    const counts = await splitOf(proxy.url, 1_000);
    expect(counts).toEqual(new Map([['v1', 250], ['v2', 750]]));
    const route = (await fetchJson<RouteJson[]>(`${admin}/api/v1/routes`)).json.find((r) => r.name === 'checkout')!;
    expect(route.service).toBe('checkout-v1 25% | checkout-v2 75%');
  });

  it('sends all traffic to one service when the other is set to weight 0', async () => {
    await writeFile(proxy.configFile, stringify({ ...base, routes: [splitRoute(0, 1)] }));
    await proxy.app.reload();
    expect(await splitOf(proxy.url, 200)).toEqual(new Map([['v2', 200]]));
  });

  it('applies a split set through the admin API (route add override)', async () => {
    const added = await fetchJson(`${admin}/api/v1/overrides`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ op: 'add', route: splitRoute(1, 1) }),
    });
    expect(added.status).toBeLessThan(300);
    expect(await splitOf(proxy.url, 200)).toEqual(new Map([['v1', 100], ['v2', 100]]));
    const bad = await fetchJson(`${admin}/api/v1/overrides`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ op: 'add', route: splitRoute(0, 0) }),
    });
    expect(bad.status).toBe(400);
    expect(JSON.stringify(bad.json)).toContain('at least one backend must have a weight above 0');
    await fetchJson(`${admin}/api/v1/overrides`, { method: 'DELETE' });
  });

  it('keeps a client on one service with a sticky cookie, and spreads clients by weight', async () => {
    await writeFile(proxy.configFile, stringify({ ...base, routes: [splitRoute(50, 50, { sticky: { cookie: 'user' } })] }));
    await proxy.app.reload();
    const alice = await splitOf(proxy.url, 100, () => ({ cookie: 'user=alice' }));
    expect(alice.size).toBe(1);
    const clients = await splitOf(proxy.url, 2_000, (i) => ({ cookie: `user=u${i}` }));
    // Hashing 2,000 distinct keys is a sample: a generous bound around 50%.
    expect(clients.get('v1')! / 2_000).toBeGreaterThan(0.4);
    expect(clients.get('v1')! / 2_000).toBeLessThan(0.6);
  });
});

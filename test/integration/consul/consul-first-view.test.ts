import { afterEach, describe, expect, it } from 'vitest';
import { ConsulEmulator } from '../../support/consul-emulator.js';
import { startConsulProxy, type ConsulProxyHarness } from '../../support/consul-proxy-harness.js';
import { fetchText } from '../../support/http-client.js';
import { eventually } from '../../support/proxy-harness.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';

const SERVICES = 120;

describe('the first registry view at start-up', () => {
  let upstream: TestUpstream | null = null;
  let consul: ConsulEmulator | null = null;
  let h: ConsulProxyHarness | null = null;

  afterEach(async () => {
    await h?.close();
    await consul?.close();
    await upstream?.close();
    h = consul = upstream = null;
  });

  it('is applied whole: no request is routed from a half-read registry, and /readyz turns 200 only once every service routes', async () => {
    upstream = await startUpstream('a');
    consul = await ConsulEmulator.start();
    for (let i = 0; i < SERVICES; i++) {
      consul.register({ Name: `web-${i}`, ID: `web-${i}-a`, Address: '127.0.0.1', Port: upstream.port, Tags: [`urlprefix-/web-${i}`], Check: { TTL: '10m', Status: 'passing' } });
    }
    // Consul is down at start: the router starts without it (registry.waitAtStart false).
    await consul.stop();
    h = await startConsulProxy({ consul, config: { admin: { address: '127.0.0.1', port: 0 } } });
    const app = h.app;
    const admin = `http://127.0.0.1:${app.adminAddress!.port}`;
    expect((await fetchText(`${admin}/readyz`)).status).toBe(503);

    // Every route-table size the router ever shows, sampled on every turn of the event loop.
    const sizes = new Set<number>();
    let sampling = true;
    const sample = () => {
      sizes.add(app.routeTable.routes.length);
      if (sampling) setImmediate(sample);
    };
    sample();

    // Consul comes back slow, so reading every service takes many event-loop turns.
    consul.slow(15);
    await consul.listen();

    // Clients keep asking for every service while the view is read; /readyz is polled beside them.
    const outcomes: { i: number; status: number; routesBefore: number }[] = [];
    let readyAt: number | null = null;
    let routesWhenReady = -1;
    let stop = false;
    const client = async (offset: number) => {
      for (let n = offset; !stop; n += 7) {
        const i = n % SERVICES;
        const routesBefore = app.routeTable.routes.length;
        const r = await fetchText(`${h!.url}/web-${i}`);
        outcomes.push({ i, status: r.status, routesBefore });
      }
    };
    const readiness = async () => {
      while (!stop && readyAt === null) {
        const r = await fetchText(`${admin}/readyz`);
        if (r.status === 200) {
          readyAt = outcomes.length;
          routesWhenReady = app.routeTable.routes.length;
        }
      }
    };
    const clients = [client(0), client(3), client(5), readiness()];
    const routedServices = () => new Set(outcomes.filter((o) => o.status === 200).map((o) => o.i)).size;
    await eventually(() => readyAt !== null && routedServices() === SERVICES, 30_000, 'readiness, then every service routed');
    stop = true;
    sampling = false;
    await Promise.all(clients);

    // The table went from empty to whole in one swap.
    expect([...sizes].sort((a, b) => a - b)).toEqual([0, SERVICES]);
    expect(routesWhenReady).toBe(SERVICES);
    // Before the swap nothing routed (no answer from the upstream); after it, every service did.
    const routed = outcomes.filter((o) => o.status === 200);
    expect(outcomes.some((o) => o.routesBefore === 0 && o.status !== 200)).toBe(true);
    expect(routed.length).toBeGreaterThan(SERVICES);
    // A request sent once the table was whole was routed, whichever service it asked for.
    expect(outcomes.filter((o) => o.routesBefore === SERVICES && o.status !== 200)).toEqual([]);
  });

  it('retries a service read Consul refuses (429) during the first load without starting the load again', async () => {
    upstream = await startUpstream('a');
    consul = await ConsulEmulator.start();
    for (let i = 0; i < 20; i++) {
      consul.register({ Name: `web-${i}`, ID: `web-${i}-a`, Address: '127.0.0.1', Port: upstream.port, Tags: [`urlprefix-/web-${i}`], Check: { TTL: '10m', Status: 'passing' } });
    }
    // Consul's agent rate limit refuses the service reads for a while.
    consul.setFault({ kind: 'status', status: 429, body: 'rate limit exceeded' }, /^\/v1\/health\/service\//);
    setTimeout(() => consul?.clearFaults(), 150);
    h = await startConsulProxy({ consul, registry: { waitAtStart: true, startTimeout: '10s' }, config: { admin: { address: '127.0.0.1', port: 0 } } });
    expect(h.app.routeTable.routes).toHaveLength(20);
    expect(h.app.ready).toBe(true);
    // One first load: the catalog was read once at start, the refused reads were retried one by one.
    const catalogReads = consul.requests.filter((r) => r.path === '/v1/catalog/services' && !r.query.has('index'));
    expect(catalogReads).toHaveLength(1);
    // More service reads than services: some were refused and read again.
    expect(consul.requests.filter((r) => r.path.startsWith('/v1/health/service/')).length).toBeGreaterThan(20);
    expect((await fetchText(`${h.url}/web-7`)).status).toBe(200);
  });
});

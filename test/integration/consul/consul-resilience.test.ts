import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load-config.js';
import type { ConsulRegistryConfig } from '../../../src/config/schema.js';
import { ConsulRegistry } from '../../../src/registry/consul/consul-registry.js';
import { ConsulEmulator, type ServiceRegistration } from '../../support/consul-emulator.js';
import { startConsulProxy, FAST_CONSUL_REGISTRY, type ConsulProxyHarness } from '../../support/consul-proxy-harness.js';
import { fetchText } from '../../support/http-client.js';
import { captureLog } from '../../support/log-capture.js';
import { eventually } from '../../support/proxy-harness.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

/** Shortened stand-in for a 30 s Consul outage; the load and the checks are the same. */
/** Consul stays down this long under steady load (30 s, as operators see in a real outage). */
const OUTAGE_MS = 30_000;
const ROUTES = { routes: [{ name: 'web', match: { path: '/web' }, service: 'web' }] };

describe('Consul failures: last known good, index resets, outages, ACLs', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let c: TestUpstream;
  let h: ConsulProxyHarness | null = null;

  beforeAll(async () => {
    [a, b, c] = await Promise.all([startUpstream('a'), startUpstream('b'), startUpstream('c')]);
  });
  afterAll(async () => {
    await Promise.all([a, b, c].map((u) => u.close()));
  });
  afterEach(async () => {
    await h?.close();
    h = null;
  });

  const web = (u: TestUpstream): ServiceRegistration => ({ Name: 'web', ID: `web-${u.name}`, Address: '127.0.0.1', Port: u.port, Check: { TTL: '10m', Status: 'passing' } });
  const hit = async (path = '/web') => {
    const r = await fetchText(`${h!.url}${path}`);
    return r.status === 200 ? (JSON.parse(r.body) as EchoReply).instance : `status ${r.status}`;
  };
  const onlyFrom = async (names: string[]) => {
    const seen = new Set<string>();
    for (let i = 0; i < 8; i++) seen.add(await hit());
    return [...seen].sort().join() === [...names].sort().join();
  };
  const registry = () => (h!.app as unknown as { registry: ConsulRegistry }).registry;
  const watchRequests = (consul: ConsulEmulator, since: number) =>
    consul.requests.filter((r) => r.time >= since && (r.path === '/v1/catalog/services' || r.path === '/v1/health/state/any'));

  it('handles an index that goes backwards with a fresh read and no busy loop', async () => {
    h = await startConsulProxy({ config: ROUTES });
    h.consul.register(web(a));
    await eventually(() => onlyFrom(['a']), 5_000, 'a routable');
    h.consul.register({ Name: 'filler', Port: 1 });
    h.consul.resetIndex(1, true);
    // The watches see the index below theirs and start over with a fresh read: at once when the
    // reset wakes them, or (like Consul) when their wait ends if they re-issued just after it.
    await eventually(() => h!.log.find('index went backwards').length > 0, 15_000, 'the reset to be noticed');
    h.consul.register(web(b));
    await eventually(() => onlyFrom(['a', 'b']), 5_000, 'change after the reset picked up');

    // A flapping index (backwards every few ms) for a while: re-issues stay rate limited.
    const since = Date.now();
    let flip = 0;
    const flapper = setInterval(() => h!.consul.resetIndex(++flip % 2 ? 500 : 5, true), 3);
    await new Promise((r) => setTimeout(r, 1_000));
    clearInterval(flapper);
    const elapsed = Date.now() - since;
    const sent = watchRequests(h.consul, since).length;
    // Two watches, at most one request per 100 ms each (minInterval), plus the one in flight.
    expect(sent).toBeLessThanOrEqual(2 * (Math.ceil(elapsed / 100) + 1));
    expect(sent).toBeGreaterThan(0);
    // Index 0 is never sent as a blocking index.
    expect(h.consul.requests.filter((r) => r.query.get('index') === '0')).toEqual([]);
    h.consul.resetIndex(1000, true);
    h.consul.register(web(c));
    await eventually(() => onlyFrom(['a', 'b', 'c']), 5_000, 'routing still follows Consul after flapping');
  });

  it('keeps a steady load at zero failures through a Consul outage and picks up changes made during it', async () => {
    h = await startConsulProxy({ config: ROUTES });
    h.consul.register(web(a));
    h.consul.register(web(b));
    await eventually(() => onlyFrom(['a', 'b']), 5_000, 'a and b routable');

    let stop = false;
    let ok = 0;
    const failures: string[] = [];
    // Bounded steady load: three clients, one request every ~5 ms each, at most 60,000 in all.
    const MAX_REQUESTS = 60_000;
    const client = async () => {
      while (!stop && ok + failures.length < MAX_REQUESTS) {
        try {
          const r = await fetchText(`${h!.url}/web`);
          if (r.status === 200) ok++;
          else failures.push(`status ${r.status}: ${r.body}`);
        } catch (err) {
          failures.push((err as Error).message);
        }
        await new Promise((r) => setTimeout(r, 5));
      }
    };
    const load = Promise.all([client(), client(), client()]);

    await new Promise((r) => setTimeout(r, 300));
    await h.consul.stop();
    // Changes made in Consul while the router cannot reach it.
    h.consul.register(web(c));
    h.consul.deregister('web-b');
    await eventually(() => registry().status().staleSince != null, 5_000, 'staleness visible in status');
    await new Promise((r) => setTimeout(r, OUTAGE_MS));
    const during = registry().status();
    expect(during.lastError).toMatch(/cannot reach Consul/);
    expect(during.synced).toBe(true);
    // The last known endpoints keep serving (requests interleave with the load, so look at the registry).
    expect(new Set(registry().current().services.get('web')!.instances.map((i) => i.port))).toEqual(new Set([a.port, b.port]));

    await h.consul.listen();
    // Within one blocking wait (5 s here) plus backoff once Consul answers again.
    await eventually(() => onlyFrom(['a', 'c']), 20_000, 'changes made during the outage applied');
    stop = true;
    await load;
    expect(failures).toEqual([]);
    expect(ok).toBeGreaterThan(0);
    console.info(`Consul down ${OUTAGE_MS / 1000} s under steady load: ${ok} requests answered, ${failures.length} failed`);
    await eventually(() => registry().status().staleSince === null && registry().status().lastError === null, 5_000, 'staleness cleared');
    expect(h.log.find('Consul registry failing')).toHaveLength(1);
    expect(h.log.find('Consul registry recovered')).toHaveLength(1);
  }, 90_000);

  for (const [what, apply] of [
    ['500 No cluster leader', (consul: ConsulEmulator) => consul.noLeader()],
    ['429 rate limited', (consul: ConsulEmulator) => consul.setFault({ kind: 'status', status: 429, body: 'rate limit exceeded' })],
    ['garbage bodies', (consul: ConsulEmulator) => consul.setFault({ kind: 'garbage' })],
    ['hung requests', (consul: ConsulEmulator) => consul.setFault({ kind: 'hang' })],
    ['slow answers', (consul: ConsulEmulator) => consul.slow(1_500)],
    ['dropped connections', (consul: ConsulEmulator) => consul.setFault({ kind: 'destroy' })],
  ] as const) {
    it(`keeps the last known endpoints on ${what} and catches up afterwards`, async () => {
      h = await startConsulProxy({ config: ROUTES, registry: { timeout: '300ms', wait: '1s' } });
      h.consul.register(web(a));
      await eventually(() => onlyFrom(['a']), 5_000, 'a routable');
      apply(h.consul);
      h.consul.dropConnections();
      h.consul.register(web(b));
      await eventually(() => registry().status().lastError !== null, 5_000, 'error visible in status');
      expect(await onlyFrom(['a'])).toBe(true);
      h.consul.clearFaults();
      await eventually(() => onlyFrom(['a', 'b']), 10_000, 'change applied after recovery');
      await eventually(() => registry().status().lastError === null, 5_000, 'error cleared');
      expect(h.log.find('Consul registry failing').length).toBeGreaterThan(0);
      expect(h.log.find('Consul registry failing').length).toBeLessThanOrEqual(3);
    });
  }

  it('keeps routing when the token is revoked, and says so in status', async () => {
    const consul = await ConsulEmulator.start({ acl: { reader: { serviceRead: '*', write: false } } });
    try {
      h = await startConsulProxy({ consul, config: ROUTES, registry: { token: 'reader' } });
      consul.register(web(a));
      await eventually(() => onlyFrom(['a']), 5_000, 'a routable');
      consul.setAcl({});
      consul.dropConnections();
      consul.register(web(b));
      await eventually(() => /refused the ACL token/.test(registry().status().lastError ?? ''), 5_000, 'ACL error in status');
      expect(await onlyFrom(['a'])).toBe(true);
      consul.setAcl({ reader: { serviceRead: '*', write: false } });
      await eventually(() => onlyFrom(['a', 'b']), 10_000, 'recovered with the token back');
    } finally {
      await h?.close();
      h = null;
      await consul.close();
    }
  });
});

describe('start-up errors', () => {
  let consul: ConsulEmulator;
  beforeAll(async () => {
    consul = await ConsulEmulator.start({ acl: { good: { serviceRead: '*', write: false } } });
  });
  afterAll(async () => {
    await consul.close();
  });

  const consulConfig = (extra: Record<string, unknown>): ConsulRegistryConfig => {
    const config = parseConfigText('test.yaml', JSON.stringify({ registry: { type: 'consul', address: consul.address, ...FAST_CONSUL_REGISTRY, ...extra } }));
    return config.registry as ConsulRegistryConfig;
  };

  it('a bad token fails start-up at once with a clear error, also in status', async () => {
    const log = captureLog();
    const registry = new ConsulRegistry({ config: consulConfig({ token: 'wrong' }), configFile: 'test.yaml', logger: log.logger });
    const started = Date.now();
    await expect(registry.start()).rejects.toThrow(/refused the ACL token \(403 ACL not found\).*CONSUL_HTTP_TOKEN/);
    expect(Date.now() - started).toBeLessThan(2_000);
    expect(registry.status()).toMatchObject({ source: 'consul', synced: false, lastError: expect.stringMatching(/ACL not found/) });
    await registry.close();
  });

  it('the router refuses to start on a bad token and names the fix', async () => {
    await expect(startConsulProxy({ consul, registry: { token: 'wrong' } })).rejects.toThrow(/Consul registry cannot start: .*refused the ACL token.*set registry.token or CONSUL_HTTP_TOKEN/);
  });

  it('takes the address and token from CONSUL_HTTP_ADDR and CONSUL_HTTP_TOKEN', async () => {
    const saved = { addr: process.env.CONSUL_HTTP_ADDR, token: process.env.CONSUL_HTTP_TOKEN };
    process.env.CONSUL_HTTP_ADDR = consul.url;
    process.env.CONSUL_HTTP_TOKEN = 'good';
    try {
      const registry = new ConsulRegistry({ config: consulConfig({ address: undefined }), configFile: 'test.yaml', logger: captureLog().logger });
      await registry.start();
      expect(registry.status()).toMatchObject({ location: consul.url, synced: true, lastError: null });
      await registry.close();
    } finally {
      process.env.CONSUL_HTTP_ADDR = saved.addr ?? '';
      process.env.CONSUL_HTTP_TOKEN = saved.token ?? '';
      if (saved.addr === undefined) delete process.env.CONSUL_HTTP_ADDR;
      if (saved.token === undefined) delete process.env.CONSUL_HTTP_TOKEN;
    }
  });

  it('with waitAtStart: an unreachable Consul fails start-up after startTimeout with the address in the error', async () => {
    const down = await ConsulEmulator.start();
    const address = down.address;
    await down.close();
    const registry = new ConsulRegistry({ config: consulConfig({ address, startTimeout: '300ms', waitAtStart: true }), configFile: 'test.yaml', logger: captureLog().logger });
    await expect(registry.start()).rejects.toThrow(new RegExp(`cannot reach Consul at http://${address}`));
  });
});

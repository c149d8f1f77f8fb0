import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startConsulProxy, type ConsulProxyHarness } from '../../support/consul-proxy-harness.js';
import { fetchText } from '../../support/http-client.js';
import { parsePrometheusText, value, type Sample } from '../../support/prometheus-text.js';
import { eventually } from '../../support/proxy-harness.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';

describe('Consul registry state on the admin /metrics', () => {
  let a: TestUpstream;
  let h: ConsulProxyHarness | null = null;

  beforeAll(async () => {
    a = await startUpstream('a');
  });
  afterAll(async () => {
    await a.close();
  });
  afterEach(async () => {
    await h?.close();
    h = null;
  });

  async function scrape(): Promise<Sample[]> {
    const admin = h!.app.adminAddress!;
    const r = await fetchText(`http://127.0.0.1:${admin.port}/metrics`);
    expect(r.status).toBe(200);
    return parsePrometheusText(r.body);
  }
  const metric = async (name: string) => value(await scrape(), name);

  it('shows staleness and rising sync errors during an outage, and 0 stale after recovery', async () => {
    h = await startConsulProxy({ config: { routes: [{ name: 'web', match: { path: '/web' }, service: 'web' }] } });
    h.consul.register({ Name: 'web', ID: 'web-a', Address: '127.0.0.1', Port: a.port, Check: { TTL: '10m', Status: 'passing' } });
    await eventually(async () => (await fetchText(`${h!.url}/web`)).status === 200, 5_000, 'web routable');

    let m = await scrape();
    expect(value(m, 'switchyard_registry_synced')).toBe(1);
    expect(value(m, 'switchyard_registry_stale_seconds')).toBe(0);
    // In sync: the watches hold live blocking queries, so the data is current.
    expect(value(m, 'switchyard_registry_sync_age_seconds')).toBe(0);
    const errorsBefore = value(m, 'switchyard_registry_sync_errors_total')!;
    expect(errorsBefore).toBe(0);

    await h.consul.stop();
    await eventually(async () => (await metric('switchyard_registry_stale_seconds'))! > 0, 5_000, 'stale seconds above 0');
    m = await scrape();
    const firstErrors = value(m, 'switchyard_registry_sync_errors_total')!;
    expect(firstErrors).toBeGreaterThan(errorsBefore);
    expect(value(m, 'switchyard_registry_sync_age_seconds')).toBeGreaterThan(0);
    expect(value(m, 'switchyard_registry_synced')).toBe(1);
    // The watches keep retrying with backoff: the counter keeps rising and staleness grows.
    const firstStale = value(m, 'switchyard_registry_stale_seconds')!;
    await eventually(async () => (await metric('switchyard_registry_sync_errors_total'))! > firstErrors, 5_000, 'sync errors rising');
    await eventually(async () => (await metric('switchyard_registry_stale_seconds'))! > firstStale, 5_000, 'stale seconds growing');
    // The last known endpoint keeps serving.
    expect((await fetchText(`${h.url}/web`)).status).toBe(200);

    await h.consul.listen();
    await eventually(async () => (await metric('switchyard_registry_stale_seconds')) === 0, 10_000, 'stale back to 0');
    m = await scrape();
    expect(value(m, 'switchyard_registry_sync_age_seconds')).toBe(0);
    const errorsAfter = value(m, 'switchyard_registry_sync_errors_total')!;
    expect(errorsAfter).toBeGreaterThan(firstErrors);
    // No more errors once Consul answers again.
    await new Promise((r) => setTimeout(r, 300));
    expect(await metric('switchyard_registry_sync_errors_total')).toBe(errorsAfter);
  });

  it('reads stale by default, shows X-Consul-LastContact and KnownLeader in status and metrics, and re-reads from the leader past maxStale', async () => {
    h = await startConsulProxy({ config: { routes: [{ name: 'web', match: { path: '/web' }, service: 'web' }] }, registry: { maxStale: '2s' } });
    h.consul.setLastContact(1_500);
    h.consul.register({ Name: 'web', ID: 'web-a', Address: '127.0.0.1', Port: a.port, Check: { TTL: '10m', Status: 'passing' } });
    await eventually(async () => (await fetchText(`${h!.url}/web`)).status === 200, 5_000, 'web routable');
    const admin = h.app.adminAddress!;
    const status = async () => JSON.parse((await fetchText(`http://127.0.0.1:${admin.port}/api/v1/registry`)).body) as { consul: Record<string, unknown> };
    expect((await status()).consul).toMatchObject({ consistency: 'stale', knownLeader: true, lastContactMs: 1_500, effectiveConsistency: 'stale', staleRetries: 0 });
    expect(h.consul.requestsTo('/v1/health/service/web').every((r) => r.query.has('stale'))).toBe(true);
    let m = await scrape();
    expect(value(m, 'switchyard_registry_consul_last_contact_seconds')).toBe(1.5);
    expect(value(m, 'switchyard_registry_consul_known_leader')).toBe(1);
    expect(value(m, 'switchyard_registry_consul_stale_retries_total')).toBe(0);
    expect(value(m, 'switchyard_registry_consul_requests_total')).toBeGreaterThan(0);
    expect(value(m, 'switchyard_registry_consul_response_bytes_total')).toBeGreaterThan(0);

    // A follower 9 s behind the leader: its answers are read again from the leader.
    h.consul.setLastContact(9_000);
    h.consul.setCheckStatus('service:web-a', 'warning');
    await eventually(async () => (await status()).consul.staleRetries !== 0, 5_000, 'stale answers read again from the leader');
    // The retry is counted when it is decided; its request reaches the emulator a moment later.
    const fromLeader = () => h!.consul.requests.filter((r) => r.path.startsWith('/v1/') && !r.query.has('stale'));
    await eventually(() => fromLeader().length > 0, 5_000, 'a read from the leader');
    expect(fromLeader().length).toBeGreaterThan(0);
    m = await scrape();
    expect(value(m, 'switchyard_registry_consul_stale_retries_total')).toBeGreaterThan(0);
    // The leader's own answer says 0 ms.
    expect((await status()).consul).toMatchObject({ lastContactMs: 0, effectiveConsistency: 'leader' });
  });
});

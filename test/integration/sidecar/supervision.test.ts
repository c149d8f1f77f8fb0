import { afterEach, describe, expect, it } from 'vitest';
import { ConsulEmulator } from '../../support/consul-emulator.js';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { eventually } from '../../support/proxy-harness.js';
import { startSidecar, type InProcessSidecar } from '../../support/sidecar-harness.js';

function checkStatuses(emulator: ConsulEmulator): string[] {
  return emulator.calls.filter((c) => c.op === 'check').map((c) => (c.detail as { status: string }).status);
}

/** The statuses with repeats collapsed: passing, passing, critical → passing, critical. */
function transitions(statuses: string[]): string[] {
  return statuses.filter((s, i) => i === 0 || statuses[i - 1] !== s);
}

describe('sidecar: app supervision', () => {
  let emulator: ConsulEmulator | null = null;
  let sc: InProcessSidecar | null = null;
  afterEach(async () => {
    await sc?.close();
    await emulator?.close();
    sc = null;
    emulator = null;
  });

  it('restarts a crashed app with backoff; the Consul check goes critical, then passing again', async () => {
    // The check starts critical (registered before the app is up), passes, fails with the crash, passes again.
    emulator = await ConsulEmulator.start();
    sc = await startSidecar(emulator, { consul: { check: { ttl: '10s' } } });
    await eventually(() => checkStatuses(emulator!).includes('passing'), 10_000, 'check passing');
    const before = await fetchJson<{ pid: number }>(`${sc.url}/hello`);

    await fetchText(`http://127.0.0.1:${sc.appPorts[0]}/crash`).catch(() => undefined);
    await eventually(() => transitions(checkStatuses(emulator!)).join(',') === 'critical,passing,critical,passing', 10_000, 'check critical then passing');

    const after = await fetchJson<{ pid: number }>(`${sc.url}/hello`);
    expect(after.status).toBe(200);
    expect(after.json.pid).not.toBe(before.json.pid);
    const restart = sc.log.find('app instance exited unexpectedly; restarting after backoff')[0]!;
    expect(restart).toMatchObject({ instance: 0, code: 3, recentRestarts: 1, restartInMs: 50 });
    // The app's own output is in the structured log, tagged with its instance.
    const crashLine = sc.log.find('instance 0: crashing as asked')[0]!;
    expect(crashLine).toMatchObject({ instance: 0, stream: 'stderr', component: 'app' });
    expect(sc.log.find('app instance started')).toHaveLength(2);
  });

  it('doubles the backoff with each restart inside the crash-loop window', async () => {
    sc = await startSidecar(null, { app: { restart: { initialBackoff: '20ms', maxBackoff: '10s', crashLoopRestarts: 10 } } });
    for (let i = 0; i < 3; i++) {
      await eventually(async () => (await fetchText(`${sc!.url}/hello`)).status === 200, 10_000, 'app up');
      await fetchText(`http://127.0.0.1:${sc.appPorts[0]}/crash`).catch(() => undefined);
      await eventually(() => sc!.log.find('restarting after backoff').length === i + 1, 10_000, 'restart logged');
    }
    expect(sc.log.find('restarting after backoff').map((l) => l.restartInMs)).toEqual([20, 40, 80]);
  });

  it('answers 503 over_capacity beyond the concurrency limit and the queue; queued requests complete', async () => {
    sc = await startSidecar(null, { inbound: { maxConcurrent: 2, queue: 1 } });
    await eventually(async () => (await fetchText(`${sc!.url}/hello`)).status === 200, 10_000, 'app up');
    const held = [1, 2, 3].map((i) => fetchJson<{ released: string }>(`${sc!.url}/slow?id=r${i}`));
    // Two forwarded (held by the app), one queued in the sidecar.
    await eventually(async () => (await fetchJson<{ held: number }>(`http://127.0.0.1:${sc!.appPorts[0]}/held`)).json.held === 2, 10_000, 'two held');
    await eventually(() => sc!.sidecar.inFlight === 3, 10_000, 'one queued');

    const rejected = await fetchJson<{ error: string; message: string }>(`${sc.url}/hello`);
    expect(rejected.status).toBe(503);
    expect(rejected.headers['x-switchyard-error']).toBe('over_capacity');
    expect(rejected.json.error).toBe('over_capacity');
    expect(rejected.json.message).toContain('2 request(s) in progress and 1 waiting');

    // Releasing lets the queued one through; all three complete.
    await fetchJson(`http://127.0.0.1:${sc.appPorts[0]}/release-all`);
    await eventually(async () => (await fetchJson<{ held: number }>(`http://127.0.0.1:${sc!.appPorts[0]}/held`)).json.held === 1, 10_000, 'queued one forwarded');
    await fetchJson(`http://127.0.0.1:${sc.appPorts[0]}/release-all`);
    const results = await Promise.all(held);
    expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
    expect(results.map((r) => r.json.released).sort()).toEqual(['r1', 'r2', 'r3']);
    expect(sc.sidecar.inFlight).toBe(0);
  });

  it('stops routing to an instance its health check finds unhealthy, and answers 503 when none is healthy', async () => {
    sc = await startSidecar(null, { app: { instances: 2 } });
    await eventually(async () => (await fetchText(`${sc!.url}/hello`)).status === 200, 10_000, 'app up');
    await eventually(() => sc!.log.find('app instance is healthy').length === 2, 10_000, 'both healthy');
    await fetchJson(`http://127.0.0.1:${sc.appPorts[0]}/sick`);
    await eventually(() => sc!.log.find('app instance is unhealthy').length === 1, 10_000, 'instance 0 unhealthy');
    for (let i = 0; i < 4; i++) expect((await fetchJson<{ instance: string }>(`${sc.url}/hello`)).json.instance).toBe('1');
    await fetchJson(`http://127.0.0.1:${sc.appPorts[1]}/sick`);
    await eventually(() => sc!.log.find('app instance is unhealthy').length === 2, 10_000, 'both unhealthy');
    const r = await fetchText(`${sc.url}/hello`);
    expect(r.status).toBe(503);
    expect(r.headers['x-switchyard-error']).toBe('no_healthy_endpoint');
  });

  it('answers 504 when the app does not respond within the request timeout', async () => {
    sc = await startSidecar(null, { inbound: { requestTimeout: '300ms' } });
    await eventually(async () => (await fetchText(`${sc!.url}/hello`)).status === 200, 10_000, 'app up');
    const r = await fetchText(`${sc.url}/slow?id=never`);
    expect(r.status).toBe(504);
    expect(r.headers['x-switchyard-error']).toBe('upstream_timeout');
  });

  it('passes the heap limit in NODE_OPTIONS and restarts an instance whose RSS stays above the limit', async () => {
    sc = await startSidecar(null, { app: { memory: { maxOldSpace: '192MiB', rssLimit: '150MiB', rssLimitFor: '200ms', rssCheckInterval: '50ms' } } });
    await eventually(async () => (await fetchText(`${sc!.url}/hello`)).status === 200, 10_000, 'app up');
    const first = await fetchJson<{ pid: number; nodeOptions: string }>(`${sc.url}/hello`);
    expect(first.json.nodeOptions).toContain('--max-old-space-size=192');
    await fetchJson(`${sc.url}/grow?mb=200`);
    await eventually(() => sc!.log.find('stayed above its RSS limit; restarting it').length >= 1, 10_000, 'RSS restart');
    await eventually(async () => {
      const r = await fetchText(`${sc!.url}/hello`);
      return r.status === 200 && (JSON.parse(r.body) as { pid: number }).pid !== first.json.pid;
    }, 10_000, 'restarted instance serving');
    expect(sc.log.find('app instance stopped for a restart')[0]).toMatchObject({ instance: 0, reason: expect.stringContaining('above the limit of 150 MiB') });
  });

  it('forwards SIGHUP to every app instance', async () => {
    sc = await startSidecar(null, { app: { instances: 2 } });
    await eventually(() => sc!.log.find('listening on').length === 2, 10_000, 'both listening');
    sc.sidecar.forward('SIGHUP');
    await eventually(() => sc!.log.find('received SIGHUP').length === 2, 10_000, 'SIGHUP seen by both');
  });
});

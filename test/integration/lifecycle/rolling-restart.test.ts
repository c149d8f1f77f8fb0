import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runConnectionChurn, watchReadiness, type ChurnRequest } from '../../support/connection-churn.js';
import { freePorts } from '../../support/free-port.js';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { eventually, servicesYaml } from '../../support/proxy-harness.js';
import { startRouterProcess, type RouterProcess } from '../../support/router-process.js';
import { echoHandler, startUpstream, type TestUpstream } from '../../support/test-upstream.js';

/** Long enough for many loopback requests to run inside it; not a timing under test. */
const DRAIN_DELAY = '1500ms';

/**
 * What a rolling restart behind a load balancer needs from SIGTERM: readiness fails first, new
 * connections are still accepted and served for the drain delay, then refused; nothing that was
 * accepted fails. A connection whose handshake the kernel completed in the listen queue in the
 * instant the listening socket closes is reset instead of refused (the kernel's doing: such a
 * connection was never accepted); those must never have reached the upstream, and there is at
 * most one such instant per closing listen queue (`queues`).
 */
function expectRollingShutdown(churn: readonly ChurnRequest[], upstream: TestUpstream, queues: number, lostAllowed = 0): void {
  expect(churn.filter((r) => r.outcome === 'failed')).toEqual([]);
  const seen = new Set(upstream.requests.map((r) => r.url));
  const resets = churn.filter((r) => r.outcome === 'reset');
  const lost = resets.filter((r) => seen.has(`/churn/${r.seq}`));
  expect(lost.length, `reset requests that reached the upstream (accepted and lost): ${lost.map((r) => r.seq).join(', ')}`).toBeLessThanOrEqual(lostAllowed);
  expect(resets.length).toBeLessThanOrEqual(queues);
  const firstRefused = churn.findIndex((r) => r.outcome === 'refused');
  expect(firstRefused).toBeGreaterThan(0);
  // Served while readiness already failed, and nothing refused before the listeners closed.
  const servedWhileNotReady = churn.slice(0, firstRefused).filter((r) => r.afterNotReady && r.outcome === 'ok');
  expect(servedWhileNotReady.length).toBeGreaterThan(0);
  // Once refused, refused for good (no connection accepted after accepting stopped).
  expect(churn.slice(firstRefused).every((r) => r.outcome === 'refused')).toBe(true);
}

/** A promise and its resolve function (Promise.withResolvers is Node 22+). */
function gate(): { promise: Promise<void>; resolve: () => void } {
  let resolve: () => void = () => undefined;
  const promise = new Promise<void>((r) => (resolve = r));
  return { promise, resolve };
}

describe('rolling restarts: SIGTERM fails readiness, serves through shutdown.drainDelay, then refuses', () => {
  let upstream: TestUpstream;
  let dir: string;
  let router: RouterProcess | null = null;
  let held = gate();

  beforeAll(async () => {
    const echo = echoHandler('app');
    // A /slow request is held at the upstream until the test releases it (after accepting stopped).
    upstream = await startUpstream('app', (req, res) => (req.url?.includes('/slow') ? void held.promise.then(() => echo(req, res)) : echo(req, res)));
    dir = await mkdtemp(join(tmpdir(), 'switchyard-rolling-'));
    await writeFile(join(dir, 'services.yaml'), servicesYaml({ app: [{ port: upstream.port }] }));
  });
  afterEach(async () => {
    held.resolve();
    held = gate();
    if (router && router.child.exitCode === null) await router.stop('SIGKILL');
    router = null;
  });
  afterAll(async () => {
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  });

  const stoppedAccepting = (r: RouterProcess) => r.stdout().split('shutting down: stopped accepting, finishing in-flight requests').length - 1;
  const slowSeen = () => upstream.requests.filter((q) => q.url === '/slow').length;
  const writeConfig = async (name: string, extra: Record<string, unknown>) => {
    const file = join(dir, `${name}.yaml`);
    await writeFile(
      file,
      stringify({
        listeners: [{ name: 'test', address: '127.0.0.1', port: 0 }],
        admin: { address: '127.0.0.1', port: 0 },
        registry: { type: 'file', path: 'services.yaml', watch: false },
        logging: { level: 'info', accessLog: false },
        shutdown: { drainDelay: DRAIN_DELAY, gracePeriod: '10s' },
        routes: [{ name: 'all', match: { path: '/' }, service: 'app' }],
        ...extra,
      }),
    );
    return file;
  };

  for (const engine of ['node', 'llhttp'] as const) {
    it(`listener engine ${engine}: 0 refused and 0 failed while not ready, then refused; in-flight requests complete; exit 0`, { timeout: 60_000 }, async () => {
      router = await startRouterProcess(await writeConfig(`single-${engine}`, { proxy: { engine: { listener: engine } } }));
      const r = router;
      expect((await fetchText(`${r.adminUrl}/readyz`)).status).toBe(200);
      const before = upstream.requests.length;
      const readiness = watchReadiness(`${r.adminUrl}/readyz`);
      const churn = runConnectionChurn({ url: r.url, notReady: readiness.notReady, refusalsToStop: 5, maxRequests: 20_000 });
      // The signal arrives while the client is busy opening connections.
      await eventually(() => upstream.requests.length > before + 20, 10_000, 'the client to be under way');
      r.child.kill('SIGTERM');
      await eventually(readiness.notReady, 10_000, '/readyz to fail after SIGTERM');
      // A request that starts during the drain delay and is still in flight when accepting stops.
      const slowBefore = slowSeen();
    const slow = fetchText(`${r.url}/slow`).then(
        (x) => ({ status: x.status, error: '' }),
        (err: Error) => ({ status: -1, error: err.message }),
      );
      await eventually(() => slowSeen() > slowBefore, 10_000, 'the slow request at the upstream');
      // Only once accepting has stopped is the held request answered: it was in flight across the close.
      await eventually(() => stoppedAccepting(r) === 1, 30_000, 'the listener to stop accepting');
      held.resolve();
      const outcome = await churn;
      readiness.stop();
      const s = await slow;
      expectRollingShutdown(outcome, upstream, 1);
      expect(s).toEqual({ status: 200, error: '' });
      expect(await r.exited).toBe(0);
      expect(r.stdout()).toContain('/readyz answers 503; still accepting and serving until the drain delay ends');
      expect(r.stdout()).toContain('shutdown complete');
      const served = outcome.filter((x) => x.afterNotReady && x.outcome === 'ok').length;
      const count = (o: ChurnRequest['outcome']) => outcome.filter((x) => x.outcome === o).length;
      console.info(`${engine}: ${served} new connections served while not ready, ${count('reset')} reset in the listen queue as it closed, ${count('refused')} refused after`);
    });
  }

  it('cluster mode (workers: 2): readiness fail/restore through the primary reaches every worker; SIGTERM serves through the drain delay', { timeout: 90_000 }, async () => {
    const [listener, admin, metrics] = await freePorts(3);
    const token = 'rolling-restart-admin-token-0123';
    router = await startRouterProcess(
      await writeConfig('cluster', {
        workers: 2,
        listeners: [{ name: 'test', address: '127.0.0.1', port: listener }],
        admin: { address: '127.0.0.1', port: admin, token, metricsListener: { address: '127.0.0.1', port: metrics } },
      }),
      process.env,
      { startTimeoutMs: 60_000 },
    );
    const r = router;
    const auth = { authorization: `Bearer ${token}` };
    const metricsReady = `http://127.0.0.1:${metrics}/readyz`;
    await eventually(async () => (await fetchText(metricsReady)).status === 200, 10_000, 'the cluster to be ready');

    expect((await fetchJson(`${r.adminUrl}/api/v1/readiness/fail`, { method: 'POST' })).status).toBe(401);
    const failed = await fetchJson<{ ready: boolean; notReadyReason: string }>(`${r.adminUrl}/api/v1/readiness/fail`, { method: 'POST', headers: auth });
    expect(failed.status).toBe(200);
    expect(failed.json).toMatchObject({ ready: false, readinessFailed: true, notReadyReason: expect.stringContaining('admin API') });
    expect((await fetchText(`${r.adminUrl}/readyz`)).status).toBe(503);
    expect((await fetchText(metricsReady)).status).toBe(503);
    // Every worker applied it: whichever worker a new connection lands on still serves, and each
    // worker's own status (several reads spread over connections) says readiness failed.
    const statuses: number[] = [];
    for (let i = 0; i < 10; i++) statuses.push((await fetchText(`${r.url}/x${i}`)).status);
    expect(new Set(statuses)).toEqual(new Set([200]));
    expect((await fetchJson(`${r.adminUrl}/api/v1/readiness/restore`, { method: 'POST', headers: auth })).json).toMatchObject({ ready: true, readinessFailed: false });
    expect((await fetchText(metricsReady)).status).toBe(200);
    const logLines = r.stdout().split('\n').filter((l) => l.includes('readiness failed through the admin API'));
    expect(new Set(logLines.map((l) => (JSON.parse(l) as { pid: number }).pid)).size).toBe(2);

    const before = upstream.requests.length;
    const readiness = watchReadiness(metricsReady);
    const churn = runConnectionChurn({ url: r.url, notReady: readiness.notReady, refusalsToStop: 5, maxRequests: 20_000 });
    await eventually(() => upstream.requests.length > before + 40, 10_000, 'the client to be under way');
    r.child.kill('SIGTERM');
    await eventually(readiness.notReady, 10_000, '/readyz to fail after SIGTERM');
    const slowBefore = slowSeen();
    const slow = fetchText(`${r.url}/slow`).then(
      (x) => ({ status: x.status, error: '' }),
      (err: Error) => ({ status: -1, error: err.message }),
    );
    await eventually(() => slowSeen() > slowBefore, 10_000, 'the slow request at the upstream');
    await eventually(() => stoppedAccepting(r) === 2, 30_000, 'both workers to stop accepting');
    held.resolve();
    const outcome = await churn;
    readiness.stop();
    // The primary's shared queue and each worker's. Cluster mode may lose one request at the
    // instant the workers stop accepting: a known defect, not yet explained (docs/operations.md,
    // "Rolling restarts behind a load balancer"); the single-process tests allow none.
    expectRollingShutdown(outcome, upstream, 3, 1);
    expect(await slow).toEqual({ status: 200, error: '' });
    expect(await r.exited).toBe(0);
  });
});

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Agent } from 'node:http';
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
const ADMIN_TOKEN = 'rolling-restart-admin-token-0123';

/**
 * What a rolling restart behind a load balancer needs from SIGTERM: readiness fails first, new
 * connections are still accepted and served for the drain delay, then refused; nothing that was
 * accepted fails. A connection whose handshake the kernel completed in the listen queue in the
 * instant the listening socket closes is reset instead of refused (the kernel's doing: such a
 * connection was never accepted; in cluster mode also node:cluster's, see operations.md); those
 * must never have reached the upstream, and there is at most one such instant per closing listen
 * queue (`queues`). `path` is the churn's own request path, so that only its requests count.
 */
function expectRollingShutdown(churn: readonly ChurnRequest[], upstream: TestUpstream, path: string, queues: number): void {
  expect(churn.filter((r) => r.outcome === 'failed')).toEqual([]);
  const seen = new Set(upstream.requests.map((r) => r.url));
  const resets = churn.filter((r) => r.outcome === 'reset');
  const lost = resets.filter((r) => seen.has(`${path}/${r.seq}`));
  expect(lost, 'reset requests that reached the upstream (accepted and lost)').toEqual([]);
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

  const logCount = (r: RouterProcess, line: string) => r.stdout().split(line).length - 1;
  const stoppedAccepting = (r: RouterProcess) => logCount(r, 'shutting down: stopped accepting, finishing in-flight requests');
  const slowSeen = () => upstream.requests.filter((q) => q.url === '/slow').length;

  /**
   * The rolling restart under way: a client opening new connections one after another (its
   * requests ask for `path`/seq) while SIGTERM arrives; readiness (`readyUrl`) is watched; a
   * /slow request starts during the drain delay and is answered only once all `processes` have
   * stopped accepting. Checks the churn (expectRollingShutdown) and that the slow one completed.
   */
  const restartUnderChurn = async (r: RouterProcess, o: { readyUrl: string; path: string; processes: number; queues: number; underWay: number }) => {
    const before = upstream.requests.length;
    const readiness = watchReadiness(o.readyUrl);
    const churn = runConnectionChurn({ url: r.url, path: o.path, notReady: readiness.notReady, refusalsToStop: 5, maxRequests: 20_000 });
    // The signal arrives while the client is busy opening connections.
    await eventually(() => upstream.requests.length > before + o.underWay, 10_000, 'the client to be under way');
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
    await eventually(() => stoppedAccepting(r) === o.processes, 30_000, 'the listeners to stop accepting');
    held.resolve();
    const outcome = await churn;
    readiness.stop();
    expectRollingShutdown(outcome, upstream, o.path, o.queues);
    expect(await slow).toEqual({ status: 200, error: '' });
    expect(await r.exited).toBe(0);
    return outcome;
  };
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
      const outcome = await restartUnderChurn(r, { readyUrl: `${r.adminUrl}/readyz`, path: `/churn-${engine}`, processes: 1, queues: 1, underWay: 20 });
      expect(r.stdout()).toContain('/readyz answers 503; still accepting and serving until the drain delay ends');
      expect(r.stdout()).toContain('shutdown complete');
      const served = outcome.filter((x) => x.afterNotReady && x.outcome === 'ok').length;
      const count = (o: ChurnRequest['outcome']) => outcome.filter((x) => x.outcome === o).length;
      console.info(`${engine}: ${served} new connections served while not ready, ${count('reset')} reset in the listen queue as it closed, ${count('refused')} refused after`);
    });
  }

  /** Two workers on fixed ports (the primary's admin and metrics listeners included). */
  const startCluster = async (name: string, extra: Record<string, unknown> = {}) => {
    const [listener, admin, metrics] = await freePorts(3);
    router = await startRouterProcess(
      await writeConfig(name, {
        workers: 2,
        listeners: [{ name: 'test', address: '127.0.0.1', port: listener }],
        admin: { address: '127.0.0.1', port: admin, token: ADMIN_TOKEN, metricsListener: { address: '127.0.0.1', port: metrics } },
        ...extra,
      }),
      process.env,
      { startTimeoutMs: 60_000 },
    );
    return { r: router, metricsReady: `http://127.0.0.1:${metrics}/readyz` };
  };

  it('cluster mode (workers: 2): readiness fail/restore through the primary reaches every worker; SIGTERM serves through the drain delay', { timeout: 90_000 }, async () => {
    const { r, metricsReady } = await startCluster('cluster');
    const token = ADMIN_TOKEN;
    const auth = { authorization: `Bearer ${token}` };
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

    // The primary's shared queue and each worker's.
    await restartUnderChurn(r, { readyUrl: metricsReady, path: '/churn-cluster', processes: 2, queues: 3, underWay: 40 });
  });

  // A drain delay no test waits out: only the second SIGTERM can end it before the test's timeout.
  const LONG_DELAY = { shutdown: { drainDelay: '10m', gracePeriod: '10s' } };
  for (const setup of ['node', 'llhttp', 'cluster'] as const) {
    it(`${setup === 'cluster' ? 'cluster mode (workers: 2)' : `listener engine ${setup}`}: responses during the drain delay say Connection: close; a second SIGTERM skips the rest of the delay`, { timeout: 90_000 }, async () => {
      const r =
        setup === 'cluster'
          ? (await startCluster('cluster-long-delay', LONG_DELAY)).r
          : (router = await startRouterProcess(await writeConfig(`long-delay-${setup}`, { ...LONG_DELAY, proxy: { engine: { listener: setup } } })));
      const processes = setup === 'cluster' ? 2 : 1;
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        // Before SIGTERM a kept-alive connection stays open.
        const first = await fetchText(`${r.url}/keep/1`, { agent });
        expect(first.status).toBe(200);
        expect(first.headers.connection).not.toBe('close');
        r.child.kill('SIGTERM');
        await eventually(() => logCount(r, 'still accepting and serving until the drain delay ends') === processes, 30_000, 'the drain delay to begin');
        // During the delay: served, on the open connection and on a new one, each told to close.
        const onOpen = await fetchText(`${r.url}/keep/2`, { agent });
        const onNew = await fetchText(`${r.url}/keep/3`);
        expect([onOpen.status, onNew.status]).toEqual([200, 200]);
        expect([onOpen.headers.connection, onNew.headers.connection]).toEqual(['close', 'close']);
        expect(stoppedAccepting(r)).toBe(0);
      } finally {
        agent.destroy();
      }
      r.child.kill('SIGTERM');
      expect(await r.exited).toBe(0);
      expect(logCount(r, 'second stop signal: skipping the rest of the drain delay')).toBe(processes);
      expect(stoppedAccepting(r)).toBe(processes);
    });
  }
});

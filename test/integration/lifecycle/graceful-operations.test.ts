import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runBoundedLoad } from '../../support/bounded-load.js';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { parsePrometheusText, value } from '../../support/prometheus-text.js';
import { eventually, servicesYaml, startProxy } from '../../support/proxy-harness.js';
import { startRouterProcess, type RouterProcess } from '../../support/router-process.js';
import { echoHandler, startUpstream, type TestUpstream } from '../../support/test-upstream.js';

/** An upstream that answers after a short pause, so requests are in flight when signals arrive. */
function slowEcho(name: string, delayMs: number) {
  const echo = echoHandler(name);
  return (req: Parameters<typeof echo>[0], res: Parameters<typeof echo>[1]) => setTimeout(() => echo(req, res), delayMs);
}

describe('graceful operations of the real CLI process', () => {
  let upstream: TestUpstream;
  let dir: string;
  let configFile: string;
  let router: RouterProcess | null = null;

  const config = (routes: unknown[], extra: Record<string, unknown> = {}) =>
    stringify({
      listeners: [{ name: 'test', address: '127.0.0.1', port: 0 }],
      admin: { address: '127.0.0.1', port: 0 },
      registry: { type: 'file', path: 'services.yaml', watch: false },
      logging: { level: 'info', accessLog: false },
      shutdown: { gracePeriod: '10s', drainDelay: '0s' },
      routes,
      ...extra,
    });
  const baseRoutes = [{ name: 'load', match: { path: '/' }, service: 'app' }];

  beforeAll(async () => {
    upstream = await startUpstream('app', slowEcho('app', 15));
    dir = await mkdtemp(join(tmpdir(), 'switchyard-lifecycle-'));
    configFile = join(dir, 'config.yaml');
    await writeFile(join(dir, 'services.yaml'), servicesYaml({ app: [{ port: upstream.port }] }));
  });
  afterEach(async () => {
    if (router && router.child.exitCode === null) await router.stop('SIGKILL');
    router = null;
  });
  afterAll(async () => {
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('SIGTERM under load: in-flight requests finish, nothing accepted is lost, exit code 0', async () => {
    await writeFile(configFile, config(baseRoutes));
    router = await startRouterProcess(configFile);
    const r = router;
    let signalled = false;
    const outcome = await runBoundedLoad({
      url: r.url,
      concurrency: 8,
      requestsPerClient: 40,
      onAnswered: (n) => {
        if (n === 60 && !signalled) {
          signalled = true;
          r.child.kill('SIGTERM');
        }
      },
    });
    const code = await r.exited;
    expect(signalled).toBe(true);
    expect(outcome.lost).toEqual([]);
    expect(code).toBe(0);
    expect(outcome.answered + outcome.refused).toBe(8 * 40);
    // The 8 requests in flight at the signal were answered too, all with the upstream's 200.
    expect(outcome.answered).toBeGreaterThanOrEqual(60 + 8);
    expect([...outcome.statuses.keys()]).toEqual([200]);
    expect(r.stdout()).toContain('shutdown complete');
    console.info(`SIGTERM under load: ${outcome.answered} answered, ${outcome.refused} refused after the listener closed, ${outcome.lost.length} lost`);
  });

  it('reloads (SIGHUP and admin API, good and bad files) under steady load lose nothing', async () => {
    await writeFile(configFile, config(baseRoutes));
    router = await startRouterProcess(configFile);
    const r = router;
    const steps: Promise<unknown>[] = [];
    const at = new Map<number, () => Promise<unknown>>([
      [40, async () => { await writeFile(configFile, `${config(baseRoutes)}\nroutez: []\n`); r.child.kill('SIGHUP'); }],
      [80, () => fetchJson(`${r.adminUrl}/api/v1/reload`, { method: 'POST' })],
      [120, async () => { await writeFile(configFile, config([...baseRoutes, { name: 'added', match: { path: '/added' }, service: 'app' }])); r.child.kill('SIGHUP'); }],
      [160, () => fetchJson(`${r.adminUrl}/api/v1/reload`, { method: 'POST' })],
    ]);
    const outcome = await runBoundedLoad({
      url: r.url,
      concurrency: 4,
      requestsPerClient: 60,
      onAnswered: (n) => {
        const step = at.get(n);
        if (step) steps.push(step());
      },
    });
    await Promise.all(steps);
    expect(steps).toHaveLength(4);
    expect(outcome.lost).toEqual([]);
    expect(outcome.refused).toBe(0);
    expect(outcome.statuses).toEqual(new Map([[200, 4 * 60]]));

    const scrape = async () => parsePrometheusText((await fetchText(`${r.adminUrl}/metrics`)).body);
    await eventually(async () => value(await scrape(), 'switchyard_config_reloads_total', { result: 'success' }) === 2, 10_000, 'two successful reloads');
    const m = await scrape();
    expect(value(m, 'switchyard_config_reloads_total', { result: 'failure' })).toBe(2);
    expect(value(m, 'switchyard_requests_total', { route: 'load', method: 'GET', status_class: '2xx' })).toBe(4 * 60);
    const routes = (await fetchJson<{ name: string }[]>(`${r.adminUrl}/api/v1/routes`)).json.map((x) => x.name);
    expect(routes).toEqual(['load', 'added']);
    expect((await fetchJson<{ reload: { ok: boolean } }>(`${r.adminUrl}/api/v1/status`)).json.reload.ok).toBe(true);
    expect(r.stdout()).toContain('configuration rejected; the running configuration keeps serving');
    expect(await r.stop('SIGTERM')).toBe(0);
  });
});

describe('drain on close', () => {
  it('answers requests in flight during the drain with Connection: close and reports not ready', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((resolve) => (release = resolve));
    const upstream = await startUpstream('held', (req, res) => void held.then(() => echoHandler('held')(req, res)));
    const proxy = await startProxy({ services: { app: [{ port: upstream.port }] }, config: { routes: [{ name: 'all', match: { path: '/' }, service: 'app' }] } });
    try {
      const inFlight = fetchText(`${proxy.url}/slow`, { headers: { connection: 'keep-alive' } });
      await eventually(() => upstream.requests.length === 1, 5_000, 'request at the upstream');
      const closing = proxy.app.close(5_000);
      expect(proxy.app.ready).toBe(false);
      release();
      const r = await inFlight;
      expect(r.status).toBe(200);
      expect(r.headers.connection).toBe('close');
      await closing;
    } finally {
      release();
      await proxy.close();
      await upstream.close();
    }
  });
});

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { parsePrometheusText, samples } from '../../support/prometheus-text.js';
import { eventually, servicesYaml } from '../../support/proxy-harness.js';
import { startRouterProcess, type RouterProcess } from '../../support/router-process.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';
import { freePort } from '../../support/free-port.js';
import { closeHttp2, http2Request, openHttp2 } from '../../support/http2-client.js';

/**
 * Workers share the listener through the primary, so port 0 would not name one port the test
 * can know in advance: take a free port (bind, read, release) and write it into the config.
 */
interface LogLine {
  msg?: string;
  pid?: number;
  slot?: number;
  component?: string;
  code?: number | null;
  signal?: string | null;
}

function logLines(out: string): LogLine[] {
  return out
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

/** Pids of the workers serving now: the latest "worker serving" line of each slot. */
function servingPids(out: string): Map<number, number> {
  const bySlot = new Map<number, number>();
  for (const l of logLines(out)) if (l.msg === 'worker serving' && l.slot !== undefined && l.pid !== undefined) bySlot.set(l.slot, l.pid);
  return bySlot;
}

/** Sequential requests, each on a fresh connection (round-robin accept spreads connections). */
async function getMany(url: string, n: number): Promise<number[]> {
  const statuses: number[] = [];
  for (let i = 0; i < n; i++) statuses.push((await fetchText(`${url}/x`)).status);
  return statuses;
}

describe('cluster mode (workers: 2) of the real CLI process', () => {
  let upstream: TestUpstream;
  let dir: string;
  let configFile: string;
  let router: RouterProcess | null = null;

  beforeAll(async () => {
    upstream = await startUpstream('app');
    dir = await mkdtemp(join(tmpdir(), 'switchyard-cluster-'));
    configFile = join(dir, 'config.yaml');
    await writeFile(join(dir, 'services.yaml'), servicesYaml({ app: [{ port: upstream.port }] }));
  });
  afterEach(async () => {
    if (router && router.child.exitCode === null) await router.stop('SIGKILL');
    router = null;
    // Each test starts without the drains and overrides an earlier one stored.
    await rm(join(dir, 'config.state.json'), { force: true });
  });
  afterAll(async () => {
    await upstream.close();
    await rm(dir, { recursive: true, force: true });
  });

  let ports: { listener: number; admin: number };
  const config = (routes: unknown[]) =>
    stringify({
      workers: 2,
      listeners: [{ name: 'test', address: '127.0.0.1', port: ports.listener }],
      admin: { address: '127.0.0.1', port: ports.admin },
      registry: { type: 'file', path: 'services.yaml', watch: false },
      logging: { level: 'info', accessLog: true },
      shutdown: { gracePeriod: '5s', drainDelay: '0s' },
      routes,
    });

  async function startCluster(): Promise<RouterProcess> {
    ports = { listener: await freePort(), admin: await freePort() };
    await writeFile(configFile, config([{ name: 'all', match: { path: '/' }, service: 'app' }]));
    const r = await startRouterProcess(configFile);
    router = r;
    // The banner (stderr) can overtake the workers' asynchronous log lines (stdout).
    await eventually(() => servingPids(r.stdout()).size === 2, 5_000, 'both workers logged "worker serving"');
    return r;
  }

  /** Statuses of `n` requests and the pids that logged them (access log lines after `from`). */
  async function spread(r: RouterProcess, path: string, n: number): Promise<{ statuses: Set<number>; pids: Set<number | undefined> }> {
    const from = r.stdout().length;
    const statuses = new Set<number>();
    for (let i = 0; i < n; i++) statuses.add((await fetchText(`${r.url}${path}`)).status);
    const pids = () => new Set(logLines(r.stdout().slice(from)).filter((l) => l.component === 'access').map((l) => l.pid));
    await eventually(() => pids().size === 2, 5_000, 'access log lines from both workers');
    return { statuses, pids: pids() };
  }

  it('two workers serve requests (access log lines from two worker pids), /api/v1/status names a worker pid', async () => {
    const r = await startCluster();
    const workers = servingPids(r.stdout());
    expect(workers.size).toBe(2);
    const statuses = await getMany(r.url, 20);
    expect(statuses.every((s) => s === 200)).toBe(true);
    const accessPids = () => new Set(logLines(r.stdout()).filter((l) => l.component === 'access').map((l) => l.pid));
    await eventually(() => accessPids().size === 2, 5_000, 'access log lines from both workers');
    expect([...accessPids()].sort()).toEqual([...workers.values()].sort());
    expect(workers.has(process.pid)).toBe(false);
    const status = await fetchJson<{ pid: number }>(`${r.adminUrl}/api/v1/status`);
    expect(status.status).toBe(200);
    expect([...workers.values()]).toContain(status.json.pid);
    expect(status.json.pid).not.toBe(r.child.pid);
  });

  it('workers serve HTTP/2 (h2c) and HTTP/1.1 on one shared port', async () => {
    ports = { listener: await freePort(), admin: await freePort() };
    const doc = config([{ name: 'all', match: { path: '/' }, service: 'app' }]).replace('name: test', 'name: test\n    protocols: [http1, h2c]');
    expect(doc).toContain('protocols: [http1, h2c]');
    await writeFile(configFile, doc);
    const r = await startRouterProcess(configFile);
    router = r;
    await eventually(() => servingPids(r.stdout()).size === 2, 5_000, 'both workers logged "worker serving"');
    const from = r.stdout().length;
    const statuses: number[] = [];
    // One request per connection, so the primary's round robin spreads them over both workers.
    for (let i = 0; i < 12; i++) {
      const session = await openHttp2(r.url);
      statuses.push((await http2Request(session, { ':path': '/h2' })).status);
      await closeHttp2(session);
    }
    expect(statuses.every((s) => s === 200)).toBe(true);
    expect((await fetchText(`${r.url}/h1`)).status).toBe(200);
    const h2Pids = () => new Set(logLines(r.stdout().slice(from)).filter((l) => l.component === 'access' && (l as { path?: string }).path === '/h2').map((l) => l.pid));
    await eventually(() => h2Pids().size === 2, 5_000, 'HTTP/2 requests logged by both workers');
  });

  it('/metrics and the traffic history on the primary sum the requests of both workers exactly', async () => {
    const r = await startCluster();
    const n = 30;
    // Both workers served some of the n requests (so the sum really aggregates two processes).
    const { statuses } = await spread(r, '/x', n);
    expect(statuses).toEqual(new Set([200]));
    let total = -1;
    await eventually(
      async () => {
        const text = (await fetchText(`${r.adminUrl}/metrics`)).body;
        total = samples(parsePrometheusText(text), 'switchyard_requests_total', { route: 'all' }).reduce((a, s) => a + s.value, 0);
        return total === n;
      },
      5_000,
      `switchyard_requests_total summed to ${n}`,
    );
    expect(total).toBe(n);
    // The status page's traffic history merges both workers' samples: every request counted once.
    let counted = -1;
    await eventually(
      async () => {
        const t = (await fetchJson<{ processes: number; routes: { route: string; points: { requests: number }[] }[] }>(`${r.adminUrl}/api/v1/traffic`)).json;
        expect(t.processes).toBe(2);
        counted = (t.routes.find((x) => x.route === 'all')?.points ?? []).reduce((a, p) => a + p.requests, 0);
        return counted === n;
      },
      10_000,
      `the merged traffic history to count ${n} requests`,
    );
    const text = (await fetchText(`${r.adminUrl}/metrics`)).body;
    // A per-process fact is not multiplied by the number of workers.
    expect(samples(parsePrometheusText(text), 'switchyard_build_info').map((s) => s.value)).toEqual([1]);
  });

  it('a worker killed with SIGKILL is replaced and traffic continues', async () => {
    const r = await startCluster();
    const before = servingPids(r.stdout());
    const victim = before.get(1)!;
    process.kill(victim, 'SIGKILL');
    await eventually(() => servingPids(r.stdout()).get(1) !== victim, 15_000, 'slot 1 served by a new worker');
    const died = logLines(r.stdout()).find((l) => l.msg === 'worker died; restarting it');
    expect(died).toMatchObject({ slot: 1, pid: victim, signal: 'SIGKILL' });
    const after = servingPids(r.stdout());
    expect(after.get(2)).toBe(before.get(2));
    expect((await getMany(r.url, 20)).every((s) => s === 200)).toBe(true);
    const replacement = after.get(1)!;
    await eventually(
      () => logLines(r.stdout()).some((l) => l.component === 'access' && l.pid === replacement),
      5_000,
      'the replacement worker serves requests',
    );
  });

  it('SIGTERM: every worker drains and exits, the primary exits 0', async () => {
    const r = await startCluster();
    const workers = [...servingPids(r.stdout()).values()];
    expect((await getMany(r.url, 4)).every((s) => s === 200)).toBe(true);
    const code = await r.stop('SIGTERM');
    expect(code).toBe(0);
    const lines = logLines(r.stdout());
    expect(lines.filter((l) => l.msg === 'shutdown complete').map((l) => l.pid).sort()).toEqual([...workers].sort());
    expect(lines.filter((l) => l.msg === 'worker exited').map((l) => l.code)).toEqual([0, 0]);
    expect(lines.some((l) => l.msg === 'cluster stopped' && l.code === 0)).toBe(true);
    for (const pid of workers) expect(() => process.kill(pid, 0)).toThrow();
  });

  it('SIGHUP to the primary reloads the configuration in every worker', async () => {
    const r = await startCluster();
    expect((await spread(r, '/x', 10)).statuses).toEqual(new Set([200]));
    await writeFile(configFile, config([{ name: 'moved', match: { path: '/moved' }, service: 'app' }]));
    r.child.kill('SIGHUP');
    await eventually(() => logLines(r.stdout()).filter((l) => l.msg === 'configuration reloaded').length === 2, 10_000, 'both workers reloaded');
    const after = await spread(r, '/x', 10);
    expect(after.statuses).toEqual(new Set([404]));
    expect(after.pids.size).toBe(2);
  });

  it('an admin mutation sent to the primary applies to every worker', async () => {
    const r = await startCluster();
    const res = await fetchJson<{ id: number }>(`${r.adminUrl}/api/v1/overrides`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ op: 'remove', name: 'all' }),
    });
    expect(res.status).toBe(201);
    const after = await spread(r, '/x', 10);
    expect(after.statuses).toEqual(new Set([404]));
    expect(after.pids.size).toBe(2);
    expect(logLines(r.stdout()).filter((l) => l.msg === 'route override added').map((l) => l.pid).sort()).toEqual([...servingPids(r.stdout()).values()].sort());
  });

  it('drains and overrides reach every worker, are stored for all, and a replaced worker or a restarted cluster starts with them', async () => {
    let r = await startCluster();
    const drained = await fetchJson<unknown[]>(`${r.adminUrl}/api/v1/endpoints/drain`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ endpoint: `127.0.0.1:${upstream.port}` }),
    });
    expect(drained.status).toBe(200);
    const res = await fetchJson<{ id: number }>(`${r.adminUrl}/api/v1/overrides`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ op: 'remove', name: 'all' }),
    });
    expect(res.status).toBe(201);
    const stored = JSON.parse(await readFile(join(dir, 'config.state.json'), 'utf8'));
    expect(stored.overrides).toEqual([expect.objectContaining({ id: res.json.id, override: { op: 'remove', name: 'all' } })]);
    expect(stored.drains).toEqual([{ service: 'app', endpoint: `127.0.0.1:${upstream.port}` }]);

    // A worker killed and replaced reads the stored state before it serves.
    const victim = servingPids(r.stdout()).get(2)!;
    process.kill(victim, 'SIGKILL');
    await eventually(() => servingPids(r.stdout()).get(2) !== victim, 15_000, 'slot 2 served by a new worker');
    let after = await spread(r, '/x', 10);
    expect(after.statuses).toEqual(new Set([404]));
    expect(after.pids.size).toBe(2);

    // The whole cluster restarted: every worker starts with the override and the drain.
    expect(await r.stop('SIGTERM')).toBe(0);
    router = null;
    r = await startRouterProcess(configFile);
    router = r;
    await eventually(() => servingPids(r.stdout()).size === 2, 5_000, 'both workers logged "worker serving"');
    after = await spread(r, '/x', 10);
    expect(after.statuses).toEqual(new Set([404]));
    expect(after.pids.size).toBe(2);
    expect(logLines(r.stdout()).filter((l) => l.msg === 'operator state restored').map((l) => l.pid).sort()).toEqual([...servingPids(r.stdout()).values()].sort());
    const web = await fetchJson<{ endpoints: { drained: boolean }[] }>(`${r.adminUrl}/api/v1/services/app`);
    expect(web.json.endpoints.map((e) => e.drained)).toEqual([true]);

    // Clearing through the primary clears every worker and the file.
    expect((await fetchJson(`${r.adminUrl}/api/v1/overrides`, { method: 'DELETE' })).status).toBe(200);
    expect(JSON.parse(await readFile(join(dir, 'config.state.json'), 'utf8')).overrides).toEqual([]);
    after = await spread(r, '/x', 10);
    expect(after.statuses).toEqual(new Set([503]));
  }, 90_000); // starts a cluster twice and replaces a worker: slow on a loaded machine
});

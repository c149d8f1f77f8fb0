import { fork, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { connect, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import autocannon, { type AutocannonResult } from 'autocannon';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchText } from '../support/http-client.js';
import { servicesYaml } from '../support/proxy-harness.js';
import { startUpstream, type TestUpstream } from '../support/test-upstream.js';

/** Soak length: SOAK_DURATION_MS (default two minutes); shorter for local runs. */
const DURATION_MS = Number(process.env.SOAK_DURATION_MS ?? 120_000);
const WARMUP_MS = Math.max(5_000, Math.round(DURATION_MS / 10));
const FLOOD_CONNECTIONS = 50;
const SLOW_CLIENTS = 200;
const ALLOWED_GROWTH = 0.2;

interface Memory {
  rss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

class ProxyProcess {
  private constructor(
    private readonly child: ChildProcess,
    readonly port: number,
  ) {}

  static start(configFile: string): Promise<ProxyProcess> {
    const child = fork(join(import.meta.dirname, 'proxy-process.ts'), [configFile], { execArgv: ['--import', 'tsx', '--expose-gc'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    return new Promise((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', (code) => reject(new Error(`the proxy process exited with code ${code} before it was ready`)));
      child.once('message', (m: { type: string; port: number }) => resolve(new ProxyProcess(child, m.port)));
    });
  }

  measure(): Promise<Memory> {
    return new Promise((resolve) => {
      this.child.once('message', (m: Memory) => resolve(m));
      this.child.send('measure');
    });
  }

  stop(): Promise<void> {
    return new Promise((resolve) => {
      this.child.once('exit', () => resolve());
      this.child.send('stop');
    });
  }
}

/** Keeps `count` connections sending their headers one line at a time until `until`; reopens those the proxy closes. */
async function slowloris(port: number, count: number, until: number): Promise<{ opened: number; closedByProxy: number }> {
  const stats = { opened: 0, closedByProxy: 0 };
  const sockets = new Set<Socket>();
  const open = () => {
    if (Date.now() >= until) return;
    const s = connect(port, '127.0.0.1');
    stats.opened++;
    sockets.add(s);
    s.on('error', () => {
      // Closed by the proxy (408 then close, or reset): counted below, then reopened.
    });
    s.once('connect', () => s.write('GET /slow HTTP/1.1\r\nHost: soak\r\n'));
    s.resume(); // read (and drop) the 408, so the close is seen
    s.once('close', () => {
      sockets.delete(s);
      stats.closedByProxy++;
      open();
    });
  };
  for (let i = 0; i < count; i++) open();
  const drip = setInterval(() => {
    for (const s of sockets) if (s.writable) s.write(`X-Drip-${Math.floor(Math.random() * 1e6)}: x\r\n`);
  }, 500);
  await new Promise((r) => setTimeout(r, Math.max(0, until - Date.now())));
  clearInterval(drip);
  for (const s of sockets) {
    s.removeAllListeners('close');
    s.destroy();
  }
  return stats;
}

async function flood(url: string, durationMs: number): Promise<AutocannonResult> {
  return await autocannon({ url: `${url}/flood`, connections: FLOOD_CONNECTIONS, duration: durationMs / 1000 });
}

describe(`soak: flood + slowloris for ${DURATION_MS} ms`, () => {
  let dir: string;
  let upstream: TestUpstream;
  let proxy: ProxyProcess;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-soak-'));
    upstream = await startUpstream('soak');
    // The upstream keeps no per-request records in a soak: the list would grow without bound.
    upstream.server.prependListener('request', () => {
      (upstream.requests as unknown[]).length = 0;
    });
    await writeFile(join(dir, 'services.yaml'), servicesYaml({ soak: [{ port: upstream.port }] }));
    await writeFile(
      join(dir, 'config.yaml'),
      stringify({
        listeners: [{ address: '127.0.0.1', port: 0 }],
        admin: { enabled: false },
        registry: { type: 'file', path: 'services.yaml', watch: false },
        limits: { headersTimeout: '2s', requestTimeout: '5s', maxConnections: 2_000 },
        routes: [{ name: 'all', match: { path: '/' }, service: 'soak' }],
        logging: { level: 'warn' },
      }),
    );
    proxy = await ProxyProcess.start(join(dir, 'config.yaml'));
  });
  afterAll(async () => {
    await proxy?.stop();
    await upstream?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it(`keeps RSS within ${ALLOWED_GROWTH * 100} % of the warmed-up baseline and keeps serving`, async () => {
    const url = `http://127.0.0.1:${proxy.port}`;
    // Warm-up with the same load shape, so the baseline includes pools, JIT and buffers.
    const [, warm] = await Promise.all([flood(url, WARMUP_MS), slowloris(proxy.port, SLOW_CLIENTS, Date.now() + WARMUP_MS)]);
    await new Promise((r) => setTimeout(r, 3_000));
    const baseline = await proxy.measure();

    const [load, slow] = await Promise.all([flood(url, DURATION_MS), slowloris(proxy.port, SLOW_CLIENTS, Date.now() + DURATION_MS)]);
    await new Promise((r) => setTimeout(r, 3_000));
    const after = await proxy.measure();

    const served = await fetchText(`${url}/after`);
    const report = {
      durationMs: DURATION_MS,
      floodConnections: FLOOD_CONNECTIONS,
      slowClients: SLOW_CLIENTS,
      requests: load.requests.total,
      requestsPerSecond: load.requests.average,
      non2xx: load.non2xx,
      errors: load.errors,
      warmupSlowConnectionsClosedByProxy: warm.closedByProxy,
      slowConnectionsOpened: slow.opened,
      slowConnectionsClosedByProxy: slow.closedByProxy,
      baselineMiB: mib(baseline),
      afterMiB: mib(after),
      rssGrowthPercent: Math.round(((after.rss - baseline.rss) / baseline.rss) * 1000) / 10,
    };
    console.log(`soak report ${JSON.stringify(report)}`);
    await mkdir('test-artifacts', { recursive: true });
    await writeFile(join('test-artifacts', 'soak.json'), JSON.stringify(report, null, 2));

    expect(served.status).toBe(200);
    expect(load.requests.total).toBeGreaterThan(0);
    expect(load.non2xx).toBe(0);
    // Slow clients were cut by the proxy (headersTimeout), not left hanging.
    expect(slow.closedByProxy).toBeGreaterThan(0);
    expect(after.rss).toBeLessThanOrEqual(baseline.rss * (1 + ALLOWED_GROWTH));
  });
});

function mib(m: Memory): Record<string, number> {
  const r = (n: number) => Math.round((n / 1024 / 1024) * 10) / 10;
  return { rss: r(m.rss), heapUsed: r(m.heapUsed), heapTotal: r(m.heapTotal), external: r(m.external) };
}

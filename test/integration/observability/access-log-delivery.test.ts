import { existsSync, openSync, closeSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runBoundedLoad } from '../../support/bounded-load.js';
import { fetchText } from '../../support/http-client.js';
import { servicesYaml, withListenerEngine } from '../../support/proxy-harness.js';
import { startRouterProcess, type RouterProcess, type RouterProcessOptions } from '../../support/router-process.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';

// The access log's delivery guarantees, with the real CLI process: nothing lost on SIGTERM, and
// a log output that cannot keep up (a reader that stopped, a full disk) never holds requests
// back; the lines that do not fit in logging.maxBuffer are dropped and counted.

describe('access log delivery', () => {
  let upstream: TestUpstream;
  let dir: string;
  let configFile: string;
  let router: RouterProcess | null = null;

  beforeAll(async () => {
    upstream = await startUpstream('app');
    dir = await mkdtemp(join(tmpdir(), 'switchyard-accesslog-'));
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

  async function start(options: RouterProcessOptions, logging: Record<string, unknown> = {}): Promise<RouterProcess> {
    const config: Record<string, unknown> = {
      listeners: [{ name: 'test', address: '127.0.0.1', port: 0 }],
      admin: { address: '127.0.0.1', port: 0 },
      registry: { type: 'file', path: 'services.yaml', watch: false },
      logging: { level: 'warn', accessLog: true, ...logging },
      routes: [{ name: 'all', match: { path: '/' }, service: 'app' }],
    };
    withListenerEngine(config);
    await writeFile(configFile, stringify(config));
    router = await startRouterProcess(configFile, process.env, options);
    return router;
  }

  async function droppedLines(r: RouterProcess): Promise<number> {
    const text = (await fetchText(`${r.adminUrl}/metrics`)).body;
    const m = /^switchyard_log_lines_dropped_total (\d+)/m.exec(text);
    return m ? Number(m[1]) : NaN;
  }

  it('writes every access-log line before the process exits on SIGTERM', async () => {
    const r = await start({ stdout: 'collect' });
    const outcome = await runBoundedLoad({ url: r.url, concurrency: 8, requestsPerClient: 250 });
    expect(outcome.lost).toEqual([]);
    expect(outcome.statuses.get(200)).toBe(2_000);
    expect(await r.stop('SIGTERM')).toBe(0);
    const lines = r.stdout().split('\n').filter((l) => l.includes('"msg":"request"'));
    expect(lines).toHaveLength(2_000);
    for (const line of lines.slice(0, 5)) expect(JSON.parse(line)).toMatchObject({ level: 'info', component: 'access', status: 200, route: 'all', service: 'app' });
  });

  it('keeps serving when nobody reads the log: lines past logging.maxBuffer are dropped and counted', async () => {
    const r = await start({ stdout: 'unread' }, { maxBuffer: '64kb' });
    const outcome = await runBoundedLoad({ url: r.url, concurrency: 8, requestsPerClient: 250 });
    expect(outcome.lost).toEqual([]);
    expect(outcome.statuses.get(200)).toBe(2_000);
    expect(await droppedLines(r)).toBeGreaterThan(0);
  });

  it.skipIf(!existsSync('/dev/full'))('keeps serving when the log output fails (a full disk: /dev/full), dropping and counting lines', async () => {
    const fd = openSync('/dev/full', 'w');
    try {
      const r = await start({ stdout: fd }, { maxBuffer: '64kb' });
      const outcome = await runBoundedLoad({ url: r.url, concurrency: 8, requestsPerClient: 250 });
      expect(outcome.lost).toEqual([]);
      expect(outcome.statuses.get(200)).toBe(2_000);
      expect(await droppedLines(r)).toBeGreaterThan(0);
      expect(r.stderr()).toContain('ENOSPC');
    } finally {
      closeSync(fd);
    }
  });
});

import { existsSync, statSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../support/free-port.js';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { closeHttp2, http2Request, openHttp2 } from '../../support/http2-client.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { echoHandler, startUpstream, type TestUpstream } from '../../support/test-upstream.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`status page browser test skipped: ${CHROMIUM} not found (install Debian's chromium package; .ci/setup-extras does)`);

/** Names an attacker could put in the registry or a config: they must show as text, never run. */
const HOSTILE_SERVICE = '<img src=x onerror="window.__pwned=1">';
const HOSTILE_ROUTE = '<script>window.__pwned=2</script>';

/** Cell texts of each row of a table body. */
function rowsOf(page: Page, table: string): Promise<string[][]> {
  return page.$$eval(`#${table} tbody tr`, (rows) => rows.map((r) => [...r.children].map((c) => c.textContent ?? '')));
}

/** The status page's chart of one kind (rps, latency, errors) in the row of `route`. */
function chartOf(page: Page, route: string, kind: string): Promise<{ last: string; points: number; paths: string[] } | null> {
  return page.$$eval(
    '#routes tbody tr',
    (rows, [route, kind]) => {
      const row = rows.find((r) => r.getAttribute('data-route') === route);
      const svg = row?.querySelector(`svg.${kind}`);
      if (!svg) return null;
      return { last: svg.getAttribute('data-last') ?? '', points: Number(svg.getAttribute('data-points')), paths: [...svg.querySelectorAll('path')].map((p) => p.getAttribute('d') ?? '') };
    },
    [route, kind] as const,
  );
}

describe.skipIf(!hasChromium)('status page in headless Chromium', () => {
  let web1: TestUpstream;
  let web2: TestUpstream;
  let deadPort: number;
  let proxy: ProxyHarness;
  let browser: BrowserContext;
  let profile: string;
  let admin: string;

  beforeAll(async () => {
    const echo = echoHandler('web-1');
    // A few milliseconds of latency, and 500 for /fail, so every chart has something to draw.
    web1 = await startUpstream('web-1', (req, res) => {
      if (req.url?.startsWith('/fail')) {
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('failed on purpose');
        return;
      }
      setTimeout(() => echo(req, res), req.url === '/health' ? 0 : 2 + Math.random() * 8);
    });
    web2 = await startUpstream('web-2');
    deadPort = await freePort();
    proxy = await startProxy({
      services: {
        web: [
          { id: 'web-1', port: web1.port },
          { id: 'web-2', port: web2.port },
          { id: 'web-3', port: deadPort },
        ],
        [HOSTILE_SERVICE]: [{ id: '<b>bold</b>', port: 1, health: 'critical' }],
      },
      config: {
        listeners: [
          { name: 'test', address: '127.0.0.1', port: 0 },
          { name: 'grpc', address: '127.0.0.1', port: 0, protocols: ['http1', 'h2c'] },
        ],
        routes: [
          { name: 'web', match: { path: '/' }, service: 'web' },
          { name: HOSTILE_ROUTE, match: { path: '/x' }, service: HOSTILE_SERVICE },
        ],
        services: {
          web: {
            healthCheck: { type: 'http', path: '/health', interval: '1s', jitter: '100ms', timeout: '1s', unhealthyThreshold: 2, healthyThreshold: 1 },
            // Keep web-1 in rotation although a tenth of its answers are 500s.
            outlierDetection: { enabled: false },
          },
        },
      },
    });
    admin = `http://127.0.0.1:${proxy.app.adminAddress!.port}`;
    profile = await mkdtemp(join(tmpdir(), 'switchyard-chromium-'));
    // A fresh profile each run (playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1440, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await Promise.all([web1?.close(), web2?.close()]);
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it('shows live routes with moving charts, endpoint state with health checks and drains, and keeps hostile names as text', async () => {
    // The dead instance is taken out by its health check before traffic starts.
    await eventually(
      async () => (await fetchJson<any>(`${admin}/api/v1/services/web`)).json.endpoints.some((e: any) => e.id === 'web-3' && e.failing.includes('activeCheck')),
      10_000,
      'the health check to take web-3 out',
    );
    const drained = await fetchJson<any[]>(`${admin}/api/v1/endpoints/drain`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ endpoint: 'web-2' }) });
    expect(drained.status).toBe(200);
    for (let i = 0; i < 3; i++) expect((await fetchText(`${proxy.url}/hello`)).status).toBe(200);

    const page = await browser.newPage();
    const dialogs: string[] = [];
    const consoleErrors: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    page.on('console', (m) => {
      if (m.type() === 'error') consoleErrors.push(m.text());
    });
    page.on('pageerror', (err) => consoleErrors.push(err.message));
    await page.goto(`${admin}/`);
    await page.waitForSelector('#routes tbody tr');
    await page.waitForSelector('#services tbody tr');

    const routeRows = await rowsOf(page, 'routes');
    const web = routeRows.find((r) => r[0] === 'web')!;
    expect(web.slice(0, 4)).toEqual(['web', '*/', 'web config', '3']);
    expect(routeRows.map((r) => r[0])).toContain(HOSTILE_ROUTE);

    let endpointRows = await rowsOf(page, 'services');
    const row = (id: string) => endpointRows.find((r) => r[1]!.includes(`(${id})`))!;
    // On a loaded machine one probe may time out: wait for a passing one to show.
    await eventually(
      async () => {
        endpointRows = await rowsOf(page, 'services');
        return /^✓ status 200 \d+s ago$/.test(row('web-1')[3]!);
      },
      10_000,
      'web-1 to show a passing health check',
    );
    expect(row('web-1').slice(0, 3)).toEqual(['web', `127.0.0.1:${web1.port} (web-1)`, 'passing']);
    expect(row('web-1')[3]).toMatch(/^✓ status 200 \d+s ago$/);
    expect(row('web-1')[4]).toMatch(/^available/);
    expect(row('web-2')[4]).toMatch(/^drained since \d+s ago$/);
    expect(row('web-3')[3]).toMatch(/^✗ .+ \d+s ago$/);
    expect(row('web-3')[4]).toMatch(/^health check failing since \d+s ago$/);
    const hostile = row('<b>bold</b>');
    expect(hostile.slice(0, 3)).toEqual([HOSTILE_SERVICE, '127.0.0.1:1 (<b>bold</b>)', 'critical']);
    expect(hostile[4]).toMatch(/^registry critical since \d+s ago$/);
    // Shown as text: no element was created from the names, nothing ran.
    expect(await page.$$('#routes script, #services img, #services b, svg script')).toHaveLength(0);
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(dialogs).toEqual([]);
    expect(await page.textContent('#ready')).toBe('ready');
    expect(await page.textContent('#registry')).toMatch(/^registry file · 2 services · synced \d+s ago$/);

    // The charts move with traffic: sequential requests for about 6 s (bounded), one in ten failing.
    const before = await chartOf(page, 'web', 'rps');
    expect(before).not.toBeNull();
    const until = Date.now() + 6_000;
    let sent = 0;
    let failed = 0;
    while (Date.now() < until && sent < 3_000) {
      const fail = sent % 10 === 9;
      const r = await fetchText(`${proxy.url}/${fail ? 'fail' : 'ok'}/${sent}`);
      expect(r.status).toBe(fail ? 500 : 200);
      sent++;
      if (fail) failed++;
    }
    expect(failed).toBeGreaterThan(0);
    await eventually(async () => Number((await chartOf(page, 'web', 'rps'))?.last) > 0, 10_000, 'the requests/s chart to show traffic');
    const rps = (await chartOf(page, 'web', 'rps'))!;
    expect(rps.points).toBeGreaterThan(before!.points);
    expect(rps.paths).not.toEqual(before!.paths);
    expect(rps.paths.some((d) => d.includes('L'))).toBe(true);
    const latency = (await chartOf(page, 'web', 'latency'))!;
    expect(Number(latency.last)).toBeGreaterThan(0); // the last p99, in ms
    expect(latency.paths).toHaveLength(2); // p99 and p50
    await eventually(async () => Number((await chartOf(page, 'web', 'errors'))?.last) > 0 || (await chartOf(page, 'web', 'errors'))!.paths.length > 0, 5_000, 'the error chart to show 5xx');
    // Totals on the page match what was sent (3 + sent), and web-1 counted its 500s as errors.
    await eventually(async () => (await rowsOf(page, 'routes')).find((r) => r[0] === 'web')?.[3] === String(3 + sent), 10_000, `the page to show ${3 + sent} requests`);
    await eventually(async () => (await rowsOf(page, 'services')).find((r) => r[1]!.includes('(web-1)'))?.[6] === String(failed), 10_000, `web-1 to show ${failed} errors`);
    // An idle route draws a flat line at 0, not nothing.
    expect(Number((await chartOf(page, HOSTILE_ROUTE, 'rps'))!.last)).toBe(0);
    // Listeners with their protocols; the open HTTP/2 connection is counted.
    const grpcPort = proxy.app.addresses[1]!.port;
    const h2 = await openHttp2(`http://127.0.0.1:${grpcPort}`);
    try {
      expect((await http2Request(h2, { ':path': '/hello', ':authority': 'svc.test' })).status).toBe(200);
      await eventually(async () => (await rowsOf(page, 'listeners')).find((r) => r[0] === 'grpc')?.[5] === '1', 10_000, 'the page to count the HTTP/2 connection');
      const listenerRows = await rowsOf(page, 'listeners');
      expect(listenerRows[0]!.slice(0, 4)).toEqual(['test', `127.0.0.1:${proxy.port}`, 'no', 'http1']);
      expect(listenerRows[0]![5]).toBe('0');
      expect(listenerRows[1]).toEqual(['grpc', `127.0.0.1:${grpcPort}`, 'no', 'http1, h2c', '1', '1']);
    } finally {
      await closeHttp2(h2);
    }
    expect(consoleErrors).toEqual([]);

    await mkdir('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/status-page.png', fullPage: true });
    expect(statSync('test-artifacts/status-page.png').size).toBeGreaterThan(10_000);
    await page.close();
  });

  it('serves the API the page reads: /api/v1/traffic with bounded history', async () => {
    const t = (await fetchJson<any>(`${admin}/api/v1/traffic`)).json;
    expect(t.intervalMs).toBe(2_000);
    expect(t.windowMs).toBe(300_000);
    expect(t.routes.map((r: any) => r.route).sort()).toEqual([HOSTILE_ROUTE, 'web'].sort());
    const points = t.routes.find((r: any) => r.route === 'web').points;
    expect(points.length).toBeGreaterThan(0);
    expect(points.length).toBeLessThanOrEqual(150);
    expect(Object.keys(points[0]).sort()).toEqual(['at', 'errorRate', 'p50', 'p99', 'requests', 'rps']);
    expect(t.processes).toBe(1);
  });
});

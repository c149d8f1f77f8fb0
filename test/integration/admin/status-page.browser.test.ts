import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchText } from '../../support/http-client.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';

const CHROMIUM = '/usr/bin/chromium';
const hasChromium = existsSync(CHROMIUM);
if (!hasChromium) console.warn(`status page browser test skipped: ${CHROMIUM} not found (install Debian's chromium package; .ci/setup-extras does)`);

/** Names an attacker could put in the registry or a config: they must show as text, never run. */
const HOSTILE_SERVICE = '<img src=x onerror="window.__pwned=1">';
const HOSTILE_ROUTE = '<script>window.__pwned=2</script>';

describe.skipIf(!hasChromium)('status page in headless Chromium', () => {
  let upstream: TestUpstream;
  let proxy: ProxyHarness;
  let browser: BrowserContext;
  let profile: string;
  let admin: string;

  beforeAll(async () => {
    upstream = await startUpstream('web');
    proxy = await startProxy({
      services: { web: [{ id: 'web-1', port: upstream.port }], [HOSTILE_SERVICE]: [{ id: '<b>bold</b>', port: 1, health: 'critical' }] },
      config: {
        routes: [
          { name: 'web', match: { path: '/' }, service: 'web' },
          { name: HOSTILE_ROUTE, match: { path: '/x' }, service: HOSTILE_SERVICE },
        ],
      },
    });
    admin = `http://127.0.0.1:${proxy.app.adminAddress!.port}`;
    profile = await mkdtemp(join(tmpdir(), 'switchyard-chromium-'));
    // A fresh profile each run (playwright passes it as --user-data-dir).
    browser = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
  });
  afterAll(async () => {
    await browser?.close();
    await proxy?.close();
    await upstream?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it('shows routes, services and endpoint health, escapes registry values, and refreshes live', async () => {
    for (let i = 0; i < 3; i++) expect((await fetchText(`${proxy.url}/hello`)).status).toBe(200);
    const page = await browser.newPage();
    const dialogs: string[] = [];
    page.on('dialog', (d) => {
      dialogs.push(d.message());
      void d.dismiss();
    });
    await page.goto(`${admin}/`);
    await page.waitForSelector('#routes tbody tr');
    await page.waitForSelector('#services tbody tr');

    const routeRows = await page.$$eval('#routes tbody tr', (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)));
    expect(routeRows).toContainEqual(['web', '*', '/', 'web', 'config', '3', '–']);
    expect(routeRows.map((r) => r[0])).toContain(HOSTILE_ROUTE);
    const serviceRows = await page.$$eval('#services tbody tr', (rows) => rows.map((r) => [...r.querySelectorAll('td')].map((td) => td.textContent)));
    expect(serviceRows).toContainEqual(['web', `127.0.0.1:${upstream.port} (web-1)`, 'passing', 'available', '0', '1']);
    expect(serviceRows).toContainEqual([HOSTILE_SERVICE, '127.0.0.1:1 (<b>bold</b>)', 'critical', 'unavailable', '0', '1']);
    // Shown as text: no element was created from the names, nothing ran.
    expect(await page.$$('#routes script, #services img, #services b')).toHaveLength(0);
    expect(await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned)).toBeUndefined();
    expect(dialogs).toEqual([]);
    expect(await page.textContent('#summary')).toContain('ready');

    // Live: more traffic shows up on the next refresh, with a rate.
    for (let i = 0; i < 4; i++) await fetchText(`${proxy.url}/again`);
    const webRow = () => page.$$eval('#routes tbody tr', (rows) => rows.map((r) => [...r.children].map((c) => c.textContent)).find((cells) => cells[0] === 'web'));
    let cells: (string | null)[] | undefined;
    await eventually(async () => (cells = await webRow())?.[5] === '7', 10_000, 'the page to show 7 requests on route web');
    // The refresh that first shows 7 computed the rate from the previous count (3).
    expect(Number(cells![6])).toBeGreaterThan(0);

    await mkdir('test-artifacts', { recursive: true });
    await page.screenshot({ path: 'test-artifacts/status-page.png', fullPage: true });
    expect(existsSync('test-artifacts/status-page.png')).toBe(true);
    await page.close();
  });
});

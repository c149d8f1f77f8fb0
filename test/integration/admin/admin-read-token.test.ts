import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { warnIfReadsOpen } from '../../../src/admin/admin-access.js';
import { STATUS_PAGE_ASSETS } from '../../../src/admin/status-page.js';
import { fetchText } from '../../support/http-client.js';
import { captureLog } from '../../support/log-capture.js';
import { startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { runCli } from '../../support/router-process.js';

const WRITE = 'write-token-0123456789abcdef';
const READ = 'read-token-0123456789abcdef';

describe('admin API reads behind admin.readToken', () => {
  let proxy: ProxyHarness;
  let admin: string;

  beforeAll(async () => {
    proxy = await startProxy({ config: { admin: { address: '127.0.0.1', port: 0, token: WRITE, readToken: READ } } });
    admin = `http://127.0.0.1:${proxy.app.adminAddress!.port}`;
  });
  afterAll(async () => {
    await proxy.close();
  });

  const get = (path: string, token?: string) => fetchText(`${admin}${path}`, { headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });
  const post = (path: string, token?: string) => fetchText(`${admin}${path}`, { method: 'POST', headers: token === undefined ? {} : { authorization: `Bearer ${token}` } });

  it('refuses reads without a token (401, Bearer challenge) and with a wrong one', async () => {
    for (const path of ['/api/v1/status', '/api/v1/config', '/api/v1/routes', '/api/v1/services', '/api/v1/registry', '/api/v1/overrides', '/api/v1/traffic', '/metrics']) {
      const none = await get(path);
      expect(none.status, path).toBe(401);
      expect(none.headers['www-authenticate'], path).toBe('Bearer realm="switchyard-admin"');
      expect(JSON.parse(none.body)).toEqual({ error: 'unauthorized', message: expect.stringContaining('admin.readToken') });
      expect((await get(path, 'wrong-token-0123456789abcdef')).status, path).toBe(401);
      expect((await fetchText(`${admin}${path}`, { headers: { authorization: `Basic ${Buffer.from(`x:${READ}`).toString('base64')}` } })).status, path).toBe(401);
    }
  });

  it('answers reads with the read token or the admin token', async () => {
    for (const token of [READ, WRITE]) {
      const status = await get('/api/v1/status', token);
      expect(status.status).toBe(200);
      expect(JSON.parse(status.body)).toMatchObject({ ready: true });
      const metrics = await get('/metrics', token);
      expect(metrics.status).toBe(200);
      expect(metrics.body).toContain('switchyard_');
    }
  });

  it('keeps the probes and the status page files open (they hold no data)', async () => {
    expect((await get('/healthz')).status).toBe(200);
    expect((await get('/readyz')).status).toBe(200);
    for (const path of STATUS_PAGE_ASSETS.keys()) expect((await get(path)).status, path).toBe(200);
  });

  it('lets the read token read only: a mutation with it is forbidden (403), with the admin token done', async () => {
    const forbidden = await post('/api/v1/reload', READ);
    expect(forbidden.status).toBe(403);
    expect(JSON.parse(forbidden.body)).toEqual({ error: 'forbidden', message: expect.stringContaining('grants reads only') });
    expect((await post('/api/v1/reload')).status).toBe(401);
    expect((await post('/api/v1/reload', WRITE)).status).toBe(200);
  });

  it('the CLI sends its token for reads too, and says what to do when it is missing or read-only', async () => {
    const ok = await runCli(['status', '--admin', admin], { SWITCHYARD_ADMIN_TOKEN: READ });
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/ready/);
    const flag = await runCli(['routes', '--admin', admin, '--token', WRITE, '--json'], { SWITCHYARD_ADMIN_TOKEN: '' });
    expect(flag.code).toBe(0);
    expect(JSON.parse(flag.stdout)).toEqual([]);
    const missing = await runCli(['services', '--admin', admin], { SWITCHYARD_ADMIN_TOKEN: '' });
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/HTTP 401: .*admin\.readToken.*\(pass --token or set SWITCHYARD_ADMIN_TOKEN\)/);
    const readOnly = await runCli(['reload', '--admin', admin], { SWITCHYARD_ADMIN_TOKEN: READ });
    expect(readOnly.code).toBe(1);
    expect(readOnly.stderr).toMatch(/HTTP 403: .*grants reads only.*use admin\.token/);
  });

  it('serves the status page a script that sends the token in a header from sessionStorage, never in a URL', () => {
    const script = STATUS_PAGE_ASSETS.get('/status.js')!.body;
    expect(script).toContain("authorization: 'Bearer ' + token");
    expect(script).toContain('sessionStorage');
    expect(script).not.toMatch(/localStorage|document\.cookie|[?&]token=/);
  });
});

describe('one token for reads and writes', () => {
  it('accepts admin.readToken equal to admin.token for both', async () => {
    const proxy = await startProxy({ config: { admin: { address: '127.0.0.1', port: 0, token: WRITE, readToken: WRITE } } });
    try {
      const admin = `http://127.0.0.1:${proxy.app.adminAddress!.port}`;
      expect((await fetchText(`${admin}/api/v1/status`)).status).toBe(401);
      expect((await fetchText(`${admin}/api/v1/status`, { headers: { authorization: `Bearer ${WRITE}` } })).status).toBe(200);
      expect((await fetchText(`${admin}/api/v1/reload`, { method: 'POST', headers: { authorization: `Bearer ${WRITE}` } })).status).toBe(200);
    } finally {
      await proxy.close();
    }
  });
});

describe('an admin listener off loopback with open reads', () => {
  it('is worth a warning that names admin.readToken and admin.metricsListener; on loopback or with a read token, none', () => {
    const log = captureLog();
    warnIfReadsOpen({ address: '0.0.0.0', port: 9901 }, log.logger);
    warnIfReadsOpen({ address: '127.0.0.1', port: 9901 }, log.logger);
    warnIfReadsOpen({ address: '10.0.0.5', port: 9901, readToken: READ }, log.logger);
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatchObject({ level: 'warn', address: '0.0.0.0', port: 9901 });
    expect(String(log.lines[0]!.msg)).toMatch(/admin\.readToken.*admin\.metricsListener/);
  });
});

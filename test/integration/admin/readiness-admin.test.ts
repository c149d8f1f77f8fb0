import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { runCli } from '../../support/router-process.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';

const TOKEN = 'readiness-admin-token-0123456789';

describe('failing readiness on purpose ahead of a restart (admin API and CLI)', () => {
  let upstream: TestUpstream;
  let h: ProxyHarness;
  let adminUrl: string;
  let metricsUrl: string;
  const auth = { authorization: `Bearer ${TOKEN}` };

  beforeAll(async () => {
    upstream = await startUpstream('app');
    h = await startProxy({
      services: { app: [{ port: upstream.port }] },
      config: {
        routes: [{ name: 'all', match: { path: '/' }, service: 'app' }],
        admin: { address: '127.0.0.1', port: 0, token: TOKEN, metricsListener: { address: '127.0.0.1', port: 0 } },
      },
    });
    adminUrl = `http://127.0.0.1:${h.app.adminAddress!.port}`;
    metricsUrl = `http://127.0.0.1:${h.app.metricsAddress!.port}`;
  });
  afterAll(async () => {
    await h.close();
    await upstream.close();
  });

  it('is an admin write: refused without the token, and from another origin', async () => {
    const none = await fetchJson(`${adminUrl}/api/v1/readiness/fail`, { method: 'POST' });
    expect(none.status).toBe(401);
    const wrong = await fetchJson(`${adminUrl}/api/v1/readiness/fail`, { method: 'POST', headers: { authorization: 'Bearer not-the-admin-token-at-all' } });
    expect(wrong.status).toBe(401);
    const crossSite = await fetchJson(`${adminUrl}/api/v1/readiness/fail`, { method: 'POST', headers: { ...auth, origin: 'http://evil.example' } });
    expect(crossSite.status).toBe(403);
    expect((await fetchText(`${adminUrl}/readyz`)).status).toBe(200);
    // GET is not a way to change it.
    expect((await fetchJson(`${adminUrl}/api/v1/readiness/fail`, { headers: auth })).status).toBe(404);
  });

  it('fail: /readyz answers 503 on both listeners while requests are still served; restore undoes it', async () => {
    const failed = await fetchJson(`${adminUrl}/api/v1/readiness/fail`, { method: 'POST', headers: auth });
    expect(failed.status).toBe(200);
    expect(failed.json).toEqual({ ready: false, readinessFailed: true, notReadyReason: 'readiness failed through the admin API (POST /api/v1/readiness/restore to undo)' });
    expect((await fetchText(`${adminUrl}/readyz`)).status).toBe(503);
    expect((await fetchText(`${metricsUrl}/readyz`)).status).toBe(503);
    expect((await fetchText(`${adminUrl}/healthz`)).status).toBe(200);
    expect((await fetchText(`${h.url}/still-served`)).status).toBe(200);
    const status = await fetchJson(`${adminUrl}/api/v1/status`, { headers: auth });
    expect(status.json).toMatchObject({ ready: false, readinessFailed: true });
    expect(h.log.find('readiness failed through the admin API')).toHaveLength(1);
    // Failing twice changes nothing and logs nothing more.
    expect((await fetchJson(`${adminUrl}/api/v1/readiness/fail`, { method: 'POST', headers: auth })).status).toBe(200);
    expect(h.log.find('readiness failed through the admin API')).toHaveLength(1);

    const restored = await fetchJson(`${adminUrl}/api/v1/readiness/restore`, { method: 'POST', headers: auth });
    expect(restored.json).toEqual({ ready: true, readinessFailed: false, notReadyReason: null });
    expect((await fetchText(`${adminUrl}/readyz`)).status).toBe(200);
    expect((await fetchText(`${metricsUrl}/readyz`)).status).toBe(200);
  });

  it('switchyard readiness fail|restore, and a clear usage error otherwise', { timeout: 90_000 }, async () => {
    const env = { SWITCHYARD_ADMIN_TOKEN: TOKEN };
    const fail = await runCli(['readiness', 'fail', '--admin', adminUrl], env);
    expect(fail).toMatchObject({ code: 0, stdout: 'not ready: /readyz answers 503 (readiness failed through the admin API (POST /api/v1/readiness/restore to undo)); requests are still served\n' });
    expect(h.app.ready).toBe(false);
    const status = await runCli(['status', '--admin', adminUrl], env);
    expect(status.stdout).toContain('not ready (readiness failed through the admin API');
    const restore = await runCli(['readiness', 'restore', '--admin', adminUrl, '--json'], env);
    expect(restore.code).toBe(0);
    expect(JSON.parse(restore.stdout)).toEqual({ ready: true, readinessFailed: false, notReadyReason: null });
    expect(h.app.ready).toBe(true);

    const bad = await runCli(['readiness', 'off', '--admin', adminUrl], env);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('switchyard readiness: say fail (make /readyz answer 503 ahead of a restart) or restore');
    const noToken = await runCli(['readiness', 'fail', '--admin', adminUrl], { SWITCHYARD_ADMIN_TOKEN: '' });
    expect(noToken.code).toBe(1);
    expect(noToken.stderr).toMatch(/^switchyard readiness: .*401/);
    expect(h.app.ready).toBe(true);
  });
});

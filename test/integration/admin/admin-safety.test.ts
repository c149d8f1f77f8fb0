import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchText } from '../../support/http-client.js';
import { startProxy, type ProxyHarness } from '../../support/proxy-harness.js';

describe('admin listener safety', () => {
  let proxy: ProxyHarness;
  let admin: string;
  const token = 'test-admin-token-0123456789';

  beforeAll(async () => {
    proxy = await startProxy({ config: { admin: { address: '127.0.0.1', port: 0, token } } });
    admin = `http://127.0.0.1:${proxy.app.adminAddress!.port}`;
  });
  afterAll(async () => {
    await proxy.close();
  });

  it('binds to loopback by default', async () => {
    const other = await startProxy({ config: { admin: { port: 0 } } });
    try {
      expect(other.app.adminAddress!.address).toBe('127.0.0.1');
    } finally {
      await other.close();
    }
  });

  it('leaves health probes open', async () => {
    expect((await fetchText(`${admin}/healthz`)).status).toBe(200);
  });

  it('requires the bearer token for mutations', async () => {
    const denied = await fetchText(`${admin}/api/v1/reload`, { method: 'POST' });
    expect(denied.status).toBe(401);
    expect(denied.headers['www-authenticate']).toContain('Bearer');
    expect((await fetchText(`${admin}/api/v1/reload`, { method: 'POST', headers: { authorization: 'Bearer wrong-token-0123456789' } })).status).toBe(401);
    expect((await fetchText(`${admin}/api/v1/reload`, { method: 'POST', headers: { authorization: `Bearer ${token}` } })).status).toBe(200);
  });

  it('sends no CORS headers, even to a cross-origin preflight', async () => {
    const r = await fetchText(`${admin}/healthz`, { method: 'OPTIONS', headers: { origin: 'https://evil.example', 'access-control-request-method': 'GET' } });
    expect(Object.keys(r.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    const g = await fetchText(`${admin}/healthz`, { headers: { origin: 'https://evil.example' } });
    expect(Object.keys(g.headers).filter((h) => h.startsWith('access-control-'))).toEqual([]);
    expect(g.headers['x-content-type-options']).toBe('nosniff');
  });
});

import { afterEach, describe, expect, it } from 'vitest';
import { ConsulEmulator } from '../../support/consul-emulator.js';
import { fetchJson, fetchText } from '../../support/http-client.js';

describe('Consul emulator: Connect endpoints', () => {
  let emulator: ConsulEmulator | null = null;
  afterEach(async () => {
    await emulator?.close();
    emulator = null;
  });

  it('serves roots and a leaf with blocking queries that wake on rotation', async () => {
    emulator = await ConsulEmulator.start();
    const roots = await fetchJson<{ TrustDomain: string; ActiveRootID: string; Roots: { Active: boolean }[] }>(`${emulator.url}/v1/agent/connect/ca/roots`);
    expect(roots.json.Roots).toHaveLength(1);
    expect(roots.json.TrustDomain).toMatch(/\.consul$/);
    const leaf = await fetchJson<{ ServiceURI: string; SerialNumber: string; ValidBefore: string }>(`${emulator.url}/v1/agent/connect/ca/leaf/web`);
    expect(leaf.json.ServiceURI).toBe(`spiffe://${roots.json.TrustDomain}/ns/default/dc/dc1/svc/web`);
    const leafIndex = Number(leaf.headers['x-consul-index']);
    const blocked = fetchJson<{ SerialNumber: string }>(`${emulator.url}/v1/agent/connect/ca/leaf/web?index=${leafIndex}&wait=30s`);
    await new Promise((r) => setTimeout(r, 100));
    const rotated = await emulator.rotateLeaf('web');
    const woke = await blocked;
    expect(woke.json.SerialNumber).toBe(rotated.SerialNumber);
    expect(Number(woke.headers['x-consul-index'])).toBeGreaterThan(leafIndex);

    const rootsIndex = Number(roots.headers['x-consul-index']);
    const blockedRoots = fetchJson<{ ActiveRootID: string; Roots: { Active: boolean; IntermediateCerts: string[] | null }[] }>(`${emulator.url}/v1/agent/connect/ca/roots?index=${rootsIndex}&wait=30s`);
    await new Promise((r) => setTimeout(r, 100));
    await emulator.rotateRoots();
    const newRoots = await blockedRoots;
    expect(newRoots.json.ActiveRootID).not.toBe(roots.json.ActiveRootID);
    expect(newRoots.json.Roots.map((r) => r.Active)).toEqual([false, true]);
    expect(newRoots.json.Roots[1]!.IntermediateCerts).toHaveLength(1);
  });

  it('answers authorize from intentions (exact source, then "*", then the default) and refuses bad requests', async () => {
    emulator = await ConsulEmulator.start();
    const uri = (service: string) => emulator!.connectCa.spiffeUri(service);
    const ask = (body: unknown) => fetchText(`${emulator!.url}/v1/agent/connect/authorize`, { method: 'POST', body: JSON.stringify(body) });
    const decision = async (source: string) => JSON.parse((await ask({ Target: 'api', ClientCertURI: uri(source), ClientCertSerial: '01' })).body) as { Authorized: boolean; Reason: string };
    expect((await decision('web')).Authorized).toBe(true);
    emulator.setIntention('*', 'api', 'deny');
    emulator.setIntention('web', 'api', 'allow');
    expect((await decision('web')).Authorized).toBe(true);
    expect(await decision('billing')).toMatchObject({ Authorized: false, Reason: expect.stringContaining('* => api') });
    emulator.deleteIntention('*', 'api');
    emulator.setIntentionDefault('deny');
    expect((await decision('billing')).Authorized).toBe(false);
    expect((await decision('web')).Authorized).toBe(true);
    expect((await ask({ Target: 'api', ClientCertURI: 'spiffe://other.consul/ns/default/dc/dc1/svc/web' })).body).toContain('external trust domain');
    expect((await ask({ ClientCertURI: uri('web') })).status).toBe(400);
    expect((await ask({ Target: 'api', ClientCertURI: 'https://nope' })).status).toBe(400);
    expect((await fetchText(`${emulator.url}/v1/agent/connect/authorize`)).status).toBe(405);
  });

  it('lists connect-proxies under /v1/health/connect/<destination> and refuses invalid proxy registrations', async () => {
    emulator = await ConsulEmulator.start();
    emulator.register({ ID: 'api-1', Name: 'api', Port: 8080 });
    emulator.register({ ID: 'api-1-proxy', Name: 'api-sidecar-proxy', Kind: 'connect-proxy', Port: 21000, Proxy: { DestinationServiceName: 'api', Upstreams: [{ DestinationName: 'db', LocalBindPort: 9191 }] } });
    emulator.register({ ID: 'native-1', Name: 'native', Port: 7000, Connect: { Native: true } });
    const api = await fetchJson<{ Service: { ID: string; Port: number; Kind: string } }[]>(`${emulator.url}/v1/health/connect/api`);
    expect(api.json.map((e) => [e.Service.ID, e.Service.Kind, e.Service.Port])).toEqual([['api-1-proxy', 'connect-proxy', 21000]]);
    expect((await fetchJson<{ Service: { ID: string } }[]>(`${emulator.url}/v1/health/connect/native`)).json.map((e) => e.Service.ID)).toEqual(['native-1']);
    const register = (body: unknown) => fetchText(`${emulator!.url}/v1/agent/service/register`, { method: 'PUT', body: JSON.stringify(body) });
    expect((await register({ Name: 'x-proxy', Kind: 'connect-proxy', Port: 1 })).body).toContain('DestinationServiceName');
    expect((await register({ Name: 'x-proxy', Kind: 'connect-proxy', Proxy: { DestinationServiceName: 'x' } })).body).toContain('Port must be set');
    const twice = await register({ Name: 'x-proxy', Kind: 'connect-proxy', Port: 1, Proxy: { DestinationServiceName: 'x', Upstreams: [{ DestinationName: 'a', LocalBindPort: 9 }, { DestinationName: 'b', LocalBindPort: 9 }] } });
    expect(twice.status).toBe(400);
    expect(twice.body).toContain('duplicates');
    expect((await register({ Name: 'gw', Kind: 'mesh-gateway', Port: 1 })).status).toBe(400);
  });
});

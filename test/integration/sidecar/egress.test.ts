import { afterEach, describe, expect, it } from 'vitest';
import { ConsulEmulator } from '../../support/consul-emulator.js';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { eventually } from '../../support/proxy-harness.js';
import { startSidecar, type InProcessSidecar } from '../../support/sidecar-harness.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

describe('sidecar: egress', () => {
  let emulator: ConsulEmulator | null = null;
  let sc: InProcessSidecar | null = null;
  const upstreams: TestUpstream[] = [];
  afterEach(async () => {
    await sc?.close();
    await emulator?.close();
    await Promise.all(upstreams.splice(0).map((u) => u.close()));
    sc = null;
    emulator = null;
  });

  it('reaches another service registered in Consul by /<service>/... (prefix stripped) and by Host, balancing over its instances', async () => {
    emulator = await ConsulEmulator.start();
    upstreams.push(await startUpstream('inventory-1'), await startUpstream('inventory-2'));
    for (const u of upstreams) emulator.register({ ID: u.name, Name: 'inventory', Address: '127.0.0.1', Port: u.port });
    sc = await startSidecar(emulator, { egress: { enabled: true, port: 0 } });
    const egress = `http://127.0.0.1:${sc.sidecar.egressAddress!.port}`;

    await eventually(async () => (await fetchText(`${egress}/inventory/items/1`)).status === 200, 10_000, 'egress route to inventory');
    const byPath = await fetchJson<EchoReply>(`${egress}/inventory/items/1?full=1`);
    expect(byPath.json.url).toBe('/items/1?full=1');
    const byHost = await fetchJson<EchoReply>(`${egress}/items/2`, { headers: { host: 'inventory' } });
    expect(byHost.json.url).toBe('/items/2');
    const seen = new Set<string>();
    for (let i = 0; i < 4; i++) seen.add((await fetchJson<EchoReply>(`${egress}/inventory/`)).json.instance);
    expect([...seen].sort()).toEqual(['inventory-1', 'inventory-2']);

    // The app itself reaches inventory through the egress listener.
    await eventually(async () => (await fetchText(`${sc!.url}/hello`)).status === 200, 10_000, 'app up');
    const viaApp = await fetchJson<{ status: number; body: string }>(`${sc.url}/call?url=${encodeURIComponent(`${egress}/inventory/from-app`)}`);
    expect(viaApp.json.status).toBe(200);
    expect((JSON.parse(viaApp.json.body) as EchoReply).url).toBe('/from-app');

    // An unknown service is a 404 from the proxy; a critical instance is no longer used.
    const unknown = await fetchText(`${egress}/payments/x`);
    expect(unknown.status).toBe(404);
    expect(unknown.headers['x-switchyard-error']).toBe('no_route');
    emulator.register({ ID: 'inventory-2', Name: 'inventory', Address: '127.0.0.1', Port: upstreams[1]!.port, Check: { CheckID: 'inv2', TTL: '1m', Status: 'critical' } });
    await eventually(async () => {
      const replies = await Promise.all([1, 2, 3, 4].map(() => fetchJson<EchoReply>(`${egress}/inventory/`)));
      return replies.every((r) => r.json.instance === 'inventory-1');
    }, 10_000, 'critical instance dropped');
  });
});

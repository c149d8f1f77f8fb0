import { connect as tlsConnect, createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectCA, type LeafCertificate } from '../../support/connect-ca.js';
import { ConsulEmulator } from '../../support/consul-emulator.js';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { eventually } from '../../support/proxy-harness.js';
import { freePorts, startSidecar, type InProcessSidecar } from '../../support/sidecar-harness.js';

/** The value of one sample in Prometheus text (0 when absent). */
function sample(text: string, name: string, labels = ''): number {
  const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `) || (labels === '' && l.startsWith(`${name} `)));
  return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(' ') + 1));
}

interface RawOutcome {
  /** The TLS handshake completed (both sides verified the chain). */
  handshake: boolean;
  /** The HTTP response, when one came. */
  response: string;
  serverSerial: string | null;
  error: string | null;
}

/** One HTTP/1.1 request over a raw TLS connection presenting `leaf`, trusting `ca`. */
function rawTlsRequest(port: number, leaf: { CertPEM: string; PrivateKeyPEM: string }, ca: string[]): Promise<RawOutcome> {
  return new Promise((resolve) => {
    const out: RawOutcome = { handshake: false, response: '', serverSerial: null, error: null };
    const socket: TLSSocket = tlsConnect({ host: '127.0.0.1', port, cert: leaf.CertPEM, key: leaf.PrivateKeyPEM, ca, checkServerIdentity: () => undefined }, () => {
      out.handshake = true;
      out.serverSerial = socket.getPeerCertificate().serialNumber;
      socket.write('GET /hello HTTP/1.1\r\nhost: api\r\nconnection: close\r\n\r\n');
    });
    socket.setTimeout(5_000, () => socket.destroy(new Error('timed out')));
    socket.on('data', (d: Buffer) => (out.response += d.toString('utf8')));
    socket.on('error', (err) => (out.error = err.message));
    socket.on('close', () => resolve(out));
  });
}

function serialHex(colonHex: string): string {
  return colonHex.replace(/:/g, '').toUpperCase();
}

describe('sidecar: Consul Connect (service mesh)', () => {
  let emulator: ConsulEmulator;
  /** "web" calls "api" through its Connect upstream; both are Switchyard sidecars. */
  let web: InProcessSidecar;
  let api: InProcessSidecar;
  let webUpstreamPort: number;
  let ledgerUpstreamPort: number;
  let webEgress: string;

  const rootPems = () => emulator.connectCa.rootsResponse(1).Roots.map((r) => r.RootCert);
  const apiConnectPort = () => api.sidecar.connectAddress!.port;
  const viaWeb = (path: string) => fetchText(`http://127.0.0.1:${webUpstreamPort}${path}`);

  beforeAll(async () => {
    emulator = await ConsulEmulator.start();
    api = await startSidecar(emulator, { service: 'api', connect: { enabled: true, port: 0, authorizeCacheTtl: '100ms' } });
    [webUpstreamPort, ledgerUpstreamPort] = await freePorts(2);
    web = await startSidecar(emulator, {
      service: 'web',
      egress: { enabled: true, port: 0 },
      connect: {
        enabled: true,
        port: 0,
        authorizeCacheTtl: '100ms',
        upstreams: [
          { service: 'api', localBindPort: webUpstreamPort },
          { service: 'ledger', localBindPort: ledgerUpstreamPort },
        ],
      },
    });
    webEgress = `http://127.0.0.1:${web.sidecar.egressAddress!.port}`;
    await eventually(async () => (await viaWeb('/hello')).status === 200, 15_000, 'web → api over Connect');
  }, 60_000);

  afterAll(async () => {
    await web?.close();
    await api?.close();
    await emulator?.close();
  });

  it('registers each sidecar as the connect-proxy of its instance, with its upstreams, and lists it under /v1/health/connect', async () => {
    const webProxy = emulator.calls.find((c) => c.op === 'register' && c.id === 'web-test-host-' + web.port + '-sidecar-proxy');
    expect(webProxy).toBeDefined();
    const reg = webProxy!.detail as { Kind: string; Name: string; Port: number; Proxy: { DestinationServiceName: string; DestinationServiceID: string; LocalServicePort: number; Upstreams: { DestinationName: string; LocalBindPort: number }[] } };
    expect(reg.Kind).toBe('connect-proxy');
    expect(reg.Name).toBe('web-sidecar-proxy');
    expect(reg.Port).toBe(web.sidecar.connectAddress!.port);
    expect(reg.Proxy.DestinationServiceName).toBe('web');
    expect(reg.Proxy.DestinationServiceID).toBe(web.sidecar.serviceId);
    expect(reg.Proxy.LocalServicePort).toBe(web.port);
    expect(reg.Proxy.Upstreams.map((u) => [u.DestinationName, u.LocalBindPort])).toEqual([
      ['api', webUpstreamPort],
      ['ledger', ledgerUpstreamPort],
    ]);
    const listed = await fetchJson<{ Service: { Service: string; Port: number; Kind?: string } }[]>(`${emulator.url}/v1/health/connect/api`);
    expect(listed.json.map((e) => [e.Service.Service, e.Service.Kind, e.Service.Port])).toEqual([['api-sidecar-proxy', 'connect-proxy', apiConnectPort()]]);
  });

  it('carries a call from web to api over mTLS: through the upstream listener and through egress by name, reaching api\'s app', async () => {
    const direct = await fetchJson<{ port: number }>(`http://127.0.0.1:${webUpstreamPort}/hello`);
    expect(direct.status).toBe(200);
    expect(direct.json.port).toBe(api.appPorts[0]);
    const byName = await fetchJson<{ port: number }>(`${webEgress}/api/hello`);
    expect(byName.status).toBe(200);
    expect(byName.json.port).toBe(api.appPorts[0]);
    // web's app itself, through its upstream listener.
    await eventually(async () => (await fetchText(`${web.url}/hello`)).status === 200, 10_000, 'web app up');
    const fromApp = await fetchJson<{ status: number; body: string }>(`${web.url}/call?url=${encodeURIComponent(`http://127.0.0.1:${webUpstreamPort}/hello`)}`);
    expect(fromApp.json.status).toBe(200);
    expect((JSON.parse(fromApp.json.body) as { port: number }).port).toBe(api.appPorts[0]);
    // The plain inbound port is unchanged (the edge router and non-mesh callers keep it).
    expect((await fetchText(`${api.url}/hello`)).status).toBe(200);
  });

  it('does no TLS handshake per request: a steady stream of calls rides kept-alive connections', async () => {
    const before = sample(await api.sidecar.metricsText(), 'switchyard_sidecar_connect_connections_total', '{result="authorized"}');
    const calls = 60;
    for (let i = 0; i < calls; i++) expect((await viaWeb('/hello')).status).toBe(200);
    const after = sample(await api.sidecar.metricsText(), 'switchyard_sidecar_connect_connections_total', '{result="authorized"}');
    // Sequential calls: at most one new connection (if the kept one timed out just before).
    expect(after - before).toBeLessThanOrEqual(1);
  });

  it('refuses a caller whose intention is deny (connection closed, counted), and allows it again when the intention goes', async () => {
    const webLeaf = await emulator.connectCa.issueLeaf('web', 1);
    const allowed = await rawTlsRequest(apiConnectPort(), webLeaf, rootPems());
    expect(allowed.handshake).toBe(true);
    expect(allowed.response).toMatch(/^HTTP\/1\.1 200/);

    const deniedBefore = sample(await api.sidecar.metricsText(), 'switchyard_sidecar_connect_connections_total', '{result="denied"}');
    emulator.setIntention('web', 'api', 'deny');
    await new Promise((r) => setTimeout(r, 250)); // past the 100 ms decision cache
    const denied = await rawTlsRequest(apiConnectPort(), webLeaf, rootPems());
    expect(denied.handshake).toBe(true);
    expect(denied.response).toBe('');
    const deniedAfter = sample(await api.sidecar.metricsText(), 'switchyard_sidecar_connect_connections_total', '{result="denied"}');
    expect(deniedAfter).toBe(deniedBefore + 1);
    expect(emulator.requestsTo('/v1/agent/connect/authorize').length).toBeGreaterThan(0);

    emulator.deleteIntention('web', 'api');
    await new Promise((r) => setTimeout(r, 250));
    expect((await rawTlsRequest(apiConnectPort(), webLeaf, rootPems())).response).toMatch(/^HTTP\/1\.1 200/);
  });

  it('refuses a third service by intention (default deny), a certificate from another CA at the handshake, and a client without a certificate', async () => {
    emulator.setIntentionDefault('deny');
    emulator.setIntention('web', 'api', 'allow');
    try {
      await new Promise((r) => setTimeout(r, 250));
      const billing = await emulator.connectCa.issueLeaf('billing', 1);
      const refused = await rawTlsRequest(apiConnectPort(), billing, rootPems());
      expect(refused.handshake).toBe(true);
      expect(refused.response).toBe('');
      expect((await viaWeb('/hello')).status).toBe(200);

      // The right name, signed by a CA Consul does not know: the handshake fails.
      const foreign = new ConnectCA('dc1');
      await foreign.init();
      const forged = await foreign.issueLeaf('web', 1, { uri: emulator.connectCa.spiffeUri('web') });
      const failuresBefore = sample(await api.sidecar.metricsText(), 'switchyard_sidecar_connect_tls_handshake_failures_total');
      const forgedOutcome = await rawTlsRequest(apiConnectPort(), forged, rootPems());
      expect(forgedOutcome.response).toBe('');
      const noCert = await new Promise<string>((resolve) => {
        const s = tlsConnect({ host: '127.0.0.1', port: apiConnectPort(), ca: rootPems(), checkServerIdentity: () => undefined }, () => s.write('GET /hello HTTP/1.1\r\nhost: api\r\n\r\n'));
        let text = '';
        s.on('data', (d: Buffer) => (text += d.toString()));
        s.on('error', () => undefined);
        s.on('close', () => resolve(text));
      });
      expect(noCert).toBe('');
      await eventually(async () => sample(await api.sidecar.metricsText(), 'switchyard_sidecar_connect_tls_handshake_failures_total') >= failuresBefore + 2, 5_000, 'handshake failures counted');
    } finally {
      emulator.setIntentionDefault('allow');
      emulator.deleteIntention('web', 'api');
    }
  });

  it('refuses, on egress, a server whose certificate names another service (same CA)', async () => {
    // "ledger"'s registered Connect endpoint answers with billing's leaf: a valid chain, the wrong identity.
    const billing = await emulator.connectCa.issueLeaf('billing', 1);
    let requestsSeen = 0;
    const impostor = createTlsServer({ cert: billing.CertPEM, key: billing.PrivateKeyPEM, ca: rootPems(), requestCert: true, rejectUnauthorized: false }, (s) => {
      s.on('data', () => requestsSeen++);
      s.on('error', () => undefined);
    });
    await new Promise<void>((r) => impostor.listen(0, '127.0.0.1', r));
    try {
      emulator.register({ ID: 'ledger-proxy', Name: 'ledger-sidecar-proxy', Kind: 'connect-proxy', Address: '127.0.0.1', Port: (impostor.address() as AddressInfo).port, Proxy: { DestinationServiceName: 'ledger' } });
      await eventually(async () => (await fetchText(`http://127.0.0.1:${ledgerUpstreamPort}/x`)).status !== 503, 10_000, 'ledger endpoint known');
      const res = await fetchText(`http://127.0.0.1:${ledgerUpstreamPort}/x`);
      expect(res.status).toBe(502);
      expect(requestsSeen).toBe(0);
      expect(web.log.lines.some((l) => JSON.stringify(l).includes('not the identity of service \\"ledger\\"'))).toBe(true);
    } finally {
      emulator.deregister('ledger-proxy');
      impostor.close();
    }
  });

  it('rotates the leaves under steady load with no failed request; new handshakes present the new leaf', async () => {
    const oldApiSerial = emulator.currentLeaf('api')!.SerialNumber;
    let failed = 0;
    let done = 0;
    let doneAtRotation = -1;
    const worker = async () => {
      for (let i = 0; i < 80; i++) {
        const r = await viaWeb('/hello').catch(() => ({ status: 0 }));
        if (r.status !== 200) failed++;
        done++;
      }
    };
    const load = Promise.all([worker(), worker(), worker()]);
    await eventually(() => done >= 40, 20_000, 'load under way');
    const newApi: LeafCertificate = await emulator.rotateLeaf('api');
    await emulator.rotateLeaf('web');
    doneAtRotation = done;
    await load;
    // Both leaves changed while requests were still flowing.
    expect(doneAtRotation).toBeLessThan(240);
    expect(done).toBe(240);
    expect(failed).toBe(0);
    expect(newApi.SerialNumber).not.toBe(oldApiSerial);
    await eventually(async () => (await rawTlsRequest(apiConnectPort(), await emulator.connectCa.issueLeaf('web', 1), rootPems())).serverSerial === serialHex(newApi.SerialNumber), 10_000, 'api presents its new leaf');
    expect(api.log.find('new leaf certificate in use').length).toBeGreaterThan(0);
  });

  it('rotates the CA roots (new root cross-signed by the old): new connections succeed and use leaves of the new root', async () => {
    const oldRoots = rootPems();
    await emulator.rotateRoots();
    const newRootId = emulator.connectCa.activeRoot.id;
    await eventually(() => api.log.find('new CA roots in use').length > 0 && web.log.find('new CA roots in use').length > 0, 10_000, 'both sidecars took the new roots');
    const newApiSerial = serialHex(emulator.currentLeaf('api')!.SerialNumber);
    await eventually(async () => (await rawTlsRequest(apiConnectPort(), await emulator.connectCa.issueLeaf('web', 1), rootPems())).serverSerial === newApiSerial, 10_000, 'api presents its leaf of the new root');
    // A peer that still trusts only the old root verifies the new leaf through the cross-signed root.
    const oldOnly = await rawTlsRequest(apiConnectPort(), await emulator.connectCa.issueLeaf('web', 1), oldRoots);
    expect(oldOnly.handshake).toBe(true);
    expect(newRootId).not.toBe('');
    for (let i = 0; i < 10; i++) expect((await viaWeb('/hello')).status).toBe(200);
    // Once the old root is gone, everything still works on the new one.
    emulator.pruneRoots();
    await new Promise((r) => setTimeout(r, 300));
    for (let i = 0; i < 10; i++) expect((await viaWeb('/hello')).status).toBe(200);
  });

  it('keeps serving with the last good certificates while the agent is unreachable, logging the outage once', async () => {
    const warnings = () => api.log.find('cannot read certificates from the Consul agent').length;
    const before = warnings();
    await emulator.stop();
    try {
      await eventually(() => warnings() === before + 1, 10_000, 'outage logged');
      // Retries go on (backoff) but the outage is one log line.
      await new Promise((r) => setTimeout(r, 1_500));
      expect(warnings()).toBe(before + 1);
      for (let i = 0; i < 10; i++) expect((await viaWeb('/hello')).status).toBe(200);
      // A new connection from a caller decided before is still accepted (its last decision holds).
      const fresh = await rawTlsRequest(apiConnectPort(), await emulator.connectCa.issueLeaf('web', 1), rootPems());
      expect(fresh.response).toMatch(/^HTTP\/1\.1 200/);
    } finally {
      await emulator.listen();
    }
    await eventually(() => api.log.find('the Consul agent answers again').length > 0, 15_000, 'recovery logged');
    expect((await viaWeb('/hello')).status).toBe(200);
  });

  it('logs once when the leaf expires while the agent is away', async () => {
    await emulator.rotateLeaf('api', 1_500);
    await eventually(() => api.log.find('new leaf certificate in use').some((l) => Date.parse(String(l.validBefore)) - Date.now() < 3_000), 10_000, 'short leaf in use');
    await emulator.stop();
    try {
      await eventually(() => api.log.find('the leaf certificate has expired').length === 1, 10_000, 'expiry logged');
    } finally {
      await emulator.listen();
    }
    await emulator.rotateLeaf('api');
    await eventually(async () => (await viaWeb('/hello')).status === 200, 15_000, 'serving again with a fresh leaf');
  });
});

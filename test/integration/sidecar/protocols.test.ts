import * as grpc from '@grpc/grpc-js';
import { mkdtemp, readFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import type { SidecarStatus } from '../../../src/sidecar/sidecar.js';
import { createTestCa } from '../../support/certificates.js';
import { ConsulEmulator } from '../../support/consul-emulator.js';
import { EchoClient, echoClient, startEchoServer, unaryCall, type EchoClientInstance, type EchoServer } from '../../support/grpc-echo.js';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { http2Request, openHttp2 } from '../../support/http2-client.js';
import { parsePrometheusText, samples } from '../../support/prometheus-text.js';
import { eventually } from '../../support/proxy-harness.js';
import { startSidecar, type InProcessSidecar } from '../../support/sidecar-harness.js';

const GRPC_APP = fileURLToPath(new URL('../../support/sidecar-grpc-test-app.ts', import.meta.url));

type Line = Record<string, unknown>;
const accessLines = (lines: readonly Line[], direction: string): Line[] => lines.filter((l) => l.component === 'access' && l.direction === direction);

function serverStream(client: EchoClientInstance, n: number): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const items: string[] = [];
    const call = client.serverStream(String(n)) as grpc.ClientReadableStream<string>;
    call.on('data', (m: string) => items.push(m));
    call.on('error', reject);
    call.on('end', () => resolve(items));
  });
}

describe('sidecar: HTTP/2 and gRPC', () => {
  let emulator: ConsulEmulator | null = null;
  let sc: InProcessSidecar | null = null;
  const clients: grpc.Client[] = [];
  const servers: EchoServer[] = [];
  afterEach(async () => {
    for (const c of clients.splice(0)) c.close();
    await sc?.close();
    await emulator?.close();
    await Promise.all(servers.splice(0).map((s) => s.close()));
    sc = null;
    emulator = null;
  });

  it('serves h2c inbound (told apart from HTTP/1.1 on the same port) and reaches an HTTP/1.1 app', async () => {
    sc = await startSidecar(null, { inbound: { protocols: ['http1', 'h2c'] } });
    await eventually(async () => (await fetchText(`${sc!.url}/hello`)).status === 200, 10_000, 'app up');
    const session = await openHttp2(sc.url);
    try {
      const res = await http2Request(session, { ':method': 'GET', ':path': '/hello', ':authority': 'orders' });
      expect(res.status).toBe(200);
      expect(JSON.parse(res.body.toString()).httpVersion).toBe('1.1');
    } finally {
      session.close();
    }
    expect((await fetchJson<{ httpVersion: string }>(`${sc.url}/hello`)).json.httpVersion).toBe('1.1');
    await eventually(async () => accessLines(sc!.log.lines, 'inbound').some((l) => l.protocol === 'HTTP/2'), 5_000, 'HTTP/2 access line');
  });

  it('limits HTTP/2 requests like HTTP/1.1 ones: 503 over_capacity beyond the limit and the queue, the queued stream served once a slot frees', async () => {
    sc = await startSidecar(null, { inbound: { protocols: ['http1', 'h2c'], maxConcurrent: 2, queue: 1 } });
    await eventually(async () => (await fetchText(`${sc!.url}/hello`)).status === 200, 10_000, 'app up');
    const appUrl = `http://127.0.0.1:${sc.appPorts[0]}`;
    const session = await openHttp2(sc.url);
    try {
      const held = [1, 2, 3].map((i) => http2Request(session, { ':method': 'GET', ':path': `/slow?id=h${i}`, ':authority': 'orders' }));
      await eventually(async () => (await fetchJson<{ held: number }>(`${appUrl}/held`)).json.held === 2, 10_000, 'two held');
      await eventually(() => sc!.sidecar.inFlight === 3, 10_000, 'one queued');
      const rejected = await http2Request(session, { ':method': 'GET', ':path': '/hello', ':authority': 'orders' });
      expect(rejected.status).toBe(503);
      expect(rejected.headers['x-switchyard-error']).toBe('over_capacity');
      expect(JSON.parse(rejected.body.toString()).message).toContain('2 request(s) in progress and 1 waiting');
      await fetchJson(`${appUrl}/release-all`);
      await eventually(async () => (await fetchJson<{ held: number }>(`${appUrl}/held`)).json.held === 1, 10_000, 'queued one forwarded');
      await fetchJson(`${appUrl}/release-all`);
      const results = await Promise.all(held);
      expect(results.map((r) => r.status)).toEqual([200, 200, 200]);
      expect(results.map((r) => (JSON.parse(r.body.toString()) as { released: string }).released).sort()).toEqual(['h1', 'h2', 'h3']);
      await eventually(() => sc!.sidecar.inFlight === 0, 5_000, 'every slot released');
    } finally {
      session.close();
    }
  });

  it('serves TLS inbound with h2 by ALPN (and HTTP/1.1 over TLS), and reaches an h2c app checked over HTTP/2', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-sidecar-tls-'));
    const ca = await createTestCa(dir);
    const server = await ca.issue('inbound', 'orders.test', ['IP:127.0.0.1', 'DNS:orders.test']);
    sc = await startSidecar(null, {
      inbound: { tls: { cert: server.cert, key: server.key, watch: false } },
      app: { protocol: 'h2c', env: { APP_PROTOCOL: 'h2c' } },
    });
    const caPem = await readFile(ca.cert);
    const url = `https://127.0.0.1:${sc.port}`;
    // Healthy only if the sidecar's http check spoke HTTP/2 to the h2c-only app.
    await eventually(async () => (await sc!.sidecar.status()).instances[0]!.healthy, 10_000, 'h2c app healthy');
    const session = await openHttp2(url, { ca: caPem });
    try {
      expect(session.alpnProtocol).toBe('h2');
      const res = await http2Request(session, { ':method': 'GET', ':path': '/hello' });
      expect(res.status).toBe(200);
      // The app was reached over cleartext HTTP/2.
      expect(JSON.parse(res.body.toString()).httpVersion).toBe('2.0');
    } finally {
      session.close();
    }
    const { Agent, request } = await import('undici');
    const agent = new Agent({ connect: { ca: caPem } });
    try {
      const res = await request(`${url}/hello`, { dispatcher: agent });
      expect(res.statusCode).toBe(200);
      expect(((await res.body.json()) as { httpVersion: string }).httpVersion).toBe('2.0');
    } finally {
      await agent.close();
    }
    await eventually(async () => accessLines(sc!.log.lines, 'inbound').length >= 2, 5_000, 'access lines');
    const lines = accessLines(sc.log.lines, 'inbound');
    expect(lines.map((l) => l.protocol).sort()).toEqual(['HTTP/1.1', 'HTTP/2']);
    for (const l of lines) expect(l).toMatchObject({ tls: expect.stringMatching(/^TLSv1\.[23]$/), status: 200, route: 'inbound' });
  });

  it('a gRPC client reaches a gRPC app through inbound (unary and streaming); the gRPC health check takes the app out and back', async () => {
    sc = await startSidecar(null, {
      inbound: { protocols: ['http1', 'h2c'] },
      admin: { enabled: true, port: 0 },
      app: { command: [process.execPath, '--import', 'tsx', GRPC_APP], protocol: 'grpc', healthCheck: { type: 'grpc', interval: '50ms', timeout: '1s' } },
    });
    const health = async () => (await fetchJson<SidecarStatus>(`http://127.0.0.1:${sc!.sidecar.adminAddress!.port}/status`)).json.instances[0]!.healthy;
    // The app is a real process started through tsx: slow to start on a loaded machine.
    await eventually(health, 40_000, 'gRPC app healthy by grpc.health.v1');
    const client = echoClient(`127.0.0.1:${sc.port}`);
    clients.push(client);
    expect(await unaryCall(client, 'hi')).toBe('echo:hi@0');
    expect(await serverStream(client, 3)).toEqual(['item 0', 'item 1', 'item 2']);

    // NOT_SERVING: the sidecar's check marks the instance unhealthy, and inbound stops sending to it.
    expect(await unaryCall(client, 'health:NOT_SERVING')).toBe('echo:health:NOT_SERVING@0');
    await eventually(async () => !(await health()), 10_000, 'app unhealthy after NOT_SERVING');
    expect(sc.log.find('app instance is unhealthy')[0]).toMatchObject({ instance: 0, output: 'grpc health: NOT_SERVING' });
    const refused = await unaryCall(client, 'while-unhealthy').then(() => null, (e: grpc.ServiceError) => e);
    expect(refused?.code).toBe(grpc.status.UNAVAILABLE);

    // SERVING again, set on the app's own port: back in rotation.
    const direct = echoClient(`127.0.0.1:${sc.appPorts[0]}`);
    clients.push(direct);
    await unaryCall(direct, 'health:SERVING');
    await eventually(health, 10_000, 'app healthy again');
    expect(await unaryCall(client, 'again')).toBe('echo:again@0');

    const metrics = parsePrometheusText((await fetchText(`http://127.0.0.1:${sc.sidecar.adminAddress!.port}/metrics`)).body);
    expect(samples(metrics, 'switchyard_grpc_responses_total', { route: 'inbound', service: 'orders', grpc_status: 'OK' })[0]?.value).toBe(4);
    expect(samples(metrics, 'switchyard_grpc_responses_total', { route: 'inbound', service: 'orders', grpc_status: 'UNAVAILABLE' })[0]?.value).toBe(1);
  }, 90_000);

  it('a gRPC client reaches a gRPC service through egress (Host = the service name; instance meta proto grpc)', async () => {
    emulator = await ConsulEmulator.start();
    const echo = await startEchoServer();
    servers.push(echo);
    emulator.register({ ID: 'echo-1', Name: 'echo', Address: '127.0.0.1', Port: echo.port, Meta: { proto: 'grpc' } });
    sc = await startSidecar(emulator, { egress: { enabled: true, port: 0 }, admin: { enabled: true, port: 0 } });
    const client = new EchoClient(`127.0.0.1:${sc.sidecar.egressAddress!.port}`, grpc.credentials.createInsecure(), { 'grpc.default_authority': 'echo' }) as EchoClientInstance;
    clients.push(client);
    await eventually(async () => (await unaryCall(client, 'ping').catch(() => null)) === 'echo:ping', 10_000, 'egress route to echo');
    expect(await serverStream(client, 2)).toEqual(['item 0', 'item 1']);
    // A gRPC error from the service reaches the client as it was sent.
    const fail = new grpc.Metadata();
    fail.set('x-fail', String(grpc.status.NOT_FOUND));
    const failed = await unaryCall(client, 'x', { metadata: fail }).then(() => null, (e: grpc.ServiceError) => e);
    expect(failed?.code).toBe(grpc.status.NOT_FOUND);

    await eventually(async () => accessLines(sc!.log.lines, 'egress').filter((l) => l.route === 'echo').length >= 3, 5_000, 'egress access lines');
    expect(accessLines(sc.log.lines, 'egress').at(-1)).toMatchObject({ route: 'echo', service: 'echo', protocol: 'HTTP/2', status: 200, upstream: `127.0.0.1:${echo.port}` });
    const metrics = parsePrometheusText((await fetchText(`http://127.0.0.1:${sc.sidecar.adminAddress!.port}/metrics`)).body);
    // ping, the stream; then the NOT_FOUND.
    expect(samples(metrics, 'switchyard_grpc_responses_total', { route: 'echo', service: 'echo', grpc_status: 'OK' })[0]?.value).toBe(2);
    expect(samples(metrics, 'switchyard_grpc_responses_total', { route: 'echo', service: 'echo', grpc_status: 'NOT_FOUND' })[0]?.value).toBe(1);
  });
});

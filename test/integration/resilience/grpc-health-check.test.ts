import * as grpc from '@grpc/grpc-js';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HealthFlag, type Endpoint } from '../../../src/upstream/endpoint.js';
import { ServingStatus } from '../../../src/upstream/grpc-health-messages.js';
import { createTestCa, readPair } from '../../support/certificates.js';
import { FaultUpstream } from '../../support/fault-upstream.js';
import { GrpcHealthServer } from '../../support/grpc-health-server.js';
import { fetchText } from '../../support/http-client.js';
import { ProtocolSplitUpstream } from '../../support/protocol-split-upstream.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';

// Short intervals keep the test quick; a timeout of 300ms leaves a loaded machine room to answer.
const FAST_CHECKS = { type: 'grpc', interval: '300ms', jitter: '20ms', timeout: '300ms', healthyThreshold: 2, unhealthyThreshold: 2 };

function listen(server: HttpServer | NetServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

describe('active health checks with the gRPC health protocol', () => {
  let a: GrpcHealthServer;
  let b: GrpcHealthServer;
  /** The HTTP/1.1 APIs of a and b, and one port per instance in front of API and gRPC health. */
  let apiA: FaultUpstream;
  let apiB: FaultUpstream;
  let instanceA: ProtocolSplitUpstream;
  let instanceB: ProtocolSplitUpstream;
  let dir: string;
  let noHealth: GrpcHealthServer;
  let secure: GrpcHealthServer;
  let http1: HttpServer;
  let http1Port: number;
  let silent: NetServer;
  let silentPort: number;
  const silentSockets = new Set<Socket>();
  let proxy: ProxyHarness;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-grpc-ca-'));
    const ca = await createTestCa(dir);
    const leaf = await readPair(await ca.issue('grpc', 'grpc.test', ['DNS:grpc.test']));
    [a, b, noHealth, secure] = await Promise.all([
      GrpcHealthServer.start('a'),
      GrpcHealthServer.start('b'),
      GrpcHealthServer.start('no-health', { health: false }),
      GrpcHealthServer.start('secure', { credentials: grpc.ServerCredentials.createSsl(null, [{ private_key: leaf.key, cert_chain: leaf.cert }], false) }),
    ]);
    http1 = createHttpServer((_req, res) => res.end('not gRPC'));
    silent = createNetServer((socket) => {
      silentSockets.add(socket);
      socket.resume();
      socket.on('close', () => silentSockets.delete(socket));
    });
    [http1Port, silentPort] = await Promise.all([listen(http1), listen(silent)]);
    [apiA, apiB] = await Promise.all([FaultUpstream.start('a'), FaultUpstream.start('b')]);
    [instanceA, instanceB] = await Promise.all([ProtocolSplitUpstream.start(a.port, apiA.port), ProtocolSplitUpstream.start(b.port, apiB.port)]);
    proxy = await startProxy({
      services: {
        api: [{ port: instanceA.port }, { port: instanceB.port }],
        named: [{ port: a.port }],
        'no-health': [{ port: noHealth.port }],
        http1: [{ port: http1Port }],
        'http1-node': [{ port: http1Port }],
        silent: [{ port: silentPort }],
        secure: [{ port: secure.port }],
      },
      config: {
        routes: [{ name: 'api', match: { path: '/api' }, service: 'api' }],
        services: {
          api: { healthCheck: FAST_CHECKS },
          named: { protocol: 'h2c', healthCheck: { ...FAST_CHECKS, grpcService: 'shop.Orders' } },
          'no-health': { protocol: 'h2c', healthCheck: FAST_CHECKS },
          http1: { healthCheck: FAST_CHECKS },
          'http1-node': { http2Client: 'node', healthCheck: FAST_CHECKS },
          silent: { protocol: 'h2c', healthCheck: FAST_CHECKS },
          secure: { protocol: 'h2', tls: { ca: ca.cert, serverName: 'grpc.test' }, healthCheck: FAST_CHECKS },
        },
      },
    });
  });
  afterAll(async () => {
    await proxy.close();
    for (const s of silentSockets) s.destroy();
    await Promise.all([instanceA.close(), instanceB.close(), apiA.close(), apiB.close()]);
    await Promise.all([a.close(), b.close(), noHealth.close(), secure.close(), new Promise((r) => http1.close(r)), new Promise((r) => silent.close(r))]);
    await rm(dir, { recursive: true, force: true });
  });

  const endpointOf = (service: string, port: number): Endpoint => proxy.app.upstreams.get(service).endpoints.find((e) => e.instance.port === port)!;
  const failing = (e: Endpoint): boolean => (e.healthFlags & HealthFlag.activeCheck) !== 0;

  /** Instances that answer requests through the proxy. */
  const instancesServing = async (n: number): Promise<Set<string>> => {
    const seen = new Set<string>();
    for (let i = 0; i < n; i++) {
      const r = await fetchText(`${proxy.url}/api`);
      expect(r.status).toBe(200);
      seen.add(String(r.headers['x-instance']));
    }
    return seen;
  };

  it('SERVING passes; NOT_SERVING takes the instance out of rotation; SERVING again brings it back', async () => {
    const endpoint = endpointOf('api', instanceB.port);
    await eventually(() => endpoint.lastHealthCheck?.detail === 'SERVING', 5_000, 'b to pass a gRPC health check');
    expect(endpoint.lastHealthCheck!.ok).toBe(true);
    expect(await instancesServing(6)).toEqual(new Set(['a', 'b']));

    b.statuses.set('', ServingStatus.NOT_SERVING);
    await eventually(() => failing(endpoint) && endpoint.lastHealthCheck?.detail === 'NOT_SERVING', 5_000, 'b to fail its gRPC health check with NOT_SERVING');
    expect(await instancesServing(6)).toEqual(new Set(['a']));

    b.statuses.set('', ServingStatus.SERVING);
    await eventually(() => endpoint.healthy, 5_000, 'b to pass its gRPC health check again');
    expect(await instancesServing(6)).toEqual(new Set(['a', 'b']));
  });

  it('asks for grpcService: unknown to the server fails (NOT_FOUND), known and SERVING passes', async () => {
    const endpoint = endpointOf('named', a.port);
    const detail = 'grpc-status 5 (NOT_FOUND): unknown service "shop.Orders"';
    await eventually(() => failing(endpoint) && endpoint.lastHealthCheck?.detail === detail, 5_000, 'the unknown service to fail with NOT_FOUND');
    a.statuses.set('shop.Orders', ServingStatus.SERVING);
    await eventually(() => endpoint.healthy, 5_000, 'the service, now known, to pass');
    expect(a.checks).toContain('shop.Orders');
  });

  it('fails a gRPC server without the health service (UNIMPLEMENTED)', async () => {
    const endpoint = endpointOf('no-health', noHealth.port);
    const unimplemented = /^grpc-status 12 \(UNIMPLEMENTED\): .*grpc\.health\.v1\.Health\/Check/;
    await eventually(() => failing(endpoint) && unimplemented.test(endpoint.lastHealthCheck?.detail ?? ''), 5_000, 'the server without health service to fail with UNIMPLEMENTED');
  });

  const NOT_H2C = 'no HTTP/2 answer (is the instance serving gRPC over cleartext HTTP/2 (h2c) on this port?): ';

  it('fails a plain HTTP/1.1 server, saying HTTP/2 was expected (probe on the codec, the default)', async () => {
    const endpoint = endpointOf('http1', http1Port);
    const detail = `${NOT_H2C}it answered in HTTP/1.x ("HTTP/1.1 400 Bad Request")`;
    await eventually(() => failing(endpoint) && endpoint.lastHealthCheck?.detail === detail, 5_000, 'the HTTP/1.1 server to fail, saying HTTP/2 was expected');
  });

  it('probes on node:http2 for a service with http2Client: node', async () => {
    // node:http2's words for the same peer: the setting reaches the probe.
    const endpoint = endpointOf('http1-node', http1Port);
    await eventually(() => failing(endpoint) && endpoint.lastHealthCheck?.detail === `${NOT_H2C}Protocol error`, 5_000, 'the HTTP/1.1 server to fail on node:http2');
  });

  it('a settings change to http2Client moves the probes to that client', async () => {
    const cluster = proxy.app.upstreams.get('http1');
    // The change rebuilds the endpoints (their pools move to the other client too): each step
    // reads the endpoint the cluster has now.
    const endpoint = () => endpointOf('http1', http1Port);
    await eventually(() => endpoint().lastHealthCheck?.detail.endsWith('it answered in HTTP/1.x ("HTTP/1.1 400 Bad Request")') === true, 5_000, 'a probe on the codec');
    cluster.setSettings({ ...cluster.settings, http2Client: 'node' });
    await eventually(() => endpoint().lastHealthCheck?.detail === `${NOT_H2C}Protocol error`, 5_000, 'a probe on node:http2 after the change');
    cluster.setSettings({ ...cluster.settings, http2Client: 'switchyard' });
    await eventually(() => endpoint().lastHealthCheck?.detail.endsWith('("HTTP/1.1 400 Bad Request")') === true, 5_000, 'a probe on the codec again');
  });

  it('fails a server that never answers, by timeout', async () => {
    const endpoint = endpointOf('silent', silentPort);
    await eventually(() => failing(endpoint), 5_000, 'the silent server to fail');
    expect(endpoint.lastHealthCheck!.detail).toBe('no answer within 300ms');
  });

  it('probes over TLS with the service\'s CA and servername', async () => {
    const endpoint = endpointOf('secure', secure.port);
    await eventually(() => endpoint.lastHealthCheck?.detail === 'SERVING', 5_000, 'a probe over TLS to pass');
    secure.statuses.set('', ServingStatus.NOT_SERVING);
    await eventually(() => failing(endpoint) && endpoint.lastHealthCheck?.detail === 'NOT_SERVING', 5_000, 'the TLS instance to fail with NOT_SERVING');
  });

  it('stops probing instances that leave the registry: no probe connection stays open', async () => {
    const before = b.checks.length;
    await eventually(() => b.checks.length > before, 5_000, 'b to be probed');
    await proxy.writeServices({ api: [{ port: instanceA.port }], named: [], 'no-health': [], http1: [], 'http1-node': [], silent: [], secure: [] });
    await eventually(() => proxy.app.upstreams.get('api').endpoints.length === 1, 5_000, 'the registry update');
    await new Promise((r) => setTimeout(r, 50)); // a probe in flight ends
    const probes = b.checks.length;
    await new Promise((r) => setTimeout(r, 1_000));
    expect(b.checks.length).toBe(probes);
    await eventually(() => silentSockets.size === 0, 5_000, 'the probe connection to the silent server to close');
  });
});

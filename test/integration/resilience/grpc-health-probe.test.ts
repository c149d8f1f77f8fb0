import * as grpc from '@grpc/grpc-js';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { constants, createServer as createHttp2Server, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ConnectionOptions } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeHealthCheckRequest, encodeHealthCheckResponse, grpcFrame, ServingStatus } from '../../../src/upstream/grpc-health-messages.js';
import { probeGrpcHealth, type GrpcProbeTarget } from '../../../src/upstream/grpc-health-probe.js';
import { createTestCa, readPair } from '../../support/certificates.js';
import { GrpcHealthServer } from '../../support/grpc-health-server.js';
import { eventually } from '../../support/proxy-harness.js';

interface Outcome {
  ok: boolean;
  detail: string;
}

function probe(target: GrpcProbeTarget, service = '', timeoutMs = 3_000): Promise<Outcome> {
  return new Promise((resolve) => probeGrpcHealth(target, service, timeoutMs, (ok, detail) => resolve({ ok, detail })));
}

const h2c = (port: number): GrpcProbeTarget => ({ key: `127.0.0.1:${port}`, tls: null });

function listen(server: HttpServer | Http2Server | NetServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function close(server: HttpServer | Http2Server | NetServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

describe('gRPC health probe against @grpc/grpc-js servers (h2c)', () => {
  let withHealth: GrpcHealthServer;
  let withoutHealth: GrpcHealthServer;

  beforeAll(async () => {
    [withHealth, withoutHealth] = await Promise.all([GrpcHealthServer.start('a'), GrpcHealthServer.start('b', { health: false })]);
  });
  afterAll(async () => {
    await Promise.all([withHealth.close(), withoutHealth.close()]);
  });

  it('passes on SERVING and fails on every other serving status, naming it', async () => {
    expect(await probe(h2c(withHealth.port))).toEqual({ ok: true, detail: 'SERVING' });
    for (const [status, name] of [
      [ServingStatus.NOT_SERVING, 'NOT_SERVING'],
      [ServingStatus.UNKNOWN, 'UNKNOWN'],
      [ServingStatus.SERVICE_UNKNOWN, 'SERVICE_UNKNOWN'],
    ] as const) {
      withHealth.statuses.set('', status);
      expect(await probe(h2c(withHealth.port))).toEqual({ ok: false, detail: name });
    }
    withHealth.statuses.set('', ServingStatus.SERVING);
  });

  it('asks for the configured service; a service the server does not know fails with NOT_FOUND', async () => {
    withHealth.statuses.set('shop.Orders', ServingStatus.SERVING);
    expect(await probe(h2c(withHealth.port), 'shop.Orders')).toEqual({ ok: true, detail: 'SERVING' });
    expect(withHealth.checks.at(-1)).toBe('shop.Orders');
    expect(await probe(h2c(withHealth.port), 'shop.Missing')).toEqual({ ok: false, detail: 'grpc-status 5 (NOT_FOUND): unknown service "shop.Missing"' });
  });

  it('fails with UNIMPLEMENTED on a server without the health service', async () => {
    const outcome = await probe(h2c(withoutHealth.port));
    expect(outcome.ok).toBe(false);
    expect(outcome.detail).toMatch(/^grpc-status 12 \(UNIMPLEMENTED\): .*grpc\.health\.v1\.Health\/Check/);
  });
});

describe('gRPC health probe against servers that are not healthy gRPC servers', () => {
  let http1: HttpServer;
  let http1Port: number;
  let raw: Http2Server;
  let rawPort: number;
  let silent: NetServer;
  let silentPort: number;
  /** What the raw HTTP/2 server does with each request. */
  let answer: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void = () => {};
  let received: { headers: IncomingHttpHeaders; body: Buffer } | null = null;
  let openSessions = 0;
  const silentSockets = new Set<import('node:net').Socket>();

  beforeAll(async () => {
    http1 = createHttpServer((_req, res) => res.end('hello'));
    raw = createHttp2Server();
    raw.on('session', (session) => {
      openSessions++;
      session.on('close', () => openSessions--);
    });
    raw.on('stream', (stream, headers) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      // Resetting streams is what some cases do; the stream reports its own reset as an error.
      stream.on('error', (err: Error) => expect(err.message).toContain('NGHTTP2_INTERNAL_ERROR'));
      stream.on('end', () => (received = { headers, body: Buffer.concat(chunks) }));
      answer(stream, headers);
    });
    silent = createNetServer((socket) => {
      silentSockets.add(socket);
      socket.resume(); // read (and drop) what arrives, so the probe's close is seen
      socket.on('close', () => silentSockets.delete(socket));
    });
    [http1Port, rawPort, silentPort] = await Promise.all([listen(http1), listen(raw), listen(silent)]);
  });
  afterAll(async () => {
    for (const s of silentSockets) s.destroy();
    await Promise.all([close(http1), close(raw), close(silent)]);
  });

  const respond = (status: number, extra: Record<string, string> = {}) => (stream: ServerHttp2Stream, body?: Buffer, trailers?: Record<string, string>) => {
    stream.respond({ ':status': status, 'content-type': 'application/grpc', ...extra }, { waitForTrailers: trailers !== undefined });
    if (trailers !== undefined) stream.on('wantTrailers', () => stream.sendTrailers(trailers));
    stream.end(body);
  };

  it('sends a standard Health/Check request', async () => {
    answer = (stream) => respond(200)(stream, grpcFrame(encodeHealthCheckResponse(ServingStatus.SERVING)), { 'grpc-status': '0' });
    expect(await probe(h2c(rawPort), 'shop.Orders', 3_000)).toEqual({ ok: true, detail: 'SERVING' });
    expect(received!.headers).toMatchObject({
      ':method': 'POST',
      ':path': '/grpc.health.v1.Health/Check',
      'content-type': 'application/grpc',
      te: 'trailers',
      'grpc-timeout': '3000m',
    });
    expect(received!.body).toEqual(grpcFrame(encodeHealthCheckRequest('shop.Orders')));
  });

  it('fails a plain HTTP/1.1 server with a detail that says HTTP/2 was expected', async () => {
    const outcome = await probe(h2c(http1Port));
    expect(outcome.ok).toBe(false);
    expect(outcome.detail).toContain('no HTTP/2 answer (is the instance serving gRPC over cleartext HTTP/2 (h2c) on this port?)');
  });

  it('fails a refused connection', async () => {
    const spare = createNetServer();
    const sparePort = await listen(spare);
    await close(spare);
    const outcome = await probe(h2c(sparePort));
    expect(outcome.ok).toBe(false);
    expect(outcome.detail).toContain('ECONNREFUSED');
  });

  it('fails a server that never answers when the timeout passes, and closes the connection', async () => {
    const outcome = await probe(h2c(silentPort), '', 200);
    expect(outcome).toEqual({ ok: false, detail: 'no answer within 200ms' });
    await eventually(() => silentSockets.size === 0, 5_000, 'the probe connection to close');
  });

  it('times out an HTTP/2 server that takes the request and never answers, and closes the session', async () => {
    answer = () => {};
    const outcome = await probe(h2c(rawPort), '', 200);
    expect(outcome).toEqual({ ok: false, detail: 'no answer within 200ms' });
    await eventually(() => openSessions === 0, 5_000, 'the probe session to close');
  });

  it('destroy() cancels a probe in flight: no outcome, session closed', async () => {
    answer = () => {};
    let outcome: Outcome | null = null;
    const handle = probeGrpcHealth(h2c(rawPort), '', 5_000, (ok, detail) => (outcome = { ok, detail }));
    await eventually(() => openSessions === 1, 5_000, 'the probe session to open');
    handle.destroy();
    await eventually(() => openSessions === 0, 5_000, 'the probe session to close');
    await new Promise((r) => setTimeout(r, 50));
    expect(outcome).toBeNull();
  });

  const faults: Array<[string, (stream: ServerHttp2Stream) => void, string | RegExp]> = [
    ['a non-200 status', (s) => respond(503)(s, Buffer.from('busy')), 'HTTP status 503 (a gRPC server answers 200)'],
    ['a content-type other than application/grpc', (s) => respond(200, { 'content-type': 'text/plain' })(s, Buffer.from('ok')), 'content-type "text/plain" is not application/grpc'],
    [
      'a trailers-only error with a percent-encoded message',
      (s) => s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'draining%20now' }, { endStream: true }),
      'grpc-status 14 (UNAVAILABLE): draining now',
    ],
    ['a grpc-status outside the gRPC codes', (s) => respond(200)(s, undefined, { 'grpc-status': '99' }), 'grpc-status 99 (not a gRPC status code)'],
    ['no grpc-status at all', (s) => respond(200)(s, grpcFrame(encodeHealthCheckResponse(1))), 'response ended without grpc-status (neither in trailers nor in a trailers-only response)'],
    [
      'a truncated message',
      (s) => respond(200)(s, Buffer.from([0, 0, 0, 0, 9, 0x08]), { 'grpc-status': '0' }),
      'malformed HealthCheckResponse: truncated gRPC message (prefix says 9 bytes, 1 arrived)',
    ],
    [
      'a compressed message',
      (s) => respond(200)(s, Buffer.from([1, 0, 0, 0, 2, 0x08, 0x01]), { 'grpc-status': '0' }),
      'malformed HealthCheckResponse: compressed gRPC message (no compression was offered)',
    ],
    ['an empty body with grpc-status 0', (s) => respond(200)(s, undefined, { 'grpc-status': '0' }), 'malformed HealthCheckResponse: empty response body (no gRPC message)'],
    [
      'a message of the wrong shape',
      (s) => respond(200)(s, grpcFrame(Buffer.from([0x0a, 0x01, 0x01])), { 'grpc-status': '0' }),
      'malformed HealthCheckResponse: HealthCheckResponse.status has wire type 2, expected 0 (varint)',
    ],
    [
      'a body over 64 KiB',
      (s) => respond(200)(s, Buffer.alloc(70 * 1024), { 'grpc-status': '0' }),
      'response body larger than 65536 bytes (a HealthCheckResponse is a few bytes)',
    ],
    ['a stream reset', (s) => s.close(constants.NGHTTP2_INTERNAL_ERROR), /HTTP\/2 error code 2|NGHTTP2_INTERNAL_ERROR/],
  ];
  for (const [what, reply, detail] of faults) {
    it(`fails ${what}`, async () => {
      answer = reply;
      const outcome = await probe(h2c(rawPort));
      expect(outcome.ok).toBe(false);
      if (typeof detail === 'string') expect(outcome.detail).toBe(detail);
      else expect(outcome.detail).toMatch(detail);
      await eventually(() => openSessions === 0, 5_000, 'the probe session to close');
    });
  }
});

describe('gRPC health probe over TLS (@grpc/grpc-js server with a test CA)', () => {
  let dir: string;
  let server: GrpcHealthServer;
  let ca: Buffer;
  const tls = (port: number, options: ConnectionOptions): GrpcProbeTarget => ({ key: `127.0.0.1:${port}`, tls: options });

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-grpc-tls-'));
    const testCa = await createTestCa(dir);
    const leaf = await readPair(await testCa.issue('grpc', 'grpc.test', ['DNS:grpc.test', 'IP:127.0.0.1']));
    ca = await readFile(testCa.cert);
    server = await GrpcHealthServer.start('tls', {
      credentials: grpc.ServerCredentials.createSsl(null, [{ private_key: leaf.key, cert_chain: leaf.cert }], false),
    });
  });
  afterAll(async () => {
    await server.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('passes with the CA and the servername (or the address) the certificate covers', async () => {
    expect(await probe(tls(server.port, { ca, servername: 'grpc.test', rejectUnauthorized: true }))).toEqual({ ok: true, detail: 'SERVING' });
    expect(await probe(tls(server.port, { ca, rejectUnauthorized: true }))).toEqual({ ok: true, detail: 'SERVING' });
  });

  it('verifies the certificate: unknown CA or a name it does not cover fails; verify off passes', async () => {
    const unknownCa = await probe(tls(server.port, { rejectUnauthorized: true }));
    expect(unknownCa.ok).toBe(false);
    expect(unknownCa.detail).toMatch(/^cannot connect \(TLS, ALPN h2\): .*certificate/);
    const wrongName = await probe(tls(server.port, { ca, servername: 'other.test', rejectUnauthorized: true }));
    expect(wrongName.ok).toBe(false);
    expect(wrongName.detail).toMatch(/^cannot connect \(TLS, ALPN h2\): .*other\.test/);
    expect(await probe(tls(server.port, { rejectUnauthorized: false }))).toEqual({ ok: true, detail: 'SERVING' });
  });

  it('fails a cleartext probe of the TLS port, saying HTTP/2 was expected', async () => {
    const outcome = await probe(h2c(server.port), '', 1_000);
    expect(outcome.ok).toBe(false);
    expect(outcome.detail).toMatch(/no HTTP\/2 answer \(is the instance serving gRPC over cleartext HTTP\/2 \(h2c\) on this port\?\)|no answer within 1000ms/);
  });
});

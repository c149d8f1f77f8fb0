import * as grpc from '@grpc/grpc-js';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { constants, createSecureServer, createServer as createHttp2Server, type Http2SecureServer, type Http2Server, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer as createTlsServer, type ConnectionOptions, type Server as TlsServer, type TLSSocket } from 'node:tls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeHealthCheckRequest, encodeHealthCheckResponse, grpcFrame, ServingStatus } from '../../../src/upstream/grpc-health-messages.js';
import { probeGrpcHealth, type GrpcProbeClient, type GrpcProbeTarget } from '../../../src/upstream/grpc-health-probe.js';
import { createTestCa, readPair } from '../../support/certificates.js';
import { GrpcHealthServer } from '../../support/grpc-health-server.js';
import { eventually } from '../../support/proxy-harness.js';
import { dataFrame, ErrorCode, FrameType, goawayFrame, headersFrame, hpackBlock, rstStreamFrame } from '../../support/raw-http2-client.js';
import { startRawHttp2Upstream, type RawHttp2Upstream } from '../../support/raw-http2-upstream.js';

interface Outcome {
  ok: boolean;
  detail: string;
}

const h2c = (port: number): GrpcProbeTarget => ({ key: `127.0.0.1:${port}`, tls: null });

function listen(server: HttpServer | HttpsServer | Http2Server | Http2SecureServer | NetServer | TlsServer): Promise<number> {
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
}

function close(server: HttpServer | HttpsServer | Http2Server | Http2SecureServer | NetServer | TlsServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()));
}

/** The details that differ between the two HTTP/2 clients: the codec's words, then node:http2's. */
const byClient = (client: GrpcProbeClient, codec: string | RegExp, node: string | RegExp): string | RegExp => (client === 'switchyard' ? codec : node);

function expectDetail(outcome: Outcome, detail: string | RegExp): void {
  expect(outcome.ok).toBe(false);
  if (typeof detail === 'string') expect(outcome.detail).toBe(detail);
  else expect(outcome.detail).toMatch(detail);
}

// Every behaviour holds on both engines: the codec (the default) and node:http2 (http2Client: node).
for (const client of ['switchyard', 'node'] as const) {
  const probe = (target: GrpcProbeTarget, service = '', timeoutMs = 3_000): Promise<Outcome> =>
    new Promise((resolve) => probeGrpcHealth(target, service, timeoutMs, (ok, detail) => resolve({ ok, detail }), client));

  describe(`gRPC health probe on ${client} against @grpc/grpc-js servers (h2c)`, () => {
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
      expectDetail(await probe(h2c(withoutHealth.port)), /^grpc-status 12 \(UNIMPLEMENTED\): .*grpc\.health\.v1\.Health\/Check/);
    });
  });

  describe(`gRPC health probe on ${client} against HTTP/2 servers that answer wrongly (node:http2 server)`, () => {
    let raw: Http2Server;
    let rawPort: number;
    /** What the raw HTTP/2 server does with each request. */
    let answer: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void = () => {};
    let received: { headers: IncomingHttpHeaders; body: Buffer } | null = null;
    let openSessions = 0;
    let sessionsOpened = 0;

    beforeAll(async () => {
      raw = createHttp2Server();
      raw.on('session', (session) => {
        openSessions++;
        sessionsOpened++;
        session.on('close', () => openSessions--);
        session.on('error', () => undefined); // the probe closing mid-answer is one of the outcomes
      });
      raw.on('stream', (stream, headers) => {
        const chunks: Buffer[] = [];
        stream.on('data', (c: Buffer) => chunks.push(c));
        // Resetting streams and ending sessions is what some cases do: the stream reports it.
        stream.on('error', () => undefined);
        stream.on('end', () => (received = { headers, body: Buffer.concat(chunks) }));
        answer(stream, headers);
      });
      rawPort = await listen(raw);
    });
    afterAll(async () => {
      await close(raw);
    });

    const respond = (status: number, extra: Record<string, string> = {}) => (stream: ServerHttp2Stream, body?: Buffer, trailers?: Record<string, string>) => {
      stream.respond({ ':status': status, 'content-type': 'application/grpc', ...extra }, { waitForTrailers: trailers !== undefined });
      if (trailers !== undefined) stream.on('wantTrailers', () => stream.sendTrailers(trailers));
      stream.end(body);
    };
    const serving = (stream: ServerHttp2Stream) => respond(200)(stream, grpcFrame(encodeHealthCheckResponse(ServingStatus.SERVING)), { 'grpc-status': '0' });

    it('sends a standard Health/Check request', async () => {
      answer = serving;
      expect(await probe(h2c(rawPort), 'shop.Orders', 3_000)).toEqual({ ok: true, detail: 'SERVING' });
      expect(received!.headers).toMatchObject({
        ':method': 'POST',
        ':scheme': 'http',
        ':authority': `127.0.0.1:${rawPort}`,
        ':path': '/grpc.health.v1.Health/Check',
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': '3000m',
        'user-agent': 'switchyard-health-check',
      });
      expect(received!.body).toEqual(grpcFrame(encodeHealthCheckRequest('shop.Orders')));
    });

    it('opens a connection of its own for each probe and closes it after the answer', async () => {
      answer = serving;
      const before = sessionsOpened;
      for (let i = 0; i < 3; i++) expect(await probe(h2c(rawPort))).toEqual({ ok: true, detail: 'SERVING' });
      expect(sessionsOpened - before).toBe(3);
      await eventually(() => openSessions === 0, 5_000, 'the probe sessions to close');
    });

    it('times out an HTTP/2 server that takes the request and never answers, and closes the session', async () => {
      answer = () => {};
      expect(await probe(h2c(rawPort), '', 200)).toEqual({ ok: false, detail: 'no answer within 200ms' });
      await eventually(() => openSessions === 0, 5_000, 'the probe session to close');
    });

    it('destroy() cancels a probe in flight: no outcome, session closed', async () => {
      answer = () => {};
      let outcome: Outcome | null = null;
      const handle = probeGrpcHealth(h2c(rawPort), '', 5_000, (ok, detail) => (outcome = { ok, detail }), client);
      await eventually(() => openSessions === 1, 5_000, 'the probe session to open');
      handle.destroy();
      await eventually(() => openSessions === 0, 5_000, 'the probe session to close');
      await new Promise((r) => setTimeout(r, 50));
      expect(outcome).toBeNull();
    });

    const faults: Array<[string, (stream: ServerHttp2Stream) => void, string | RegExp]> = [
      ['a non-200 status', (s) => respond(503)(s, Buffer.from('busy')), 'HTTP status 503 (a gRPC server answers 200)'],
      ['a content-type other than application/grpc', (s) => respond(200, { 'content-type': 'text/plain' })(s, Buffer.from('ok')), 'content-type "text/plain" is not application/grpc'],
      ['a grpc-web content-type', (s) => respond(200, { 'content-type': 'application/grpc-web' })(s, Buffer.from('ok')), 'content-type "application/grpc-web" is not application/grpc'],
      [
        'no content-type',
        (s) => {
          s.respond({ ':status': 200 });
          s.end();
        },
        'content-type (none) is not application/grpc',
      ],
      [
        'a trailers-only error with a percent-encoded message',
        (s) => s.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': '14', 'grpc-message': 'draining%20now' }, { endStream: true }),
        'grpc-status 14 (UNAVAILABLE): draining now',
      ],
      [
        'a grpc-message that is not valid percent-encoding (shown as sent)',
        (s) => respond(200)(s, undefined, { 'grpc-status': '13', 'grpc-message': 'bad%zz' }),
        'grpc-status 13 (INTERNAL): bad%zz',
      ],
      ['a grpc-status outside the gRPC codes', (s) => respond(200)(s, undefined, { 'grpc-status': '99' }), 'grpc-status 99 (not a gRPC status code)'],
      ['a grpc-status that is not a number', (s) => respond(200)(s, undefined, { 'grpc-status': 'ok' }), 'grpc-status ok (not a gRPC status code)'],
      ['no grpc-status at all', (s) => respond(200)(s, grpcFrame(encodeHealthCheckResponse(1))), 'response ended without grpc-status (neither in trailers nor in a trailers-only response)'],
      [
        'a truncated message',
        (s) => respond(200)(s, Buffer.from([0, 0, 0, 0, 9, 0x08]), { 'grpc-status': '0' }),
        'malformed HealthCheckResponse: truncated gRPC message (prefix says 9 bytes, 1 arrived)',
      ],
      ['a truncated message prefix', (s) => respond(200)(s, Buffer.from([0, 0, 0]), { 'grpc-status': '0' }), 'malformed HealthCheckResponse: truncated gRPC message prefix (3 of 5 bytes)'],
      [
        'two messages',
        (s) => respond(200)(s, Buffer.concat([grpcFrame(encodeHealthCheckResponse(1)), grpcFrame(encodeHealthCheckResponse(1))]), { 'grpc-status': '0' }),
        'malformed HealthCheckResponse: 7 bytes after the gRPC message (a unary response has one message)',
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
      ['a serving status health.proto does not define', (s) => respond(200)(s, grpcFrame(encodeHealthCheckResponse(7)), { 'grpc-status': '0' }), 'serving status 7'],
      [
        'a body over 64 KiB',
        (s) => respond(200)(s, Buffer.alloc(70 * 1024), { 'grpc-status': '0' }),
        'response body larger than 65536 bytes (a HealthCheckResponse is a few bytes)',
      ],
      ['a stream reset (RST_STREAM)', (s) => s.close(constants.NGHTTP2_INTERNAL_ERROR), 'stream reset by the instance with INTERNAL_ERROR (2) before grpc-status'],
      ['a refused stream (RST_STREAM REFUSED_STREAM)', (s) => s.close(constants.NGHTTP2_REFUSED_STREAM), 'stream reset by the instance with REFUSED_STREAM (7) before grpc-status'],
      [
        'a stream reset after the response headers',
        (s) => {
          s.respond({ ':status': 200, 'content-type': 'application/grpc' });
          s.write(Buffer.from([0, 0, 0, 0, 2]), () => s.close(constants.NGHTTP2_CANCEL));
        },
        'stream reset by the instance with CANCEL (8) before grpc-status',
      ],
    ];
    for (const [what, reply, detail] of faults) {
      it(`fails ${what}`, async () => {
        answer = reply;
        expectDetail(await probe(h2c(rawPort)), detail);
        await eventually(() => openSessions === 0, 5_000, 'the probe session to close');
      });
    }
  });

  describe(`gRPC health probe on ${client} against crafted HTTP/2 frames`, () => {
    let upstream: RawHttp2Upstream;
    /** What the upstream sends back on the request's HEADERS frame. */
    let reply: (socket: Socket, streamId: number) => void = () => {};
    const grpcHead = hpackBlock([
      [':status', '200'],
      ['content-type', 'application/grpc'],
    ]);

    beforeAll(async () => {
      upstream = await startRawHttp2Upstream((peer, frame) => {
        if (frame.type === FrameType.HEADERS) reply(peer.socket, frame.streamId);
      });
    });
    afterAll(async () => {
      await upstream.close();
    });

    const openSockets = (): number => upstream.peers.filter((p) => !p.socket.destroyed).length;

    it('passes a well-formed answer written frame by frame (the server under test is sound)', async () => {
      reply = (socket, id) =>
        socket.write(
          Buffer.concat([
            headersFrame(id, grpcHead),
            dataFrame(id, grpcFrame(encodeHealthCheckResponse(ServingStatus.SERVING))),
            headersFrame(id, hpackBlock([['grpc-status', '0']]), { endStream: true }),
          ]),
        );
      expect(await probe(h2c(upstream.port))).toEqual({ ok: true, detail: 'SERVING' });
      expect(upstream.peers.at(-1)!.prefaceOk).toBe(true);
      await eventually(() => openSockets() === 0, 5_000, 'the probe connection to close');
    });

    it('fails a connection closed in the middle of the message', async () => {
      reply = (socket, id) => socket.end(Buffer.concat([headersFrame(id, grpcHead), dataFrame(id, Buffer.from([0, 0, 0, 0, 2, 0x08]))]));
      expectDetail(await probe(h2c(upstream.port)), byClient(client, 'the upstream closed the connection (other side closed)', 'stream reset by the instance with CANCEL (8) before grpc-status'));
      await eventually(() => openSockets() === 0, 5_000, 'the probe connection to close');
    });

    it('fails a connection reset after the request', async () => {
      reply = (socket) => socket.resetAndDestroy();
      expectDetail(await probe(h2c(upstream.port)), /ECONNRESET|closed/);
    });

    it('fails an RST_STREAM frame before the response', async () => {
      reply = (socket, id) => socket.write(rstStreamFrame(id, ErrorCode.INTERNAL_ERROR));
      expectDetail(await probe(h2c(upstream.port)), 'stream reset by the instance with INTERNAL_ERROR (2) before grpc-status');
      await eventually(() => openSockets() === 0, 5_000, 'the probe connection to close');
    });

    it('fails a GOAWAY that refuses the stream (last stream 0)', async () => {
      reply = (socket) => socket.write(goawayFrame(0, ErrorCode.NO_ERROR));
      expectDetail(await probe(h2c(upstream.port)), byClient(client, 'the upstream refused the stream (GOAWAY NO_ERROR (0), last stream 0)', 'stream reset by the instance with REFUSED_STREAM (7) before grpc-status'));
      await eventually(() => openSockets() === 0, 5_000, 'the probe connection to close');
    });

    it('fails a GOAWAY with an error code that ends the connection mid-answer', async () => {
      reply = (socket, id) => socket.end(Buffer.concat([headersFrame(id, grpcHead), dataFrame(id, Buffer.from([0, 0, 0, 0, 2])), goawayFrame(id, ErrorCode.ENHANCE_YOUR_CALM)]));
      expectDetail(await probe(h2c(upstream.port)), byClient(client, 'the upstream ended the connection with GOAWAY ENHANCE_YOUR_CALM (11)', 'Session closed with error code 11'));
      await eventually(() => openSockets() === 0, 5_000, 'the probe connection to close');
    });

    it('fails a GOAWAY frame with PROTOCOL_ERROR followed by a close', async () => {
      reply = (socket) => socket.end(goawayFrame(0, ErrorCode.PROTOCOL_ERROR));
      expectDetail(await probe(h2c(upstream.port)), byClient(client, 'the upstream refused the stream (GOAWAY PROTOCOL_ERROR (1), last stream 0)', 'Session closed with error code 1'));
    });

    it('fails a header block that cannot be decoded (HPACK)', async () => {
      reply = (socket, id) => socket.write(headersFrame(id, Buffer.from([0xff, 0xff, 0xff, 0xff, 0x0f])));
      // node:http2 on Node 20 leaves such a stream unanswered (its probe ends at the timeout);
      // from Node 22 on it fails the session with "Protocol error". Either way the probe fails.
      expectDetail(await probe(h2c(upstream.port), '', 1_000), byClient(client, /^the upstream sent a header block that cannot be decoded: .*COMPRESSION_ERROR/, /^(no answer within 1000ms|Protocol error)$/));
      await eventually(() => openSockets() === 0, 5_000, 'the probe connection to close');
    });

    it('fails a response without :status', async () => {
      reply = (socket, id) => socket.write(headersFrame(id, hpackBlock([['content-type', 'application/grpc']]), { endStream: true }));
      expectDetail(await probe(h2c(upstream.port)), byClient(client, /^the upstream sent a response without :status/, 'stream reset by the instance with PROTOCOL_ERROR (1) before grpc-status'));
      await eventually(() => openSockets() === 0, 5_000, 'the probe connection to close');
    });

    it('takes an interim 100 response before the answer', async () => {
      reply = (socket, id) =>
        socket.write(
          Buffer.concat([
            headersFrame(id, hpackBlock([[':status', '100']])),
            headersFrame(id, grpcHead),
            dataFrame(id, grpcFrame(encodeHealthCheckResponse(ServingStatus.NOT_SERVING))),
            headersFrame(id, hpackBlock([['grpc-status', '0']]), { endStream: true }),
          ]),
        );
      expect(await probe(h2c(upstream.port))).toEqual({ ok: false, detail: 'NOT_SERVING' });
    });
  });

  describe(`gRPC health probe on ${client} against peers that do not speak HTTP/2`, () => {
    let http1: HttpServer;
    let http1Port: number;
    let silent: NetServer;
    let silentPort: number;
    let garbage: NetServer;
    let garbagePort: number;
    let resetting: NetServer;
    let resettingPort: number;
    const silentSockets = new Set<Socket>();

    beforeAll(async () => {
      http1 = createHttpServer((_req, res) => res.end('hello'));
      silent = createNetServer((socket) => {
        silentSockets.add(socket);
        socket.resume(); // read (and drop) what arrives, so the probe's close is seen
        socket.on('close', () => silentSockets.delete(socket));
      });
      garbage = createNetServer((socket) => {
        socket.on('error', () => undefined);
        socket.resume(); // read (and drop) the preface, so the probe's close is seen
        socket.end('SSH-2.0-OpenSSH_9.6\r\n');
      });
      resetting = createNetServer((socket) => socket.resetAndDestroy());
      [http1Port, silentPort, garbagePort, resettingPort] = await Promise.all([listen(http1), listen(silent), listen(garbage), listen(resetting)]);
    });
    afterAll(async () => {
      for (const s of silentSockets) s.destroy();
      await Promise.all([close(http1), close(silent), close(garbage), close(resetting)]);
    });

    const NOT_H2C = 'no HTTP/2 answer (is the instance serving gRPC over cleartext HTTP/2 (h2c) on this port?): ';

    it('fails a plain HTTP/1.1 server with a detail that says HTTP/2 was expected', async () => {
      expectDetail(await probe(h2c(http1Port)), byClient(client, `${NOT_H2C}it answered in HTTP/1.x ("HTTP/1.1 400 Bad Request")`, `${NOT_H2C}Protocol error`));
    });

    it('fails a peer that answers with bytes that are not HTTP/2, showing them', async () => {
      const outcome = await probe(h2c(garbagePort));
      expectDetail(outcome, byClient(client, `${NOT_H2C}its first bytes are not an HTTP/2 SETTINGS frame (53 53 48 2d 32 2e 30 2d 4f 70 65 6e 53 53 48 5f)`, `${NOT_H2C}Protocol error`));
    });

    it('fails a refused connection', async () => {
      const spare = createNetServer();
      const sparePort = await listen(spare);
      await close(spare);
      expectDetail(await probe(h2c(sparePort)), new RegExp(`^cannot connect: .*ECONNREFUSED 127\\.0\\.0\\.1:${sparePort}`));
    });

    it('fails a connection reset by the peer', async () => {
      const outcome = await probe(h2c(resettingPort));
      expectDetail(outcome, /ECONNRESET|closed/);
      expect(outcome.detail).toMatch(/^(no HTTP\/2 answer|cannot connect)/);
    });

    it('fails a server that never answers when the timeout passes, and closes the connection', async () => {
      expect(await probe(h2c(silentPort), '', 200)).toEqual({ ok: false, detail: 'no answer within 200ms' });
      await eventually(() => silentSockets.size === 0, 5_000, 'the probe connection to close');
    });
  });

  describe(`gRPC health probe on ${client} over TLS`, () => {
    let dir: string;
    let server: GrpcHealthServer;
    let ca: Buffer;
    let http1Tls: HttpsServer;
    let http1TlsPort: number;
    let noAlpn: TlsServer;
    let noAlpnPort: number;
    let h2Tls: Http2SecureServer;
    let h2TlsPort: number;
    /** SNI names the TLS HTTP/2 server saw, in order (false: none sent). */
    const serverNames: Array<string | false> = [];
    const tls = (port: number, options: ConnectionOptions): GrpcProbeTarget => ({ key: `127.0.0.1:${port}`, tls: options });

    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'switchyard-grpc-tls-'));
      const testCa = await createTestCa(dir);
      const leaf = await readPair(await testCa.issue('grpc', 'grpc.test', ['DNS:grpc.test', 'IP:127.0.0.1']));
      ca = await readFile(testCa.cert);
      server = await GrpcHealthServer.start('tls', {
        credentials: grpc.ServerCredentials.createSsl(null, [{ private_key: leaf.key, cert_chain: leaf.cert }], false),
      });
      http1Tls = createHttpsServer({ key: leaf.key, cert: leaf.cert }, (_req, res) => res.end('hello'));
      noAlpn = createTlsServer({ key: leaf.key, cert: leaf.cert }, (socket) => {
        socket.on('error', () => undefined);
        socket.resume();
        socket.end('HTTP/1.1 400 Bad Request\r\n\r\n');
      });
      h2Tls = createSecureServer({ key: leaf.key, cert: leaf.cert });
      h2Tls.on('secureConnection', (socket: TLSSocket) => serverNames.push((socket as TLSSocket & { servername: string | false }).servername));
      h2Tls.on('stream', (stream) => {
        stream.on('error', () => undefined);
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(grpcFrame(encodeHealthCheckResponse(ServingStatus.SERVING)));
      });
      [http1TlsPort, noAlpnPort, h2TlsPort] = await Promise.all([listen(http1Tls), listen(noAlpn), listen(h2Tls)]);
    });
    afterAll(async () => {
      await server.close();
      await Promise.all([close(http1Tls), close(noAlpn), close(h2Tls)]);
      await rm(dir, { recursive: true, force: true });
    });

    it('passes with the CA and the servername (or the address) the certificate covers', async () => {
      expect(await probe(tls(server.port, { ca, servername: 'grpc.test', rejectUnauthorized: true }))).toEqual({ ok: true, detail: 'SERVING' });
      expect(await probe(tls(server.port, { ca, rejectUnauthorized: true }))).toEqual({ ok: true, detail: 'SERVING' });
    });

    it('verifies the certificate: unknown CA or a name it does not cover fails; verify off passes', async () => {
      expectDetail(await probe(tls(server.port, { rejectUnauthorized: true })), /^cannot connect \(TLS, ALPN h2\): .*certificate/);
      expectDetail(await probe(tls(server.port, { ca, servername: 'other.test', rejectUnauthorized: true })), /^cannot connect \(TLS, ALPN h2\): .*other\.test/);
      expect(await probe(tls(server.port, { rejectUnauthorized: false }))).toEqual({ ok: true, detail: 'SERVING' });
    });

    it('sends the configured servername as SNI, and none for an address', async () => {
      serverNames.length = 0;
      expect(await probe(tls(h2TlsPort, { ca, servername: 'grpc.test', rejectUnauthorized: true }))).toEqual({ ok: true, detail: 'SERVING' });
      expect(await probe(tls(h2TlsPort, { ca, rejectUnauthorized: true }))).toEqual({ ok: true, detail: 'SERVING' });
      expect(serverNames).toEqual(['grpc.test', false]);
    });

    const NOT_H2 = 'no HTTP/2 answer (is the instance serving gRPC over TLS with ALPN h2 on this port?): ';

    it('fails a TLS server that refuses h2 by ALPN (an HTTPS server), saying HTTP/2 was expected', async () => {
      expectDetail(
        await probe(tls(http1TlsPort, { ca, rejectUnauthorized: true })),
        byClient(client, `${NOT_H2}the instance refused HTTP/2 by ALPN (TLS alert no_application_protocol)`, /^cannot connect \(TLS, ALPN h2\): .*no application protocol/),
      );
    });

    it('fails a TLS server that chooses no protocol by ALPN, saying HTTP/2 was expected', async () => {
      expectDetail(await probe(tls(noAlpnPort, { ca, rejectUnauthorized: true })), byClient(client, `${NOT_H2}the instance did not agree to HTTP/2 by ALPN (it chose no protocol)`, `${NOT_H2}Protocol error`));
    });

    it('fails a cleartext probe of the TLS port, saying HTTP/2 was expected', async () => {
      expectDetail(await probe(h2c(server.port), '', 1_000), /no HTTP\/2 answer \(is the instance serving gRPC over cleartext HTTP\/2 \(h2c\) on this port\?\)|no answer within 1000ms/);
    });
  });
}

import * as grpc from '@grpc/grpc-js';
import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { echoClient, startEchoServer, unaryCall, type EchoClientInstance, type EchoServer } from '../../support/grpc-echo.js';
import { fetchText } from '../../support/http-client.js';
import { parsePrometheusText } from '../../support/prometheus-text.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';

/** One gRPC-framed message: the 5-byte prefix (uncompressed, big-endian length) and the bytes. */
function grpcFrame(text: string): Buffer {
  const body = Buffer.from(text, 'utf8');
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(body.length, 1);
  return Buffer.concat([prefix, body]);
}

interface RawGrpcAnswer {
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders | null;
  /** The response headers frame ended the stream (a trailers-only response). */
  trailersOnly: boolean;
}

/** A gRPC call made with node:http2 directly, so the test sees exactly what the proxy sent. */
function rawGrpcCall(session: ClientHttp2Session, path: string, extra: Record<string, string> = {}): Promise<RawGrpcAnswer> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...extra });
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders | null = null;
    let trailersOnly = false;
    stream.on('response', (h, flags) => {
      headers = h;
      trailersOnly = (flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0;
    });
    stream.on('trailers', (t) => (trailers = t));
    stream.on('error', reject);
    stream.on('close', () => resolve({ headers, trailers, trailersOnly }));
    stream.resume();
    stream.end(grpcFrame('x'));
  });
}

describe('gRPC deadlines, cancellation, retries and metrics through the proxy', () => {
  let a: EchoServer;
  let b: EchoServer;
  let proxy: ProxyHarness;
  let client: EchoClientInstance;
  let session: ClientHttp2Session;
  const calls = { a: 0, b: 0 };

  beforeAll(async () => {
    a = await startEchoServer();
    b = await startEchoServer();
    for (const [name, server] of [['a', a], ['b', b]] as const) {
      const unary = server.behaviour.unary;
      server.behaviour.unary = (call, cb) => {
        calls[name]++;
        unary(call, cb);
      };
    }
    proxy = await startProxy({
      config: {
        listeners: [{ name: 'grpc', address: '127.0.0.1', port: 0, protocols: ['h2c'] }],
        routes: [
          { name: 'pair', match: { path: '/test.Echo/' }, service: 'pair', retries: { maxRetries: 2, grpcRetryOn: ['unavailable'], bufferBody: '64kib' } },
          { name: 'slow', match: { path: '/slow/' }, rewritePrefix: '/', service: 'slow' },
        ],
        services: { pair: { protocol: 'h2c', outlierDetection: { enabled: false } }, slow: { protocol: 'h2c' } },
      },
      services: { pair: [{ port: a.port }, { port: b.port }], slow: [{ port: a.port }] },
    });
    client = echoClient(`127.0.0.1:${proxy.port}`);
    session = connect(`http://127.0.0.1:${proxy.port}`);
  });

  afterEach(() => {
    a.behaviour.unary = wrap('a', defaultUnary);
    b.behaviour.unary = wrap('b', defaultUnary);
  });

  afterAll(async () => {
    session?.close();
    client?.close();
    await proxy?.close();
    await a?.close();
    await b?.close();
  });

  const defaultUnary: EchoServer['behaviour']['unary'] = (call, cb) => cb(null, `echo:${call.request}`);
  const wrap =
    (name: 'a' | 'b', f: EchoServer['behaviour']['unary']): EchoServer['behaviour']['unary'] =>
    (call, cb) => {
      calls[name]++;
      f(call, cb);
    };

  it('retries a trailers-only UNAVAILABLE on the other instance when the route lists it', async () => {
    a.behaviour.unary = wrap('a', (_call, cb) => cb({ code: grpc.status.UNAVAILABLE, details: 'a is going away' }));
    calls.a = 0;
    calls.b = 0;
    const replies = [];
    for (let i = 0; i < 6; i++) replies.push(await unaryCall(client, `m${i}`));
    expect(replies).toEqual(['echo:m0', 'echo:m1', 'echo:m2', 'echo:m3', 'echo:m4', 'echo:m5']);
    // Round robin sent some first tries to a; each was retried on b with the same message.
    expect(calls.a).toBeGreaterThan(0);
    expect(calls.b).toBe(6);
  });

  it('does not retry a status the route does not list', async () => {
    a.behaviour.unary = wrap('a', (_call, cb) => cb({ code: grpc.status.INTERNAL, details: 'a broke' }));
    b.behaviour.unary = wrap('b', (_call, cb) => cb({ code: grpc.status.INTERNAL, details: 'b broke' }));
    calls.a = 0;
    calls.b = 0;
    const err = (await unaryCall(client, 'x').catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.INTERNAL);
    expect(calls.a + calls.b).toBe(1);
  });

  it('a trailers-only upstream answer stays trailers-only', async () => {
    a.behaviour.unary = wrap('a', (_call, cb) => cb({ code: grpc.status.NOT_FOUND, details: 'nope' }));
    b.behaviour.unary = wrap('b', (_call, cb) => cb({ code: grpc.status.NOT_FOUND, details: 'nope' }));
    const answer = await rawGrpcCall(session, '/test.Echo/Unary');
    expect(answer.trailersOnly).toBe(true);
    expect(answer.headers['grpc-status']).toBe(String(grpc.status.NOT_FOUND));
  });

  it('grpc-timeout is the request deadline: the proxy answers DEADLINE_EXCEEDED and cancels the upstream call', async () => {
    let cancelled = false;
    a.behaviour.unary = wrap('a', (call) => {
      call.on('cancelled', () => (cancelled = true));
    });
    // node:http2 sets no deadline of its own: the answer can only come from the proxy.
    const answer = await rawGrpcCall(session, '/slow/test.Echo/Unary', { 'grpc-timeout': '300m' });
    expect(answer.trailersOnly).toBe(true);
    expect(answer.headers['grpc-status']).toBe(String(grpc.status.DEADLINE_EXCEEDED));
    expect(answer.headers['x-switchyard-error']).toBe('upstream_timeout');
    await eventually(() => cancelled, 5_000, 'upstream call cancelled');
  });

  it('a client cancelling a server stream cancels the upstream call', async () => {
    let upstreamCancelled = false;
    a.behaviour.serverStream = (call) => {
      call.write('first');
      call.on('cancelled', () => (upstreamCancelled = true));
    };
    const slowClient = new grpc.Client(`127.0.0.1:${proxy.port}`, grpc.credentials.createInsecure());
    try {
      const call = slowClient.makeServerStreamRequest('/slow/test.Echo/ServerStream', (s: string) => Buffer.from(s), (b: Buffer) => b.toString(), '1');
      call.on('error', () => {
        // CANCELLED, expected after cancel()
      });
      await new Promise<void>((resolve) => call.once('data', () => resolve()));
      call.cancel();
      await eventually(() => upstreamCancelled, 5_000, 'upstream stream cancelled');
    } finally {
      slowClient.close();
    }
  });

  it('counts gRPC responses by status in switchyard_grpc_responses_total', async () => {
    await unaryCall(client, 'counted');
    const admin = `http://127.0.0.1:${proxy.app.adminAddress!.port}`;
    const samples = parsePrometheusText((await fetchText(`${admin}/metrics`)).body).filter((s) => s.name === 'switchyard_grpc_responses_total');
    const value = (route: string, status: string) => samples.find((s) => s.labels.route === route && s.labels.grpc_status === status)?.value ?? 0;
    expect(value('pair', 'OK'), JSON.stringify(samples)).toBeGreaterThanOrEqual(1);
    expect(value('pair', 'INTERNAL')).toBeGreaterThanOrEqual(1);
    expect(value('slow', 'DEADLINE_EXCEEDED')).toBeGreaterThanOrEqual(1);
  });
});

describe('an upstream that dies in the middle of a gRPC stream', () => {
  it('the client gets UNAVAILABLE in trailers after the messages already sent', async () => {
    const upstream = await startEchoServer();
    const proxy = await startProxy({
      config: {
        listeners: [{ name: 'grpc', address: '127.0.0.1', port: 0, protocols: ['h2c'] }],
        routes: [{ name: 'echo', match: { path: '/test.Echo/' }, service: 'echo' }],
        services: { echo: { protocol: 'h2c' } },
      },
      services: { echo: [{ port: upstream.port }] },
    });
    const client = echoClient(`127.0.0.1:${proxy.port}`);
    try {
      upstream.behaviour.serverStream = (call) => {
        call.write('before');
        // The server process's connections are cut while the stream is open.
        setTimeout(() => upstream.server.forceShutdown(), 100);
      };
      const items: string[] = [];
      const err = await new Promise<grpc.ServiceError>((resolve) => {
        const call = client.serverStream('1') as grpc.ClientReadableStream<string>;
        call.on('data', (m: string) => items.push(m));
        call.on('error', (e: grpc.ServiceError) => resolve(e));
        call.on('end', () => resolve({ code: grpc.status.OK } as grpc.ServiceError));
      });
      expect(items).toEqual(['before']);
      expect(err.code).toBe(grpc.status.UNAVAILABLE);
      expect(err.details).toContain('response had started');
    } finally {
      client.close();
      await proxy.close();
    }
  });
});

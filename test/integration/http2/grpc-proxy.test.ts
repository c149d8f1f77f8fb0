import * as grpc from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { echoClient, startEchoServer, unaryCall, type EchoClientInstance, type EchoServer } from '../../support/grpc-echo.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';

/**
 * The real @grpc/grpc-js client and server through Switchyard: a cleartext HTTP/2 listener
 * (h2c, prior knowledge) and an h2c upstream.
 */
describe('gRPC through the proxy (h2c listener, h2c upstream)', () => {
  let upstream: EchoServer;
  let proxy: ProxyHarness;
  let client: EchoClientInstance;

  beforeAll(async () => {
    upstream = await startEchoServer();
    proxy = await startProxy({
      config: {
        listeners: [{ name: 'grpc', address: '127.0.0.1', port: 0, protocols: ['h2c'] }],
        routes: [
          { name: 'echo', match: { path: '/test.Echo/' }, service: 'echo' },
          { name: 'down', match: { path: '/test.Down/' }, service: 'down' },
        ],
        services: { echo: { protocol: 'h2c' }, down: { protocol: 'h2c' } },
      },
      services: { echo: [{ port: upstream.port }], down: [] },
    });
    client = echoClient(`127.0.0.1:${proxy.port}`);
  });

  afterAll(async () => {
    client?.close();
    await proxy?.close();
    await upstream?.close();
  });

  it('unary call: reply and OK status pass through', async () => {
    expect(await unaryCall(client, 'hello')).toBe('echo:hello');
  });

  it('a non-OK status from the upstream reaches the client with its message', async () => {
    const md = new grpc.Metadata();
    md.set('x-fail', String(grpc.status.NOT_FOUND));
    const err = (await unaryCall(client, 'x', { metadata: md }).catch((e: unknown) => e)) as grpc.ServiceError;
    expect(err.code).toBe(grpc.status.NOT_FOUND);
    expect(err.details).toContain('failed as asked');
  });

  it('server streaming', async () => {
    const items: string[] = [];
    await new Promise<void>((resolve, reject) => {
      const call = client.serverStream('5') as grpc.ClientReadableStream<string>;
      call.on('data', (m: string) => items.push(m));
      call.on('error', reject);
      call.on('end', () => resolve());
    });
    expect(items).toEqual(['item 0', 'item 1', 'item 2', 'item 3', 'item 4']);
  });

  it('client streaming', async () => {
    const reply = await new Promise<string>((resolve, reject) => {
      const call = client.clientStream((err: grpc.ServiceError | null, r: string) => (err ? reject(err) : resolve(r))) as grpc.ClientWritableStream<string>;
      for (const m of ['a', 'b', 'c']) call.write(m);
      call.end();
    });
    expect(reply).toBe('a+b+c');
  });

  it('bidirectional streaming: each message is answered before the next is sent', async () => {
    const call = client.bidi() as grpc.ClientDuplexStream<string, string>;
    const replies: string[] = [];
    for (const m of ['one', 'two', 'three']) {
      call.write(m);
      replies.push(await new Promise<string>((resolve) => call.once('data', resolve)));
    }
    call.end();
    await new Promise<void>((resolve) => call.on('end', resolve).resume());
    expect(replies).toEqual(['re:one', 're:two', 're:three']);
  });

  it('no route → UNIMPLEMENTED', async () => {
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      client.makeUnaryRequest('/test.Nowhere/Call', (s: string) => Buffer.from(s), (b: Buffer) => b.toString(), 'x', (e) => resolve(e as grpc.ServiceError));
    });
    expect(err.code).toBe(grpc.status.UNIMPLEMENTED);
    expect(err.details).toContain('no route');
  });

  it('no healthy instance → UNAVAILABLE', async () => {
    const err = await new Promise<grpc.ServiceError>((resolve) => {
      client.makeUnaryRequest('/test.Down/Call', (s: string) => Buffer.from(s), (b: Buffer) => b.toString(), 'x', (e) => resolve(e as grpc.ServiceError));
    });
    expect(err.code).toBe(grpc.status.UNAVAILABLE);
    expect(err.details).toContain('no healthy instance');
  });
});

describe('gRPC to an instance that declares HTTP/2 in its meta (no service settings)', () => {
  it('proxies to an instance with meta proto: grpc, and rebuilds the pool when the meta changes', async () => {
    const upstream = await startEchoServer();
    const proxy = await startProxy({
      config: {
        listeners: [{ name: 'grpc', address: '127.0.0.1', port: 0, protocols: ['h2c'] }],
        routes: [{ name: 'echo', match: { path: '/test.Echo/' }, service: 'echo' }],
      },
      services: { echo: [{ port: upstream.port, meta: { proto: 'http' } }] },
    });
    const client = echoClient(`127.0.0.1:${proxy.port}`);
    try {
      // Declared HTTP/1.1: the proxy speaks HTTP/1.1 to a gRPC server, which cannot answer it.
      const before = (await unaryCall(client, 'x').catch((e: unknown) => e)) as grpc.ServiceError;
      expect(before.code).not.toBe(grpc.status.OK);
      await proxy.writeServices({ echo: [{ port: upstream.port, meta: { proto: 'grpc' } }] });
      await eventually(async () => (await unaryCall(client, 'meta').catch(() => null)) === 'echo:meta', 5_000, 'pool rebuilt for HTTP/2');
    } finally {
      client.close();
      await proxy.close();
      await upstream.close();
    }
  });
});

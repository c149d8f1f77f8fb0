import type { IncomingMessage, ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeHttp2, http2Request, openHttp2 } from '../../support/http2-client.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { dataFrame, ErrorCode, Flag, FrameType, headersFrame, RawHttp2Client, requestBlock, rstStreamFrame, windowUpdateFrame } from '../../support/raw-http2-client.js';
import { hasRedisServer, startRedisServer, type RedisServer } from '../../support/redis-server.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';

/**
 * The HTTP/2 client side as codec streams (Http2CodecStream on the HTTP/2 server codec, or
 * Http2ServerStream on node:http2's stream API in the node-engines project), seen frame by frame
 * by a raw HTTP/2 client: backpressure from a client that grants no window reaches the
 * upstream, a client that resets a stream mid-body cancels the upstream request, and the
 * proxy's own answers are framed as whole responses (a gRPC error as one HEADERS frame).
 */

const MiB = 1024 * 1024;
const DOWNLOAD_SIZE = 32 * MiB;
const CHUNK = Buffer.alloc(256 * 1024, 'd');

/** What the upstream wrote of /download so far (every byte res.write took). */
const download = { written: 0 };
/** Requests for /limited the upstream received. */
const limited = { requests: 0 };
/** What the upstream saw of /upload requests: bytes, and how each ended. */
const uploads: { bytes: number; ended: boolean; closed: boolean }[] = [];

function upstreamHandler(req: IncomingMessage, res: ServerResponse): void {
  if (req.url === '/download') {
    req.resume();
    download.written = 0;
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(DOWNLOAD_SIZE) });
    const pump = (): void => {
      while (download.written < DOWNLOAD_SIZE) {
        download.written += CHUNK.length;
        if (!res.write(CHUNK)) {
          res.once('drain', pump);
          return;
        }
      }
      res.end();
    };
    pump();
    return;
  }
  if (req.url === '/upload') {
    const seen = { bytes: 0, ended: false, closed: false };
    uploads.push(seen);
    req.on('data', (c: Buffer) => (seen.bytes += c.length));
    req.on('end', () => {
      seen.ended = true;
      res.end('uploaded');
    });
    req.on('close', () => (seen.closed = true));
    return;
  }
  if (req.url === '/limited') limited.requests++;
  req.resume();
  req.on('end', () => res.end('ok'));
}

let upstream: TestUpstream;
let proxy: ProxyHarness;
let host: string;

beforeAll(async () => {
  upstream = await startUpstream('codec', upstreamHandler);
  proxy = await startProxy({
    config: {
      listeners: [
        { name: 'h2c', address: '127.0.0.1', port: 0, protocols: ['h2c'] },
        { name: 'redirect', address: '127.0.0.1', port: 0, protocols: ['http1', 'h2c'], redirectToHttps: 8443 },
      ],
      routes: [
        { name: 'download', match: { path: '/download' }, service: 'codec' },
        { name: 'upload', match: { path: '/upload' }, service: 'codec' },
        { name: 'ok', match: { path: '/ok' }, service: 'codec' },
      ],
    },
    services: { codec: [{ port: upstream.port }] },
  });
  host = `127.0.0.1:${proxy.port}`;
});

afterAll(async () => {
  await proxy?.close();
  await upstream?.close();
});

async function openClient(): Promise<RawHttp2Client> {
  const client = await RawHttp2Client.connect(proxy.port);
  await client.handshake();
  return client;
}

/** Sends GET /ok on `streamId` and waits for its body. */
async function expectServed(client: RawHttp2Client, streamId: number): Promise<void> {
  client.write(headersFrame(streamId, requestBlock(host, '/ok'), { endStream: true }));
  const data = await client.waitFor((f) => f.type === FrameType.DATA && f.streamId === streamId && f.payload.length > 0, 5_000, 'the next response');
  expect(data.payload.toString()).toBe('ok');
}

describe('backpressure towards a client that grants no window', () => {
  it('the upstream is paused while the client reads nothing, and the whole body arrives once it does', async () => {
    const client = await openClient();
    client.write(headersFrame(1, requestBlock(host, '/download'), { endStream: true }));
    await client.waitFor((f) => f.type === FrameType.HEADERS && f.streamId === 1, 5_000, 'the response head');
    // The client's windows (64 KiB) are spent at once; then the proxy holds the rest back.
    await eventually(() => download.written > 0, 5_000, 'the upstream to start writing');
    let last = -1;
    await eventually(
      async () => {
        const now = download.written;
        const still = now === last;
        last = now;
        await new Promise((r) => setTimeout(r, 300));
        return still && download.written === now;
      },
      10_000,
      'the upstream to be held back',
    );
    const heldAt = download.written;
    expect(heldAt).toBeLessThan(DOWNLOAD_SIZE / 2);
    const received = (): number => client.received(FrameType.DATA, 1).reduce((n, f) => n + f.payload.length, 0);
    expect(received()).toBeLessThanOrEqual(65_535);
    // Now the client opens its windows: the rest flows (the proxy resumes the upstream on drain).
    const open = 2 ** 31 - 1 - 65_535;
    client.write(windowUpdateFrame(0, open), windowUpdateFrame(1, open));
    await client.until(() => client.received(FrameType.DATA, 1).some((f) => (f.flags & Flag.END_STREAM) !== 0), 30_000, 'the end of the body');
    expect(received()).toBe(DOWNLOAD_SIZE);
    expect(download.written).toBe(DOWNLOAD_SIZE);
    client.close();
  });
});

describe('a client that resets its stream mid-body', () => {
  it('cancels the upstream request (which never sees the body end) and the connection serves on', async () => {
    const client = await openClient();
    const before = uploads.length;
    client.write(headersFrame(1, requestBlock(host, '/upload', 'POST')), dataFrame(1, Buffer.alloc(1000, 'u')));
    await eventually(() => uploads.length > before && uploads[before]!.bytes === 1000, 5_000, 'the upstream to receive the first bytes');
    client.write(rstStreamFrame(1, ErrorCode.CANCEL));
    const seen = uploads[before]!;
    await eventually(() => seen.closed, 5_000, 'the upstream request to be cancelled');
    expect(seen.ended).toBe(false);
    expect(seen.bytes).toBe(1000);
    await expectServed(client, 3);
    client.close();
  });

  it('a body sent whole after a reset of another stream still arrives intact', async () => {
    const client = await openClient();
    const before = uploads.length;
    client.write(headersFrame(1, requestBlock(host, '/upload', 'POST')), dataFrame(1, Buffer.alloc(10, 'a')), rstStreamFrame(1, ErrorCode.CANCEL));
    client.write(headersFrame(3, requestBlock(host, '/upload', 'POST', [['content-length', '5']])), dataFrame(3, Buffer.from('hello'), true));
    const data = await client.waitFor((f) => f.type === FrameType.DATA && f.streamId === 3 && f.payload.length > 0, 5_000, 'the upload response');
    expect(data.payload.toString()).toBe('uploaded');
    const whole = uploads.slice(before).find((u) => u.ended);
    expect(whole?.bytes).toBe(5);
    client.close();
  });
});

describe("the proxy's own answers", () => {
  it('a gRPC request gets its error as one HEADERS frame that ends the stream (trailers-only)', async () => {
    const client = await openClient();
    client.write(headersFrame(1, requestBlock(host, '/pkg.Svc/Method', 'POST', [['content-type', 'application/grpc'], ['te', 'trailers']]), { endStream: true }));
    await client.until(() => client.frames.some((f) => f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0), 5_000, 'the end of stream 1');
    const frames = client.frames.filter((f) => f.streamId === 1 && (f.type === FrameType.HEADERS || f.type === FrameType.DATA));
    expect(frames).toHaveLength(1);
    expect(frames[0]!.type).toBe(FrameType.HEADERS);
    expect(frames[0]!.flags & Flag.END_STREAM).toBe(Flag.END_STREAM);
    client.close();
  });

  it('a JSON error is HEADERS and one DATA frame that ends the stream, with no trailers', async () => {
    const client = await openClient();
    client.write(headersFrame(1, requestBlock(host, '/nowhere'), { endStream: true }));
    await client.until(() => client.frames.some((f) => f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0), 5_000, 'the end of stream 1');
    const frames = client.frames.filter((f) => f.streamId === 1 && (f.type === FrameType.HEADERS || f.type === FrameType.DATA));
    expect(frames.map((f) => f.type)).toEqual([FrameType.HEADERS, FrameType.DATA]);
    expect(frames[1]!.flags & Flag.END_STREAM).toBe(Flag.END_STREAM);
    expect(JSON.parse(frames[1]!.payload.toString())).toMatchObject({ error: 'no_route' });
    client.close();
  });

  it('a refused upload is answered, then its stream reset with NO_ERROR so the client stops sending', async () => {
    const client = await openClient();
    client.write(headersFrame(1, requestBlock(host, '/nowhere', 'POST')), dataFrame(1, Buffer.alloc(100, 'x')));
    const rst = await client.waitFor((f) => f.type === FrameType.RST_STREAM && f.streamId === 1, 5_000, 'RST_STREAM');
    expect(rst.errorCode).toBe(ErrorCode.NO_ERROR);
    const head = client.frames.findIndex((f) => f.type === FrameType.HEADERS && f.streamId === 1);
    expect(head).toBeGreaterThanOrEqual(0);
    expect(head).toBeLessThan(client.frames.indexOf(rst));
    await expectServed(client, 3);
    client.close();
  });
});

describe('HTTPS redirect listener over h2c', () => {
  it('answers an HTTP/2 request with 308 to the same host and target on https', async () => {
    const session = await openHttp2(`http://127.0.0.1:${proxy.app.addresses[1]!.port}`);
    try {
      const r = await http2Request(session, { ':path': '/a/b?c=1', ':authority': 'site.test' });
      expect(r.status).toBe(308);
      expect(r.headers.location).toBe('https://site.test:8443/a/b?c=1');
    } finally {
      await closeHttp2(session);
    }
  });
});

describe.skipIf(!hasRedisServer)('a client gone while a filter decides', () => {
  let redis: RedisServer;
  let limitedProxy: ProxyHarness;
  beforeAll(async () => {
    redis = await startRedisServer();
    limitedProxy = await startProxy({
      config: {
        listeners: [{ name: 'h2c', address: '127.0.0.1', port: 0, protocols: ['h2c'] }],
        rateLimitRedis: { address: redis.address, commandTimeout: '500ms' },
        routes: [
          { name: 'limited', match: { path: '/limited' }, service: 'codec', rateLimit: { store: 'redis', requests: 20, per: '1s', burst: 5, by: 'route', onStoreFailure: 'open' } },
          { name: 'ok', match: { path: '/ok' }, service: 'codec' },
        ],
      },
      services: { codec: [{ port: upstream.port }] },
    });
  });
  afterAll(async () => {
    redis?.resume();
    await limitedProxy?.close();
    await redis?.close();
  });

  it('is not forwarded once the filter admits it (the exchange ends as client_closed)', async () => {
    const client = await RawHttp2Client.connect(limitedProxy.port);
    await client.handshake();
    const authority = `127.0.0.1:${limitedProxy.port}`;
    // Redis is silent: the rate limit filter waits for it up to commandTimeout, then admits.
    redis.pause();
    const before = limited.requests;
    client.write(headersFrame(1, requestBlock(authority, '/limited'), { endStream: true }));
    await new Promise((r) => setTimeout(r, 100));
    client.write(rstStreamFrame(1, ErrorCode.CANCEL));
    await eventually(() => limitedProxy.log.lines.some((l) => l.component === 'access' && l.path === '/limited'), 5_000, 'the access log line of /limited');
    const line = limitedProxy.log.lines.find((l) => l.component === 'access' && l.path === '/limited')!;
    expect(line).toMatchObject({ status: 499, error: 'client_closed', protocol: 'HTTP/2' });
    expect(limited.requests).toBe(before);
    redis.resume();
    client.write(headersFrame(3, requestBlock(authority, '/ok'), { endStream: true }));
    const data = await client.waitFor((f) => f.type === FrameType.DATA && f.streamId === 3 && f.payload.length > 0, 5_000, 'the next response');
    expect(data.payload.toString()).toBe('ok');
    client.close();
  });
});

import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import http2 from 'node:http2';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestCa } from '../../support/certificates.js';
import { eventually, http2ListenerEngine, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import {
  continuationFrame,
  dataFrame,
  ErrorCode,
  Flag,
  FrameType,
  headersFrame,
  hpackBlock,
  pingFrame,
  RawHttp2Client,
  repeated,
  requestBlock,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from '../../support/raw-http2-client.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';

/**
 * The known HTTP/2 floods and limits, sent byte by byte by a raw HTTP/2 client to the real
 * proxy (h2c listener, one TLS h2 case) in front of a real upstream that counts the requests
 * it received. Defaults: maxConcurrentStreams 128, initialWindowSize 256 KiB,
 * prematureResetLimit 100, maxHeaderSize 16 KiB, maxHeaderCount 100 (docs/security.md).
 */

const MiB = 1024 * 1024;
const NODE_MAJOR = Number(process.versions.node.split('.')[0]);
/** Generous: a flood the server queued without bound would grow by far more. */
const RSS_GROWTH_BOUND = 64 * MiB;

/** Figures measured by the tests, printed once at the end. */
const figures: Record<string, number | string> = {};

/** One body shared by all /big responses, so that the upstream's own allocations do not count in RSS. */
const BIG_BODY = Buffer.alloc(MiB, 'b');

/** Responses the upstream holds (paths under /hold) until `release()`. */
const held: ServerResponse[] = [];
function release(): void {
  for (const res of held.splice(0)) res.end('released');
}

/** Upload handler state: paused until `resumeUpload()`. */
const upload = { received: 0, resume: (): void => undefined };

function upstreamHandler(req: IncomingMessage, res: ServerResponse): void {
  if (req.url!.startsWith('/hold')) {
    req.resume();
    held.push(res);
    return;
  }
  if (req.url === '/upload') {
    // Reads nothing until told to: the proxy must then stop taking the client's data.
    const hash = createHash('sha256');
    req.pause();
    upload.received = 0;
    upload.resume = () => {
      req.on('data', (c: Buffer) => {
        upload.received += c.length;
        hash.update(c);
      });
      req.resume();
    };
    req.on('end', () => res.end(JSON.stringify({ bytes: upload.received, sha256: hash.digest('hex') })));
    return;
  }
  if (req.url === '/big') {
    req.resume();
    res.end(BIG_BODY);
    return;
  }
  req.resume();
  req.on('end', () => res.end('ok'));
}

let upstream: TestUpstream;
let proxy: ProxyHarness;
let tlsPort: number;
let caPem: Buffer;
let certDir: string;
let host: string;

beforeAll(async () => {
  upstream = await startUpstream('counting', upstreamHandler);
  certDir = await mkdtemp(join(tmpdir(), 'switchyard-h2-floods-'));
  const ca = await createTestCa(certDir);
  const site = await ca.issue('site', 'a.test', ['DNS:a.test', 'IP:127.0.0.1']);
  caPem = await readFile(ca.cert);
  proxy = await startProxy({
    config: {
      listeners: [
        { name: 'h2c', address: '127.0.0.1', port: 0, protocols: ['http1', 'h2c'] },
        { name: 'tls', address: '127.0.0.1', port: 0, protocols: ['h2', 'http1'], tls: { cert: site.cert, key: site.key } },
      ],
      routes: [
        // The upload is larger than limits.maxBodySize (10 MiB).
        { name: 'upload', match: { path: '/upload' }, service: 'counting', maxBodySize: 0 },
        { name: 'all', match: { path: '/' }, service: 'counting' },
      ],
    },
    services: { counting: [{ port: upstream.port }] },
  });
  tlsPort = proxy.app.addresses[1]!.port;
  host = `127.0.0.1:${proxy.port}`;
});

afterAll(async () => {
  release();
  await proxy?.close();
  await upstream?.close();
  await rm(certDir, { recursive: true, force: true });
  console.info(`http2 flood figures: ${JSON.stringify(figures)}`);
});

/** A request from node:http2's own client on a new connection: what a well-behaved client gets. */
async function wellBehavedGet(path = '/ok', headers: http2.OutgoingHttpHeaders = {}): Promise<{ status: number; body: string }> {
  const session = http2.connect(`http://${host}`);
  try {
    return await new Promise((resolve, reject) => {
      session.once('error', reject);
      const req = session.request({ ':path': path, ...headers });
      let body = '';
      let status = 0;
      req.on('response', (h) => (status = Number(h[':status'])));
      req.setEncoding('utf8');
      req.on('data', (d: string) => (body += d));
      req.on('end', () => resolve({ status, body }));
      req.on('error', reject);
      req.end();
    });
  } finally {
    session.close();
  }
}

async function expectOthersServed(): Promise<void> {
  expect(await wellBehavedGet('/ok')).toEqual({ status: 200, body: 'ok' });
}

async function openClient(options: { ackSettings?: boolean } = {}): Promise<RawHttp2Client> {
  const client = await RawHttp2Client.connect(proxy.port, options);
  await client.handshake();
  return client;
}

/** Odd client stream ids: 1, 3, 5, ... */
const streamId = (i: number): number => 1 + 2 * i;

describe('rapid reset (CVE-2023-44487)', () => {
  const N = 1_000;

  function rapidResetBurst(): Buffer {
    const frames: Buffer[] = [];
    const block = requestBlock(host, '/rapid');
    for (let i = 0; i < N; i++) frames.push(headersFrame(streamId(i), block, { endStream: true }), rstStreamFrame(streamId(i), ErrorCode.CANCEL));
    return Buffer.concat(frames);
  }

  it(`${N} streams each opened and cancelled in one write: GOAWAY ENHANCE_YOUR_CALM, connection closed, few requests reach the upstream`, async () => {
    const before = upstream.requests.length;
    const client = await openClient();
    client.write(rapidResetBurst());
    const goaway = await client.waitFor((f) => f.type === FrameType.GOAWAY, 10_000, 'GOAWAY');
    await client.waitForClose(10_000);
    expect(goaway.errorCode).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    // Cut once prematureResetLimit (100) streams were cancelled, long before the 1,000th.
    expect(goaway.lastStreamId).toBeLessThan(streamId(N / 2));
    await new Promise((r) => setTimeout(r, 200));
    const reached = upstream.requests.length - before;
    figures.rapidResetUpstreamRequests = reached;
    figures.rapidResetGoawayLastStreamId = goaway.lastStreamId!;
    expect(reached).toBeLessThanOrEqual(200);
    expect(proxy.log.find('rapid reset').length).toBeGreaterThan(0);
    await expectOthersServed();
  });

  it('streams cancelled only once their requests reached the upstream: cut at the limit, the upstream saw at most the limit plus one batch', async () => {
    const BATCH = 25;
    const before = upstream.requests.length;
    const client = await openClient();
    const block = requestBlock(host, '/hold/rapid');
    let opened = 0;
    for (let batch = 0; batch < N / BATCH && !client.closed && client.goaway === undefined; batch++) {
      const ids = Array.from({ length: BATCH }, (_, i) => streamId(opened + i));
      opened += BATCH;
      client.write(...ids.map((id) => headersFrame(id, block, { endStream: true })));
      await eventually(() => upstream.requests.length - before >= opened || client.goaway !== undefined, 5_000, 'the batch to reach the upstream');
      client.write(...ids.map((id) => rstStreamFrame(id, ErrorCode.CANCEL)));
      await new Promise((r) => setTimeout(r, 10));
    }
    const goaway = await client.waitFor((f) => f.type === FrameType.GOAWAY, 5_000, 'GOAWAY');
    await client.waitForClose(5_000);
    expect(goaway.errorCode).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    const reached = upstream.requests.length - before;
    figures.rapidResetAfterUpstreamReached = reached;
    expect(reached).toBeLessThanOrEqual(100 + BATCH);
    release();
    await expectOthersServed();
  });

  it('the same over TLS (ALPN h2)', async () => {
    const before = upstream.requests.length;
    const client = await RawHttp2Client.connectTls(tlsPort, 'a.test', caPem);
    await client.handshake();
    const frames: Buffer[] = [];
    const block = hpackBlock([[':method', 'GET'], [':scheme', 'https'], [':authority', 'a.test'], [':path', '/rapid']]);
    for (let i = 0; i < N; i++) frames.push(headersFrame(streamId(i), block, { endStream: true }), rstStreamFrame(streamId(i), ErrorCode.CANCEL));
    client.write(Buffer.concat(frames));
    const goaway = await client.waitFor((f) => f.type === FrameType.GOAWAY, 10_000, 'GOAWAY');
    await client.waitForClose(10_000);
    expect(goaway.errorCode).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    await new Promise((r) => setTimeout(r, 200));
    figures.rapidResetTlsUpstreamRequests = upstream.requests.length - before;
    expect(upstream.requests.length - before).toBeLessThanOrEqual(200);
    await expectOthersServed();
  });

  it('a client that cancels some streams (more than the limit, fewer than half) keeps its connection', async () => {
    const session = http2.connect(`http://${host}`);
    const errors: Error[] = [];
    session.on('error', (e) => errors.push(e));
    const get = (path: string): Promise<number> =>
      new Promise((resolve, reject) => {
        const req = session.request({ ':path': path });
        req.on('response', (h) => resolve(Number(h[':status'])));
        req.on('error', reject);
        req.resume();
        req.end();
      });
    const completed: number[] = [];
    for (let batch = 0; batch < 5; batch++) completed.push(...(await Promise.all(Array.from({ length: 50 }, () => get('/ok')))));
    // 120 cancelled before their (held) response: above prematureResetLimit, under half of 370.
    const cancelled = Array.from({ length: 120 }, () => {
      const req = session.request({ ':path': '/hold/cancelled' });
      req.on('error', () => undefined);
      req.end();
      return req;
    });
    await eventually(() => held.length >= 120, 10_000, 'the held requests to reach the upstream');
    for (const req of cancelled) req.close(http2.constants.NGHTTP2_CANCEL);
    await eventually(() => cancelled.every((r) => r.closed), 5_000, 'the cancels to be sent');
    expect(await get('/ok')).toBe(200);
    expect(completed.every((s) => s === 200)).toBe(true);
    expect(session.closed || session.destroyed).toBe(false);
    expect(errors).toEqual([]);
    session.close();
    release();
  });
});

describe('CONTINUATION flood (CVE-2024-27983)', () => {
  it('HEADERS without END_HEADERS followed by 10,000 CONTINUATION frames: connection closed early, memory bounded', async () => {
    const before = upstream.requests.length;
    const client = await openClient();
    const fragment = continuationFrame(1, hpackBlock([['x-filler', 'f'.repeat(20)]]));
    const flood = Buffer.concat([headersFrame(1, requestBlock(host, '/continuation'), { endStream: true, endHeaders: false }), repeated(fragment, 10_000)]);
    const rss = process.memoryUsage().rss;
    client.write(flood);
    await client.waitForClose(10_000);
    const growth = process.memoryUsage().rss - rss;
    figures.continuationFloodRssGrowthMiB = +(growth / MiB).toFixed(1);
    figures.continuationFloodGoaway = `0x${client.goaway?.errorCode?.toString(16)}`;
    expect(client.goaway).toBeDefined();
    expect(growth).toBeLessThan(RSS_GROWTH_BOUND);
    expect(upstream.requests.length - before).toBe(0);
    await expectOthersServed();
  });

  it('a header block split over a few CONTINUATION frames is served', async () => {
    const client = await openClient();
    const block = requestBlock(host, '/ok', 'GET', [['x-a', 'a'.repeat(100)], ['x-b', 'b'.repeat(100)]]);
    const third = Math.floor(block.length / 3);
    client.write(
      headersFrame(1, block.subarray(0, third), { endStream: true, endHeaders: false }),
      continuationFrame(1, block.subarray(third, 2 * third)),
      continuationFrame(1, block.subarray(2 * third), true),
    );
    const data = await client.waitFor((f) => f.type === FrameType.DATA && f.streamId === 1, 5_000, 'the response body');
    expect(data.payload.toString()).toBe('ok');
    expect(client.goaway).toBeUndefined();
    client.close();
  });

  it('a header list over maxHeaderSize (16 KiB) spread over CONTINUATION frames is refused before the upstream', async () => {
    const before = upstream.requests.length;
    const client = await openClient();
    const frames = [headersFrame(1, requestBlock(host, '/too-big'), { endStream: true, endHeaders: false })];
    // 6 × 3 KiB: above the header list limit, under nghttp2's cap on CONTINUATION frames.
    for (let i = 0; i < 6; i++) frames.push(continuationFrame(1, hpackBlock([[`x-big-${i}`, 'v'.repeat(3 * 1024)]]), i === 5));
    client.write(...frames);
    await client.until(() => client.received(FrameType.RST_STREAM, 1).length > 0 || client.goaway !== undefined, 5_000, 'a refusal');
    const rst = client.received(FrameType.RST_STREAM, 1)[0];
    figures.oversizedHeaderListRefusal = rst !== undefined ? `RST_STREAM 0x${rst.errorCode!.toString(16)}` : `GOAWAY 0x${client.goaway!.errorCode!.toString(16)}`;
    expect(rst?.errorCode).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    expect(client.received(FrameType.HEADERS, 1)).toEqual([]);
    await new Promise((r) => setTimeout(r, 200));
    expect(upstream.requests.length - before).toBe(0);
    client.close();
  });
});

describe('SETTINGS and PING floods from a client that never reads (CVE-2019-9515, CVE-2019-9512)', () => {
  // 1,000,000 frames: the acknowledgements (17 MB) must be more than the loopback socket
  // buffers hold, or the server never has to queue them; 100,000 (1.7 MB) fit in them here.
  const COUNT = 1_000_000;

  for (const [name, oneFrame] of [
    ['PING', pingFrame()],
    ['SETTINGS', settingsFrame([[Setting.ENABLE_PUSH, 0]])],
  ] as const) {
    it(`${COUNT} ${name} frames: the server closes the connection instead of queueing acknowledgements`, async () => {
      const client = await openClient();
      const flood = repeated(oneFrame, COUNT);
      client.stopReading();
      const rss = process.memoryUsage().rss;
      client.write(flood);
      await client.waitForClose(20_000);
      const growth = process.memoryUsage().rss - rss;
      figures[`${name.toLowerCase()}FloodRssGrowthMiB`] = +(growth / MiB).toFixed(1);
      expect(growth).toBeLessThan(RSS_GROWTH_BOUND);
      await eventually(() => proxy.log.find('HTTP/2 connection failed').some((l) => String(l.error).includes('Flooding was detected')), 5_000, 'the flood to be logged');
      await expectOthersServed();
    });
  }
});

describe('max concurrent streams (128)', () => {
  const EXTRA = 10;
  const LIMIT = 128;

  it('streams opened before the client acknowledged SETTINGS: the extra ones get REFUSED_STREAM, the rest complete once released', async () => {
    const before = upstream.requests.length;
    const client = await openClient({ ackSettings: false });
    const block = requestBlock(host, '/hold/concurrent');
    client.write(...Array.from({ length: LIMIT + EXTRA }, (_, i) => headersFrame(streamId(i), block, { endStream: true })));
    await client.until(() => client.received(FrameType.RST_STREAM).length >= EXTRA, 5_000, 'the refusals');
    const refused = client.received(FrameType.RST_STREAM);
    expect(refused.map((f) => f.errorCode)).toEqual(Array(EXTRA).fill(ErrorCode.REFUSED_STREAM));
    expect(refused.map((f) => f.streamId)).toEqual(Array.from({ length: EXTRA }, (_, i) => streamId(LIMIT + i)));
    await eventually(() => upstream.requests.length - before >= LIMIT, 10_000, 'the accepted streams to reach the upstream');
    release();
    await client.until(() => client.received(FrameType.DATA).filter((f) => f.flags & Flag.END_STREAM).length >= LIMIT, 10_000, 'every accepted stream to complete');
    expect(upstream.requests.length - before).toBe(LIMIT);
    expect(client.goaway).toBeUndefined();
    client.close();
  });

  it('a client that exceeds the limit it acknowledged: nghttp2 closes the connection (a connection error)', async () => {
    const client = await openClient();
    await client.waitFor((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0, 5_000, 'the SETTINGS ACK');
    const block = requestBlock(host, '/hold/concurrent');
    client.write(...Array.from({ length: LIMIT + EXTRA }, (_, i) => headersFrame(streamId(i), block, { endStream: true })));
    await client.waitForClose(10_000);
    figures.concurrentStreamsAfterAckGoaway = `0x${client.goaway?.errorCode?.toString(16)}`;
    expect(client.goaway).toBeDefined();
    release();
    await expectOthersServed();
  });

  it("node:http2's client holds back streams beyond the limit and all of them complete", async () => {
    const session = http2.connect(`http://${host}`);
    const statuses = Array.from(
      { length: LIMIT + EXTRA },
      () =>
        new Promise<number>((resolve, reject) => {
          const req = session.request({ ':path': '/hold/polite' });
          req.on('response', (h) => resolve(Number(h[':status'])));
          req.on('error', reject);
          req.resume();
          req.end();
        }),
    );
    await eventually(() => held.length >= LIMIT, 10_000, 'the first streams to reach the upstream');
    expect(held.length).toBe(LIMIT);
    // Released until every stream has had its turn.
    const releasing = setInterval(release, 20);
    try {
      expect(await Promise.all(statuses)).toEqual(Array(LIMIT + EXTRA).fill(200));
    } finally {
      clearInterval(releasing);
      session.close();
    }
  });
});

describe('flow control (initialWindowSize 256 KiB)', () => {
  it('an upload to an upstream that does not read blocks the client; the upload then completes intact', async () => {
    const body = Buffer.alloc(32 * MiB);
    for (let i = 0; i < body.length; i += 4096) body.writeUInt32BE(i, i);
    const client = await openClient();
    client.write(headersFrame(1, requestBlock(host, '/upload', 'POST', [['content-length', String(body.length)]])));
    let sent = 0;
    // Sends while the windows allow; stops when no WINDOW_UPDATE came for a while.
    const sendUntilBlocked = async (quietMs: number): Promise<void> => {
      for (;;) {
        sent = client.sendWithinWindow(1, body, sent, true);
        if (sent === body.length) return;
        const windowBefore = Math.min(client.connectionWindow, client.streamWindow(1));
        const grew = await client.until(() => Math.min(client.connectionWindow, client.streamWindow(1)) > windowBefore, quietMs, 'more window').then(
          () => true,
          () => false,
        );
        if (!grew) return;
      }
    };
    await sendUntilBlocked(1_000);
    // The proxy took what fits in the window and in the socket buffers towards the upstream, no more.
    const blockedAt = sent;
    figures.flowControlClientSentWhileUpstreamPausedMiB = +(blockedAt / MiB).toFixed(2);
    figures.flowControlUpstreamReadWhilePaused = upload.received;
    expect(blockedAt).toBeLessThan(body.length);
    expect(blockedAt - upload.received).toBeLessThan(12 * MiB);
    upload.resume();
    await sendUntilBlocked(5_000);
    expect(sent).toBe(body.length);
    await client.until(() => client.received(FrameType.DATA, 1).some((f) => f.flags & Flag.END_STREAM), 20_000, 'the response');
    const reply = JSON.parse(Buffer.concat(client.received(FrameType.DATA, 1).map((f) => f.payload)).toString()) as { bytes: number; sha256: string };
    expect(reply).toEqual({ bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
    client.close();
  });
});

describe('header count limits over h2 (maxHeaderCount 100)', () => {
  it('101 fields: 431 from the proxy, the upstream sees nothing', async () => {
    const before = upstream.requests.length;
    const headers: http2.OutgoingHttpHeaders = {};
    for (let i = 0; i < 101; i++) headers[`x-field-${i}`] = 'v';
    const reply = await wellBehavedGet('/too-many', headers);
    expect(reply.status).toBe(431);
    expect(upstream.requests.length - before).toBe(0);
  });

  it('150 fields (beyond maxHeaderListPairs): the stream is reset by node:http2 (ENHANCE_YOUR_CALM), the upstream sees nothing', async () => {
    const before = upstream.requests.length;
    const client = await openClient();
    const fields = Array.from({ length: 150 }, (_, i) => [`x-field-${i}`, 'v'] as const);
    client.write(headersFrame(1, requestBlock(host, '/far-too-many', 'GET', fields), { endStream: true }));
    const rst = await client.waitFor((f) => f.type === FrameType.RST_STREAM && f.streamId === 1, 5_000, 'RST_STREAM');
    expect(rst.errorCode).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    await new Promise((r) => setTimeout(r, 200));
    expect(upstream.requests.length - before).toBe(0);
    // The connection itself stays usable.
    client.write(headersFrame(3, requestBlock(host, '/ok'), { endStream: true }));
    const data = await client.waitFor((f) => f.type === FrameType.DATA && f.streamId === 3, 5_000, 'the next response');
    expect(data.payload.toString()).toBe('ok');
    client.close();
  });
});

describe('invalid and empty frame floods (CVE-2019-9518)', () => {
  it('5,000 empty DATA frames on an open stream: connection closed (maxSessionInvalidFrames, 1,000)', async () => {
    const client = await openClient();
    client.write(headersFrame(1, requestBlock(host, '/empty', 'POST')), repeated(dataFrame(1, Buffer.alloc(0)), 5_000));
    await client.waitForClose(10_000);
    expect(client.goaway).toBeDefined();
    await expectOthersServed();
  });

  it('a few empty DATA frames are tolerated: the request completes', async () => {
    const client = await openClient();
    client.write(headersFrame(1, requestBlock(host, '/ok', 'POST')), repeated(dataFrame(1, Buffer.alloc(0)), 100), dataFrame(1, Buffer.from('x'), true));
    const data = await client.waitFor((f) => f.type === FrameType.DATA && f.streamId === 1, 5_000, 'the response');
    expect(data.payload.toString()).toBe('ok');
    expect(client.closed).toBe(false);
    client.close();
  });

  it('WINDOW_UPDATE with a zero increment on a stream, repeated: the connection is closed', async () => {
    const client = await openClient();
    client.write(headersFrame(1, requestBlock(host, '/hold/wu', 'POST')), repeated(windowUpdateFrame(1, 0), 2_000));
    await client.waitForClose(10_000);
    expect(client.goaway).toBeDefined();
    release();
    await expectOthersServed();
  });
});

describe('idle connections (keepAliveTimeout)', () => {
  let idleProxy: ProxyHarness;

  beforeAll(async () => {
    idleProxy = await startProxy({
      config: {
        listeners: [{ name: 'h2c', address: '127.0.0.1', port: 0, protocols: ['h2c'] }],
        routes: [{ name: 'all', match: { path: '/' }, service: 'counting' }],
        limits: { keepAliveTimeout: '300ms' },
      },
      services: { counting: [{ port: upstream.port }] },
    });
  });

  afterAll(async () => {
    release();
    await idleProxy?.close();
  });

  it('a connection with no stream gets GOAWAY NO_ERROR and is closed', async () => {
    const client = await RawHttp2Client.connect(idleProxy.port);
    await client.handshake();
    const goaway = await client.waitFor((f) => f.type === FrameType.GOAWAY, 10_000, 'GOAWAY');
    expect(goaway.errorCode).toBe(ErrorCode.NO_ERROR);
    await client.waitForClose(10_000);
  });

  it('a connection that has served a request is closed once idle', async () => {
    const client = await RawHttp2Client.connect(idleProxy.port);
    await client.handshake();
    client.write(headersFrame(1, requestBlock(`127.0.0.1:${idleProxy.port}`, '/ok'), { endStream: true }));
    await client.waitFor((f) => f.type === FrameType.DATA && f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0, 5_000, 'the response');
    const goaway = await client.waitFor((f) => f.type === FrameType.GOAWAY, 10_000, 'GOAWAY once idle');
    expect(goaway.errorCode).toBe(ErrorCode.NO_ERROR);
    expect(goaway.lastStreamId).toBe(1);
    await client.waitForClose(10_000);
  });

  it('DATA on a closed stream: nghttp2 sends GOAWAY STREAM_CLOSED; the connection it leaves open is closed once quiet', async () => {
    const client = await RawHttp2Client.connect(idleProxy.port);
    await client.handshake();
    const block = requestBlock(`127.0.0.1:${idleProxy.port}`, '/ok');
    client.write(headersFrame(1, block, { endStream: true }), repeated(dataFrame(1, Buffer.from('x')), 10));
    const goaway = await client.waitFor((f) => f.type === FrameType.GOAWAY, 5_000, 'GOAWAY');
    expect(goaway.errorCode).toBe(ErrorCode.STREAM_CLOSED);
    await client.waitForClose(10_000);
    // Node 20's node:http2 leaves the connection open after nghttp2's GOAWAY, and Switchyard's
    // stall detector closes it (logged); on Node ≥ 22 it closes without the stall detector (the
    // close above is what matters: no connection is left open), so there is nothing to log.
    // Switchyard's own codec closes the connection with its GOAWAY.
    if (NODE_MAJOR < 22 && http2ListenerEngine() === 'node') await eventually(() => idleProxy.log.find('nothing could be sent').length > 0, 5_000, 'the close to be logged');
  });

  it('a client that grants no more flow-control window keeps its connection; the response completes when it does', async () => {
    const client = await RawHttp2Client.connect(idleProxy.port);
    await client.handshake();
    client.write(headersFrame(1, requestBlock(`127.0.0.1:${idleProxy.port}`, '/big'), { endStream: true }));
    const bodyBytes = (): number => client.received(FrameType.DATA, 1).reduce((n, f) => n + f.payload.length, 0);
    // The default windows (65,535 bytes) run out long before 1 MiB.
    await client.until(() => bodyBytes() === 65_535, 5_000, 'the first window of the body');
    await new Promise((r) => setTimeout(r, 1_500));
    expect(client.goaway).toBeUndefined();
    expect(client.closed).toBe(false);
    expect(bodyBytes()).toBe(65_535);
    client.write(windowUpdateFrame(0, MiB), windowUpdateFrame(1, MiB));
    await client.waitFor((f) => f.type === FrameType.DATA && f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0, 5_000, 'the end of the body');
    expect(bodyBytes()).toBe(MiB);
    client.close();
  });

  it('a client that opens its windows wide, asks for large responses and never reads: memory bounded, connection closed once stalled', async () => {
    const client = await RawHttp2Client.connect(idleProxy.port);
    await client.handshake([[Setting.INITIAL_WINDOW_SIZE, 2 ** 31 - 1]]);
    const streams = 50;
    const block = requestBlock(`127.0.0.1:${idleProxy.port}`, '/big');
    client.stopReading();
    const rss = process.memoryUsage().rss;
    const before = upstream.requests.length;
    client.write(windowUpdateFrame(0, 2 ** 31 - 1 - 65_535), ...Array.from({ length: streams }, (_, i) => headersFrame(streamId(i), block, { endStream: true })));
    await eventually(() => upstream.requests.length - before === streams, 10_000, 'the requests to reach the upstream');
    await eventually(() => idleProxy.log.find('nothing could be sent').length > 0, 20_000, 'the stalled connection to be closed');
    const growth = process.memoryUsage().rss - rss;
    figures.nonReadingClientRssGrowthMiB = +(growth / MiB).toFixed(1);
    // 50 MiB of responses were asked for.
    expect(growth).toBeLessThan(RSS_GROWTH_BOUND);
    // A paused socket does not see the close until it reads again.
    client.socket.resume();
    await client.waitForClose(10_000);
  });

  it('a connection with a quiet open stream is kept; after the stream ends it is closed as idle', async () => {
    const client = await RawHttp2Client.connect(idleProxy.port);
    await client.handshake();
    client.write(headersFrame(1, requestBlock(`127.0.0.1:${idleProxy.port}`, '/hold/quiet'), { endStream: true }));
    await eventually(() => held.length === 1, 5_000, 'the request to reach the upstream');
    // Well past keepAliveTimeout, with nothing sent either way.
    await new Promise((r) => setTimeout(r, 1_500));
    expect(client.goaway).toBeUndefined();
    expect(client.closed).toBe(false);
    release();
    await client.waitFor((f) => f.type === FrameType.DATA && f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0, 5_000, 'the response');
    const goaway = await client.waitFor((f) => f.type === FrameType.GOAWAY, 10_000, 'GOAWAY once idle');
    expect(goaway.errorCode).toBe(ErrorCode.NO_ERROR);
    await client.waitForClose(10_000);
  });
});

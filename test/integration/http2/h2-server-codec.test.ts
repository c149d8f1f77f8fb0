import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Http2CodecStream } from '../../../src/codec/http2-codec-stream.js';
import { Http2ServerConnection, type Http2ServerOwner } from '../../../src/codec/http2-server-connection.js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import {
  continuationFrame,
  dataFrame,
  ErrorCode,
  Flag,
  frame,
  FrameType,
  headersFrame,
  hpackBlock,
  pingFrame,
  PREFACE,
  RawHttp2Client,
  requestBlock,
  rstStreamFrame,
  Setting,
  settingsFrame,
  windowUpdateFrame,
} from '../../support/raw-http2-client.js';
import { startRecordingUpstream, write, type RecordingUpstream } from '../../support/recording-upstream.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';

/**
 * Switchyard's own HTTP/2 server codec (proxy.engine.http2Listener: switchyard), frame by frame
 * from a raw client: what it refuses in a client's frames and requests (and that none of it
 * reaches the upstream, whose received bytes are recorded), and request bodies under flow
 * control. The suites of test/integration/http2 and hardening/http2-floods.test.ts run on it
 * too (vitest.config.ts); these are the cases particular to a hand-written codec.
 */

const MiB = 1024 * 1024;

/** A raw upstream: records every byte, answers each request head with "ok". */
let recording: RecordingUpstream;
/** A node:http upstream for bodies: answers with the size and SHA-256 of what it read. */
let bodies: TestUpstream;
let proxy: ProxyHarness;
let host: string;

function bodyHandler(req: IncomingMessage, res: ServerResponse): void {
  const hash = createHash('sha256');
  let bytes = 0;
  req.on('data', (c: Buffer) => {
    bytes += c.length;
    hash.update(c);
  });
  req.on('end', () => res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') })));
}

beforeAll(async () => {
  recording = await startRecordingUpstream((conn) => write(conn, 'ok', 'HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok'));
  bodies = await startUpstream('bodies', bodyHandler);
  proxy = await startProxy({
    config: {
      listeners: [{ name: 'h2c', address: '127.0.0.1', port: 0, protocols: ['h2c'] }],
      routes: [
        { name: 'body', match: { path: '/body' }, service: 'bodies' },
        { name: 'all', match: { path: '/' }, service: 'recording' },
      ],
      proxy: { engine: { http2Listener: 'switchyard' } },
    },
    services: { recording: [{ port: recording.port }], bodies: [{ port: bodies.port }] },
  });
  host = `127.0.0.1:${proxy.port}`;
});

afterAll(async () => {
  await proxy?.close();
  await recording?.close();
  await bodies?.close();
});

beforeEach(() => recording.reset());

async function openClient(): Promise<RawHttp2Client> {
  const client = await RawHttp2Client.connect(proxy.port);
  await client.handshake();
  return client;
}

/** The response body of stream `id` once it ended. */
async function responseBody(client: RawHttp2Client, id: number): Promise<string> {
  await client.until(() => client.received(FrameType.DATA, id).some((f) => (f.flags & Flag.END_STREAM) !== 0), 5_000, `the end of stream ${id}`);
  return Buffer.concat(client.received(FrameType.DATA, id).map((f) => f.payload)).toString();
}

/** The connection still serves: a plain GET on stream `id` gets "ok". */
async function expectServes(client: RawHttp2Client, id: number): Promise<void> {
  client.write(headersFrame(id, requestBlock(host, '/still'), { endStream: true }));
  expect(await responseBody(client, id)).toBe('ok');
}

it('is the engine of the listener (no node:http2 server behind it)', () => {
  expect(proxy.app.proxyListeners[0]!.http2Server).toBeNull();
});

describe('connection start', () => {
  it('a connection that does not begin with the preface gets GOAWAY PROTOCOL_ERROR and is closed', async () => {
    const client = await RawHttp2Client.connect(proxy.port);
    client.write(Buffer.from('PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n', 'latin1'));
    await client.waitForClose();
    expect(client.goaway?.errorCode).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(recording.allReceived).toBe('');
  });

  it('a first frame other than SETTINGS: GOAWAY PROTOCOL_ERROR', async () => {
    const client = await RawHttp2Client.connect(proxy.port);
    client.write(PREFACE, pingFrame());
    await client.waitForClose();
    expect(client.goaway?.errorCode).toBe(ErrorCode.PROTOCOL_ERROR);
  });

  it('SETTINGS announce the limits; the client SETTINGS are acknowledged and PING is answered with its payload', async () => {
    const client = await openClient();
    const settings = client.received(FrameType.SETTINGS).find((f) => (f.flags & Flag.ACK) === 0)!.settings!;
    expect(settings.get(Setting.MAX_CONCURRENT_STREAMS)).toBe(128);
    expect(settings.get(Setting.INITIAL_WINDOW_SIZE)).toBe(256 * 1024);
    expect(settings.get(Setting.ENABLE_PUSH)).toBe(0);
    await client.waitFor((f) => f.type === FrameType.SETTINGS && (f.flags & Flag.ACK) !== 0, 5_000, 'the SETTINGS ACK');
    const opaque = Buffer.from('12345678');
    client.write(pingFrame(opaque));
    const ack = await client.waitFor((f) => f.type === FrameType.PING && (f.flags & Flag.ACK) !== 0, 5_000, 'the PING ACK');
    expect(ack.payload).toEqual(opaque);
    client.close();
  });

  it('a well-formed request reaches the upstream as an HTTP/1.1 head with its fields and Host from :authority', async () => {
    const client = await openClient();
    client.write(headersFrame(1, requestBlock(host, '/a?b=1', 'GET', [['x-tab', 'a\tb'], ['cookie', 'a=1'], ['cookie', 'b=2']]), { endStream: true }));
    expect(await responseBody(client, 1)).toBe('ok');
    const head = recording.connections.flatMap((c) => c.heads).at(-1)!;
    expect(head.split('\r\n')[0]).toBe('GET /a?b=1 HTTP/1.1');
    expect(head).toMatch(/\r\nhost: 127\.0\.0\.1:\d+/i);
    expect(head).toContain('\r\nx-tab: a\tb');
    expect(head).toMatch(/\r\ncookie: a=1; b=2/i);
    const headers = client.received(FrameType.HEADERS, 1);
    expect(headers).toHaveLength(1);
    client.close();
  });
});

describe('malformed requests: RST_STREAM PROTOCOL_ERROR, nothing reaches the upstream, the connection serves on', () => {
  const base: [string, string][] = [
    [':method', 'GET'],
    [':scheme', 'http'],
    [':authority', 'a.test'],
    [':path', '/x'],
  ];
  const without = (name: string): [string, string][] => base.filter(([n]) => n !== name);
  const cases: [string, [string, string][]][] = [
    ['no :method', without(':method')],
    ['no :path', without(':path')],
    ['no :scheme', without(':scheme')],
    ['an empty :path', [...without(':path'), [':path', '']]],
    [':path not starting with "/"', [...without(':path'), [':path', 'x']]],
    [':path with a space', [...without(':path'), [':path', '/a b']]],
    [':path with CR LF', [...without(':path'), [':path', '/a\r\nx-injected: 1']]],
    [':method with a space', [...without(':method'), [':method', 'GET /x']]],
    [':path twice', [...base, [':path', '/y']]],
    [':status in a request', [...base, [':status', '200']]],
    ['an unknown pseudo-header field', [...base, [':foo', 'bar']]],
    [':protocol (extended CONNECT is not offered)', [...base, [':protocol', 'websocket']]],
    ['a pseudo-header field after a regular field', [...without(':path'), ['x-a', '1'], [':path', '/x']]],
    ['CR LF in a value', [...base, ['x-a', 'one\r\nx-injected: 1']]],
    ['LF in a value', [...base, ['x-a', 'one\nx-injected: 1']]],
    ['NUL in a value', [...base, ['x-a', 'one\u0000two']]],
    ['a value with leading white space', [...base, ['x-a', ' one']]],
    ['a value with trailing white space', [...base, ['x-a', 'one\t']]],
    ['an upper-case name', [...base, ['X-Upper', '1']]],
    ['a name with a space', [...base, ['x a', '1']]],
    ['an empty name', [...base, ['', '1']]],
    ['Connection', [...base, ['connection', 'close']]],
    ['Transfer-Encoding', [...base, ['transfer-encoding', 'chunked']]],
    ['Upgrade', [...base, ['upgrade', 'h2c']]],
    ['Keep-Alive', [...base, ['keep-alive', '5']]],
    ['TE other than trailers', [...base, ['te', 'gzip']]],
    ['an invalid Content-Length', [...base, ['content-length', '1x']]],
    ['two different Content-Lengths', [...base, ['content-length', '1'], ['content-length', '2']]],
    ['CONNECT with :path', [[':method', 'CONNECT'], [':authority', 'a.test:443'], [':path', '/']]],
  ];

  it.each(cases)('%s', async (_name, fields) => {
    const client = await openClient();
    client.write(headersFrame(1, hpackBlock(fields), { endStream: true }));
    const rst = await client.waitFor((f) => f.type === FrameType.RST_STREAM && f.streamId === 1, 5_000, 'RST_STREAM');
    expect(rst.errorCode).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(client.received(FrameType.HEADERS, 1)).toEqual([]);
    await expectServes(client, 3);
    expect(recording.allReceived).not.toContain('/x');
    expect(recording.allReceived).not.toContain('injected');
    client.close();
  });

  it('HEADERS with END_STREAM and Content-Length 5: reset, nothing forwarded', async () => {
    const client = await openClient();
    client.write(headersFrame(1, requestBlock(host, '/cl', 'POST', [['content-length', '5']]), { endStream: true }));
    const rst = await client.waitFor((f) => f.type === FrameType.RST_STREAM && f.streamId === 1, 5_000, 'RST_STREAM');
    expect(rst.errorCode).toBe(ErrorCode.PROTOCOL_ERROR);
    await expectServes(client, 3);
    expect(recording.allReceived).not.toContain('/cl');
    client.close();
  });

  it('a body longer than its Content-Length: the stream is reset and the upstream never sees the extra bytes', async () => {
    const client = await openClient();
    client.write(headersFrame(1, requestBlock(host, '/body', 'POST', [['content-length', '3']])), dataFrame(1, Buffer.from('abcdef'), true));
    const rst = await client.waitFor((f) => f.type === FrameType.RST_STREAM && f.streamId === 1, 5_000, 'RST_STREAM');
    expect(rst.errorCode).toBe(ErrorCode.PROTOCOL_ERROR);
    await expectServes(client, 3);
    client.close();
  });

  it('a body shorter than its Content-Length: reset at END_STREAM', async () => {
    const client = await openClient();
    client.write(headersFrame(1, requestBlock(host, '/body', 'POST', [['content-length', '10']])), dataFrame(1, Buffer.from('abc'), true));
    const rst = await client.waitFor((f) => f.type === FrameType.RST_STREAM && f.streamId === 1, 5_000, 'RST_STREAM');
    expect(rst.errorCode).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(client.received(FrameType.DATA, 1).filter((f) => (f.flags & Flag.END_STREAM) !== 0)).toEqual([]);
    client.close();
  });

  it('trailers with a pseudo-header field: the stream is reset', async () => {
    const client = await openClient();
    client.write(headersFrame(1, requestBlock(host, '/body', 'POST')), dataFrame(1, Buffer.from('abc')), headersFrame(1, hpackBlock([[':path', '/y']]), { endStream: true }));
    const rst = await client.waitFor((f) => f.type === FrameType.RST_STREAM && f.streamId === 1, 5_000, 'RST_STREAM');
    expect(rst.errorCode).toBe(ErrorCode.PROTOCOL_ERROR);
    client.close();
  });
});

describe('frames out of place', () => {
  it('DATA on a stream that closed normally: GOAWAY STREAM_CLOSED', async () => {
    const client = await openClient();
    client.write(headersFrame(1, requestBlock(host, '/done'), { endStream: true }));
    await responseBody(client, 1);
    client.write(dataFrame(1, Buffer.from('late')));
    await client.waitForClose();
    expect(client.goaway?.errorCode).toBe(ErrorCode.STREAM_CLOSED);
    expect(client.goaway?.lastStreamId).toBe(1);
  });

  it('HEADERS on a stream that closed normally: GOAWAY STREAM_CLOSED', async () => {
    const client = await openClient();
    client.write(headersFrame(1, requestBlock(host, '/done'), { endStream: true }));
    await responseBody(client, 1);
    client.write(headersFrame(1, requestBlock(host, '/again'), { endStream: true }));
    await client.waitForClose();
    expect(client.goaway?.errorCode).toBe(ErrorCode.STREAM_CLOSED);
    expect(recording.allReceived).not.toContain('/again');
  });

  it('DATA and trailers on a stream the server reset are ignored: the connection serves on', async () => {
    const client = await openClient();
    client.write(headersFrame(1, hpackBlock([[':method', 'POST'], [':scheme', 'http'], [':authority', host], [':path', '/x'], ['X-Bad', '1']])));
    await client.waitFor((f) => f.type === FrameType.RST_STREAM && f.streamId === 1, 5_000, 'RST_STREAM');
    client.write(dataFrame(1, Buffer.from('in flight')), headersFrame(1, hpackBlock([['x-trailer', '1']]), { endStream: true }));
    await expectServes(client, 3);
    expect(client.goaway).toBeUndefined();
    client.close();
  });

  it('RST_STREAM, WINDOW_UPDATE or DATA on an idle stream: GOAWAY PROTOCOL_ERROR', async () => {
    for (const f of [rstStreamFrame(7, ErrorCode.CANCEL), windowUpdateFrame(7, 10), dataFrame(7, Buffer.from('x'))]) {
      const client = await openClient();
      client.write(f);
      await client.waitForClose();
      expect(client.goaway?.errorCode).toBe(ErrorCode.PROTOCOL_ERROR);
    }
  });

  it('HEADERS on an even (server) stream id, and a frame between HEADERS and its CONTINUATION: GOAWAY PROTOCOL_ERROR', async () => {
    const even = await openClient();
    even.write(headersFrame(2, requestBlock(host, '/even'), { endStream: true }));
    await even.waitForClose();
    expect(even.goaway?.errorCode).toBe(ErrorCode.PROTOCOL_ERROR);
    const interleaved = await openClient();
    const block = requestBlock(host, '/split');
    interleaved.write(headersFrame(1, block.subarray(0, 5), { endStream: true, endHeaders: false }), pingFrame(), continuationFrame(1, block.subarray(5), true));
    await interleaved.waitForClose();
    expect(interleaved.goaway?.errorCode).toBe(ErrorCode.PROTOCOL_ERROR);
    expect(recording.allReceived).toBe('');
  });

  it('PUSH_PROMISE from a client: GOAWAY PROTOCOL_ERROR', async () => {
    const client = await openClient();
    client.write(frame(FrameType.PUSH_PROMISE, Flag.END_HEADERS, 1, Buffer.alloc(4)));
    await client.waitForClose();
    expect(client.goaway?.errorCode).toBe(ErrorCode.PROTOCOL_ERROR);
  });

  it('a header block that cannot be decoded: GOAWAY COMPRESSION_ERROR', async () => {
    const client = await openClient();
    // An indexed field with index 0 (RFC 7541 §6.1).
    client.write(headersFrame(1, Buffer.of(0x80), { endStream: true }));
    await client.waitForClose();
    expect(client.goaway?.errorCode).toBe(ErrorCode.COMPRESSION_ERROR);
  });

  it('PRIORITY frames are ignored', async () => {
    const client = await openClient();
    client.write(frame(FrameType.PRIORITY, 0, 1, Buffer.of(0, 0, 0, 0, 16)));
    await expectServes(client, 1);
    client.close();
  });
});

describe('limits', () => {
  it('65 CONTINUATION frames for one header block: GOAWAY ENHANCE_YOUR_CALM, nothing forwarded', async () => {
    const client = await openClient();
    const frames = [headersFrame(1, requestBlock(host, '/flood'), { endStream: true, endHeaders: false })];
    for (let i = 0; i < 65; i++) frames.push(continuationFrame(1, Buffer.alloc(0)));
    client.write(...frames);
    await client.waitForClose();
    expect(client.goaway?.errorCode).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    expect(recording.allReceived).not.toContain('/flood');
  });

  it('a header list larger than limits.maxHeaderSize in one HEADERS frame: RST_STREAM ENHANCE_YOUR_CALM, nothing forwarded', async () => {
    const client = await openClient();
    // A 4,000-byte field added to the dynamic table, then referenced four times by index: a
    // small block whose decoded list is over 16 KiB.
    const indexed = Buffer.concat([Buffer.of(0x40), hpackBlock([['x-large', 'v'.repeat(4_000)]]).subarray(1)]);
    client.write(headersFrame(1, Buffer.concat([requestBlock(host, '/large'), indexed, Buffer.of(0xbe, 0xbe, 0xbe, 0xbe)]), { endStream: true }));
    const rst = await client.waitFor((f) => f.type === FrameType.RST_STREAM && f.streamId === 1, 5_000, 'RST_STREAM');
    expect(rst.errorCode).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    await expectServes(client, 3);
    expect(recording.allReceived).not.toContain('/large');
    client.close();
  });

  it('a WINDOW_UPDATE that takes the connection send window past 2^31-1: GOAWAY FLOW_CONTROL_ERROR', async () => {
    const client = await openClient();
    client.write(windowUpdateFrame(0, 2 ** 31 - 1));
    await client.waitForClose();
    expect(client.goaway?.errorCode).toBe(ErrorCode.FLOW_CONTROL_ERROR);
  });

  it('a stream WINDOW_UPDATE past 2^31-1: that stream is reset with FLOW_CONTROL_ERROR', async () => {
    const client = await openClient();
    client.write(headersFrame(1, requestBlock(host, '/body', 'POST')), windowUpdateFrame(1, 2 ** 31 - 1));
    const rst = await client.waitFor((f) => f.type === FrameType.RST_STREAM && f.streamId === 1, 5_000, 'RST_STREAM');
    expect(rst.errorCode).toBe(ErrorCode.FLOW_CONTROL_ERROR);
    client.close();
  });

  it('SETTINGS_INITIAL_WINDOW_SIZE above 2^31-1 or SETTINGS_MAX_FRAME_SIZE below 16384: connection errors', async () => {
    const window = await openClient();
    window.write(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 2 ** 31]]));
    await window.waitForClose();
    expect(window.goaway?.errorCode).toBe(ErrorCode.FLOW_CONTROL_ERROR);
    const frameSize = await openClient();
    frameSize.write(settingsFrame([[Setting.MAX_FRAME_SIZE, 1_000]]));
    await frameSize.waitForClose();
    expect(frameSize.goaway?.errorCode).toBe(ErrorCode.PROTOCOL_ERROR);
  });

  it('a frame larger than SETTINGS_MAX_FRAME_SIZE: GOAWAY FRAME_SIZE_ERROR', async () => {
    const client = await openClient();
    client.write(headersFrame(1, requestBlock(host, '/body', 'POST')), dataFrame(1, Buffer.alloc(16_385)));
    await client.waitForClose();
    expect(client.goaway?.errorCode).toBe(ErrorCode.FRAME_SIZE_ERROR);
  });

  it('RST_STREAM flood: a client that cancels every stream it opens is cut at limits.http2.prematureResetLimit', async () => {
    const client = await openClient();
    const frames: Buffer[] = [];
    for (let i = 0; i < 300; i++) frames.push(headersFrame(1 + 2 * i, requestBlock(host, '/reset'), { endStream: true }), rstStreamFrame(1 + 2 * i, ErrorCode.CANCEL));
    client.write(...frames);
    await client.waitForClose();
    expect(client.goaway?.errorCode).toBe(ErrorCode.ENHANCE_YOUR_CALM);
    expect(client.goaway!.lastStreamId).toBeLessThan(1 + 2 * 300);
    expect(proxy.log.find('rapid reset').length).toBeGreaterThan(0);
  });
});

describe('request bodies under flow control', () => {
  it('a 4 MiB upload ended by trailers: WINDOW_UPDATEs as the proxy passes it on, the upstream receives every byte', async () => {
    const body = Buffer.alloc(4 * MiB);
    for (let i = 0; i < body.length; i += 4) body.writeUInt32BE(i, i);
    const client = await openClient();
    client.write(headersFrame(1, requestBlock(host, '/body', 'POST', [['te', 'trailers']])));
    let sent = 0;
    while (sent < body.length) {
      const before = sent;
      sent = client.sendWithinWindow(1, body, sent, false);
      if (sent === before) {
        const window = Math.min(client.connectionWindow, client.streamWindow(1));
        await client.until(() => Math.min(client.connectionWindow, client.streamWindow(1)) > window, 5_000, 'more window');
      }
    }
    client.write(headersFrame(1, hpackBlock([['x-checksum', 'abc']]), { endStream: true }));
    const reply = JSON.parse(await responseBody(client, 1)) as { bytes: number; sha256: string };
    expect({ bytes: reply.bytes, sha256: reply.sha256 }).toEqual({ bytes: body.length, sha256: createHash('sha256').update(body).digest('hex') });
    // The stream's window came back in WINDOW_UPDATEs (one a half window at most, none after END_STREAM).
    const updates = client.received(FrameType.WINDOW_UPDATE, 1);
    expect(updates.length).toBeGreaterThan(0);
    expect(updates.every((f) => f.increment! >= 128 * 1024)).toBe(true);
    client.close();
  });

  it('a body sent before the proxy reads it, in many small frames with padding-free views, arrives whole', async () => {
    const client = await openClient();
    const parts = Array.from({ length: 200 }, (_, i) => Buffer.from(`part-${i};`));
    const whole = Buffer.concat(parts);
    client.write(headersFrame(1, requestBlock(host, '/body', 'POST')), ...parts.map((p, i) => dataFrame(1, p, i === parts.length - 1)));
    const reply = JSON.parse(await responseBody(client, 1)) as { bytes: number; sha256: string };
    expect(reply.bytes).toBe(whole.length);
    expect(reply.sha256).toBe(createHash('sha256').update(whole).digest('hex'));
    client.close();
  });
});

describe('graceful close', () => {
  it('a client GOAWAY: its open stream completes, then the connection is closed', async () => {
    const client = await openClient();
    client.write(headersFrame(1, requestBlock(host, '/body', 'POST')));
    await eventually(() => proxy.app.proxyListeners[0]!.http2Sessions > 0, 5_000, 'the connection to be counted');
    client.write(frame(FrameType.GOAWAY, 0, 0, Buffer.alloc(8)), dataFrame(1, Buffer.from('last'), true));
    const reply = JSON.parse(await responseBody(client, 1)) as { bytes: number };
    expect(reply.bytes).toBe(4);
    await client.waitForClose();
  });
});

describe('the codec alone, with a listener that takes no body until told to', () => {
  let server: Server;
  let port: number;
  const streams: Http2CodecStream[] = [];
  const failures: string[] = [];
  const owner: Http2ServerOwner = {
    onStream: (stream) => {
      streams.push(stream);
      // Answers at once when the request has no body; otherwise the test decides.
      if (!stream.hasBody) stream.respond(204, []);
    },
    connectionClosed: () => undefined,
    connectionFailed: (_c, _code, message) => failures.push(message),
    streamFailed: (_c, _code, message) => failures.push(message),
    rapidReset: () => undefined,
    stalled: () => undefined,
  };
  const settings = {
    maxConcurrentStreams: 16,
    initialWindowSize: 65_535,
    maxHeaderListSize: 16_384,
    maxHeaderFields: 105,
    maxQueuedBytes: 16 * MiB,
    keepAliveTimeout: 5_000,
    prematureResetLimit: 100,
    flowControlTimeout: 60_000,
  };

  beforeAll(async () => {
    server = createServer((socket: Socket) => void new Http2ServerConnection(socket, settings, owner));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    port = (server.address() as AddressInfo).port;
  });

  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  async function open(): Promise<RawHttp2Client> {
    const client = await RawHttp2Client.connect(port);
    await client.handshake();
    return client;
  }

  it('a bodiless answer is one HEADERS frame that ends the stream', async () => {
    const client = await open();
    client.write(headersFrame(1, requestBlock('a.test', '/'), { endStream: true }));
    const headers = await client.waitFor((f) => f.type === FrameType.HEADERS && f.streamId === 1, 5_000, 'HEADERS');
    expect(headers.flags & (Flag.END_STREAM | Flag.END_HEADERS)).toBe(Flag.END_STREAM | Flag.END_HEADERS);
    // 0x89: the static-table entry ":status 204".
    expect(headers.payload).toEqual(Buffer.of(0x89));
    expect(client.received(FrameType.DATA, 1)).toEqual([]);
    client.close();
  });

  it('more DATA than the stream window (nothing read, so nothing given back): RST_STREAM FLOW_CONTROL_ERROR', async () => {
    const client = await open();
    client.write(headersFrame(1, requestBlock('a.test', '/up', 'POST')), dataFrame(1, Buffer.alloc(16_384)), dataFrame(1, Buffer.alloc(16_384)));
    client.write(dataFrame(1, Buffer.alloc(16_384)), dataFrame(1, Buffer.alloc(16_384)));
    const rst = await client.waitFor((f) => f.type === FrameType.RST_STREAM && f.streamId === 1, 5_000, 'RST_STREAM');
    expect(rst.errorCode).toBe(ErrorCode.FLOW_CONTROL_ERROR);
    expect(failures.at(-1)).toContain('more DATA than the stream window allows');
    client.close();
  });

  it('a paused body withholds its window: no WINDOW_UPDATE for the stream until the proxy resumes, then the rest arrives', async () => {
    const client = await open();
    client.write(headersFrame(1, requestBlock('a.test', '/paused', 'POST')));
    await eventually(() => streams.at(-1)?.url === '/paused', 5_000, 'the stream');
    const stream = streams.at(-1)!;
    const got: Buffer[] = [];
    let ended = false;
    let pausing = true;
    // Takes the first chunk and asks to pause (as the exchange does when its upstream is slow).
    stream.readBody({ onBodyChunk: (c) => (got.push(c), !pausing), onBodyEnd: () => (ended = true) });
    const body = Buffer.alloc(200_000, 'p');
    let sent = client.sendWithinWindow(1, body, 0, true);
    expect(sent).toBe(65_535);
    await eventually(() => got.length === 1, 5_000, 'the first chunk');
    await new Promise((r) => setTimeout(r, 200));
    expect(client.received(FrameType.WINDOW_UPDATE, 1)).toEqual([]);
    pausing = false;
    stream.resumeBody();
    while (sent < body.length) {
      const before = Math.min(client.connectionWindow, client.streamWindow(1));
      await client.until(() => Math.min(client.connectionWindow, client.streamWindow(1)) > before, 5_000, 'more window');
      sent = client.sendWithinWindow(1, body, sent, true);
    }
    await eventually(() => ended, 5_000, 'the end of the body');
    expect(Buffer.concat(got)).toEqual(body);
    stream.respond(200, ['content-length', '0']);
    client.close();
  });

  it('a stream window made negative by a lowered SETTINGS_INITIAL_WINDOW_SIZE still ends with an empty END_STREAM frame', async () => {
    const client = await open();
    client.write(headersFrame(1, requestBlock('a.test', '/negative', 'POST')));
    await eventually(() => streams.at(-1)?.url === '/negative', 5_000, 'the stream');
    const stream = streams.at(-1)!;
    stream.writeHead(200, [], undefined, false);
    expect(stream.write(Buffer.alloc(1_000, 'n'))).toBe(true);
    await client.until(() => client.received(FrameType.DATA, 1).length === 1, 5_000, 'the first DATA');
    const acks = client.received(FrameType.SETTINGS).filter((f) => (f.flags & Flag.ACK) !== 0).length;
    client.write(settingsFrame([[Setting.INITIAL_WINDOW_SIZE, 0]]));
    await client.until(() => client.received(FrameType.SETTINGS).filter((f) => (f.flags & Flag.ACK) !== 0).length > acks, 5_000, 'the SETTINGS ACK');
    stream.end();
    const last = await client.waitFor((f) => f.type === FrameType.DATA && f.streamId === 1 && (f.flags & Flag.END_STREAM) !== 0, 5_000, 'END_STREAM');
    expect(last.payload.length).toBe(0);
    expect(client.received(FrameType.DATA, 1)).toHaveLength(2);
    client.close();
  });

  it('a response larger than the client window waits for WINDOW_UPDATE: write() is false until the window opens, then onDrain', async () => {
    const client = await open();
    client.write(headersFrame(1, requestBlock('a.test', '/down', 'POST')));
    await eventually(() => streams.at(-1)?.url === '/down', 5_000, 'the stream');
    const stream = streams.at(-1)!;
    let drains = 0;
    stream.observe({ onDrain: () => drains++, onAborted: () => undefined });
    stream.writeHead(200, ['content-type', 'application/octet-stream'], undefined, false);
    expect(stream.write(Buffer.alloc(100_000, 'd'))).toBe(false);
    await client.until(() => client.received(FrameType.DATA, 1).reduce((n, f) => n + f.payload.length, 0) === 65_535, 5_000, 'the first window');
    expect(drains).toBe(0);
    stream.end();
    client.write(windowUpdateFrame(0, 100_000), windowUpdateFrame(1, 100_000));
    await client.until(() => client.received(FrameType.DATA, 1).some((f) => (f.flags & Flag.END_STREAM) !== 0), 5_000, 'the end of the response');
    expect(client.received(FrameType.DATA, 1).reduce((n, f) => n + f.payload.length, 0)).toBe(100_000);
    client.close();
  });
});

describe('the codec alone: a client that never opens its window', () => {
  it('a response held by the window longer than flowControlTimeout is cancelled (RST_STREAM CANCEL), the exchange hears of it, the connection stays', async () => {
    const aborted: number[] = [];
    let stream: Http2CodecStream | null = null;
    const owner: Http2ServerOwner = {
      onStream: (s) => {
        stream = s;
        s.observe({ onDrain: () => undefined, onAborted: () => aborted.push(s.id) });
        s.writeHead(200, [], undefined, false);
        s.write(Buffer.alloc(100_000, 'w'));
      },
      connectionClosed: () => undefined,
      connectionFailed: () => undefined,
      streamFailed: () => undefined,
      rapidReset: () => undefined,
      stalled: () => undefined,
    };
    const settings = { maxConcurrentStreams: 16, initialWindowSize: 65_535, maxHeaderListSize: 16_384, maxHeaderFields: 105, maxQueuedBytes: 16 * MiB, keepAliveTimeout: 100, prematureResetLimit: 100, flowControlTimeout: 300 };
    const server = createServer((socket: Socket) => void new Http2ServerConnection(socket, settings, owner));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
    try {
      const client = await RawHttp2Client.connect((server.address() as AddressInfo).port);
      await client.handshake();
      client.write(headersFrame(1, requestBlock('a.test', '/held'), { endStream: true }));
      const rst = await client.waitFor((f) => f.type === FrameType.RST_STREAM && f.streamId === 1, 5_000, 'RST_STREAM');
      expect(rst.errorCode).toBe(ErrorCode.CANCEL);
      expect(client.received(FrameType.DATA, 1).reduce((n, f) => n + f.payload.length, 0)).toBe(65_535);
      expect(aborted).toEqual([1]);
      expect(stream!.destroyed).toBe(true);
      expect(client.goaway).toBeUndefined();
      client.close();
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });
});

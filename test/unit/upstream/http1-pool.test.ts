import { spawn } from 'node:child_process';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createNetServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { classifyUpstreamError } from '../../../src/proxy/proxy-error.js';
import { Http1Pool, type Http1PoolOptions } from '../../../src/upstream/http1-pool.js';
import { startBlackholeListener } from '../../support/blackhole-listener.js';
import { createTestCa, readPair } from '../../support/certificates.js';
import { dispatchAndRecord, type DispatchOutcome, type RecordingHooks } from '../../support/dispatch-recorder.js';
import { eventually } from '../../support/proxy-harness.js';
import { answerWith, startRawUpstream, type RawUpstream, type RawUpstreamBehaviour } from '../../support/raw-upstream.js';
import { startRecordingUpstream, write, type RecordingUpstream } from '../../support/recording-upstream.js';

const pools: Http1Pool[] = [];
const closers: (() => Promise<void>)[] = [];

function poolFor(port: number, options: Partial<Http1PoolOptions> = {}): Http1Pool {
  const pool = new Http1Pool(`http://127.0.0.1:${port}`, '127.0.0.1', port, { connections: 4, connectTimeout: 2_000, keepAliveTimeout: 30_000, tls: null, ...options });
  pools.push(pool);
  return pool;
}

function get(path = '/x', extra: Partial<Dispatcher.DispatchOptions> = {}): Dispatcher.DispatchOptions {
  return { method: 'GET', path, headers: ['host', 'upstream.test'], ...extra } as Dispatcher.DispatchOptions;
}

function send(pool: Http1Pool, options: Dispatcher.DispatchOptions = get(), hooks?: RecordingHooks): Promise<DispatchOutcome> {
  return dispatchAndRecord(pool, options, hooks);
}

async function raw(behaviour: RawUpstreamBehaviour): Promise<RawUpstream> {
  const up = await startRawUpstream(behaviour);
  closers.push(() => up.close());
  return up;
}

async function recording(): Promise<RecordingUpstream> {
  const up = await startRecordingUpstream(() => undefined);
  closers.push(() => up.close());
  return up;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
  await Promise.all(closers.splice(0).map((c) => c()));
});

const OK = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';

describe('Http1Pool: the bytes of the request', () => {
  let up: RecordingUpstream;
  beforeAll(async () => {
    up = await startRecordingUpstream((conn) => write(conn, '200', OK));
  });
  afterAll(() => up.close());
  afterEach(() => up.reset());

  it('GET: request line, host, connection, the fields in order, nothing else', async () => {
    const pool = poolFor(up.port);
    const r = await send(pool, get('/a/b?q=1', { headers: ['Host', 'app.test', 'X-One', '1', 'accept', '*/*', 'x-one', 'again'] }));
    expect(r.status).toBe(200);
    expect(up.allReceived).toBe('GET /a/b?q=1 HTTP/1.1\r\nhost: app.test\r\nconnection: keep-alive\r\nX-One: 1\r\naccept: */*\r\nx-one: again\r\n\r\n');
  });

  it('GET without a Host in the list: the instance address and port', async () => {
    const pool = poolFor(up.port);
    await send(pool, get('/', { headers: [] }));
    expect(up.allReceived).toBe(`GET / HTTP/1.1\r\nhost: 127.0.0.1:${up.port}\r\nconnection: keep-alive\r\n\r\n`);
  });

  it('GET with Content-Length: 0 sends none (no payload semantics); POST with no body sends Content-Length: 0', async () => {
    const pool = poolFor(up.port);
    await send(pool, get('/g', { headers: ['host', 'h', 'content-length', '0'] }));
    await send(pool, { method: 'POST', path: '/p', headers: ['host', 'h', 'content-length', '0'], body: null });
    expect(up.allReceived).toBe('GET /g HTTP/1.1\r\nhost: h\r\nconnection: keep-alive\r\n\r\n' + 'POST /p HTTP/1.1\r\nhost: h\r\nconnection: keep-alive\r\ncontent-length: 0\r\n\r\n');
  });

  it('POST with a Buffer body: Content-Length from the body, head and body in one write', async () => {
    const pool = poolFor(up.port);
    await send(pool, { method: 'POST', path: '/p', headers: ['host', 'h', 'content-type', 'text/plain', 'Content-Length', '5'], body: Buffer.from('hello') });
    expect(up.allReceived).toBe('POST /p HTTP/1.1\r\nhost: h\r\nconnection: keep-alive\r\ncontent-type: text/plain\r\ncontent-length: 5\r\n\r\nhello');
    // One write: the upstream read head and body together (they arrived in one segment on loopback).
    expect(up.used[0]!.events.filter((e) => e === 'head')).toHaveLength(1);
  });

  it('POST with a stream body and its Content-Length: the declared length, the bytes as they come', async () => {
    const pool = poolFor(up.port);
    await send(pool, { method: 'POST', path: '/s', headers: ['host', 'h', 'content-length', '10'], body: Readable.from([Buffer.from('01234'), Buffer.from('56789')]) });
    expect(up.allReceived).toBe('POST /s HTTP/1.1\r\nhost: h\r\nconnection: keep-alive\r\ncontent-length: 10\r\n\r\n0123456789');
  });

  it('POST with a stream body of unknown length: chunked framing', async () => {
    const pool = poolFor(up.port);
    await send(pool, { method: 'POST', path: '/c', headers: ['host', 'h'], body: Readable.from([Buffer.from('abc'), Buffer.alloc(0), Buffer.from('0123456789abcdefX')]) });
    expect(up.allReceived).toBe('POST /c HTTP/1.1\r\nhost: h\r\nconnection: keep-alive\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n11\r\n0123456789abcdefX\r\n0\r\n\r\n');
  });

  it('HEAD: asks the server to close (a body sent by mistake must not become the next response)', async () => {
    const pool = poolFor(up.port);
    up.behaviour = (conn) => write(conn, '200', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\n');
    const r = await send(pool, get('/h', { method: 'HEAD' }));
    expect(r.status).toBe(200);
    expect(r.body.length).toBe(0);
    expect(up.allReceived).toBe('HEAD /h HTTP/1.1\r\nhost: upstream.test\r\nconnection: close\r\n\r\n');
    up.behaviour = (conn) => write(conn, '200', OK);
  });

  it('an upgrade request: Connection: upgrade and the offered protocol', async () => {
    const pool = poolFor(up.port);
    up.behaviour = (conn) => write(conn, '101', 'HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n');
    const r = await send(pool, get('/ws', { upgrade: 'websocket', headers: ['host', 'h', 'sec-websocket-key', 'k'] }));
    expect(r.upgrade?.status).toBe(101);
    r.upgrade!.socket.destroy();
    expect(up.allReceived).toBe('GET /ws HTTP/1.1\r\nhost: h\r\nconnection: upgrade\r\nupgrade: websocket\r\nsec-websocket-key: k\r\n\r\n');
    up.behaviour = (conn) => write(conn, '200', OK);
  });

  it('a request Connection: close in the list: sent as connection: close, the connection is not reused', async () => {
    const pool = poolFor(up.port);
    await send(pool, get('/1', { headers: ['host', 'h', 'Connection', 'close'] }));
    await send(pool, get('/2'));
    expect(up.used.length).toBe(2);
    expect(up.used[0]!.received).toBe('GET /1 HTTP/1.1\r\nhost: h\r\nconnection: close\r\n\r\n');
  });
});

describe('Http1Pool: requests it refuses to send (nothing reaches the upstream)', () => {
  const cases: [string, Partial<Dispatcher.DispatchOptions>, string][] = [
    ['Transfer-Encoding in the list', { headers: ['host', 'h', 'transfer-encoding', 'chunked'] }, 'UND_ERR_INVALID_ARG'],
    ['Keep-Alive in the list', { headers: ['host', 'h', 'keep-alive', 'timeout=5'] }, 'UND_ERR_INVALID_ARG'],
    ['Upgrade in the list', { headers: ['host', 'h', 'upgrade', 'websocket'] }, 'UND_ERR_INVALID_ARG'],
    ['a Content-Length that is not a number', { method: 'POST', headers: ['host', 'h', 'content-length', '5x'], body: Buffer.from('hello') }, 'UND_ERR_INVALID_ARG'],
    ['two Content-Length fields', { method: 'POST', headers: ['host', 'h', 'content-length', '5', 'content-length', '5'], body: Buffer.from('hello') }, 'UND_ERR_INVALID_ARG'],
    ['two Host fields', { headers: ['host', 'h', 'Host', 'i'] }, 'UND_ERR_INVALID_ARG'],
    ['a Content-Length that disagrees with the Buffer body', { method: 'POST', headers: ['host', 'h', 'content-length', '4'], body: Buffer.from('hello') }, 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH'],
    ['a Content-Length with no body', { method: 'POST', headers: ['host', 'h', 'content-length', '4'], body: null }, 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH'],
    ['headers as an object', { headers: { host: 'h' } as unknown as string[] }, 'UND_ERR_INVALID_ARG'],
    ['a string body', { method: 'POST', body: 'text' as unknown as Buffer }, 'UND_ERR_INVALID_ARG'],
    ['upgrade: true', { upgrade: true as unknown as string }, 'UND_ERR_INVALID_ARG'],
  ];
  for (const [what, options, code] of cases) {
    it(`${what} → onError ${code}`, async () => {
      const up = await recording();
      const pool = poolFor(up.port);
      const r = await send(pool, get('/', options));
      expect(r.error?.code).toBe(code);
      expect(r.events).toEqual(['error']);
      expect(up.allReceived).toBe('');
    });
  }

  it('a stream body longer than its Content-Length: the request fails (UND_ERR_REQ_CONTENT_LENGTH_MISMATCH), the connection is dropped', async () => {
    const up = await recording();
    const pool = poolFor(up.port);
    const r = await send(pool, { method: 'POST', path: '/', headers: ['host', 'h', 'content-length', '3'], body: Readable.from([Buffer.from('abcdef')]) });
    expect(r.error?.code).toBe('UND_ERR_REQ_CONTENT_LENGTH_MISMATCH');
    await eventually(() => up.connections[0]?.events.includes('closed') === true, 5_000, 'the connection to close');
  });

  it('a stream body shorter than its Content-Length: the request fails when the stream ends', async () => {
    const up = await recording();
    const pool = poolFor(up.port);
    const r = await send(pool, { method: 'POST', path: '/', headers: ['host', 'h', 'content-length', '9'], body: Readable.from([Buffer.from('abc')]) });
    expect(r.error?.code).toBe('UND_ERR_REQ_CONTENT_LENGTH_MISMATCH');
  });

  it('a request body stream that fails: the request fails with the stream\'s error', async () => {
    const up = await recording();
    const pool = poolFor(up.port);
    const body = new Readable({ read() {} });
    const outcome = send(pool, { method: 'POST', path: '/', headers: ['host', 'h'], body });
    body.push('abc');
    await eventually(() => up.allReceived.includes('abc'), 5_000, 'the first body bytes');
    body.destroy(new Error('client went away'));
    const r = await outcome;
    expect(r.error?.message).toBe('client went away');
  });

  it('a body stream that fails while its request waits for a connection fails that request, not the process', async () => {
    // One connection, held by a request the upstream never answers: the next one queues.
    let holding: Socket | null = null;
    const up = await raw((socket) => void (holding = socket));
    const pool = poolFor(up.port, { connections: 1 });
    const held = send(pool, get('/held'));
    await eventually(() => up.requests === 1, 5_000, 'the first request to hold the connection');
    const body = new Readable({ read() {} });
    const queued = send(pool, { method: 'POST', path: '/queued', headers: ['host', 'upstream.test'], body } as Dispatcher.DispatchOptions);
    body.destroy(Object.assign(new Error('the client sent too much'), { code: 'SWITCHYARD_BODY_TOO_LARGE' }));
    const r = await queued;
    expect(r.error?.message).toBe('the client sent too much');
    expect(up.requests).toBe(1);
    (holding as Socket | null)!.write('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n');
    expect((await held).error).toBeNull();
  });

  it('a closed pool refuses new requests (UND_ERR_CLOSED)', async () => {
    const up = await recording();
    const pool = poolFor(up.port);
    await pool.close();
    const r = await send(pool);
    expect(r.error?.code).toBe('UND_ERR_CLOSED');
  });
});

describe('Http1Pool: responses', () => {
  async function answer(bytes: string, options: Dispatcher.DispatchOptions = get()): Promise<DispatchOutcome> {
    const up = await raw(answerWith(bytes));
    return send(poolFor(up.port), options);
  }

  it('Content-Length body, status text and raw header list (case and order kept)', async () => {
    const r = await answer('HTTP/1.1 201 Created Here\r\nX-A: 1\r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 5\r\n\r\nhello');
    expect(r.status).toBe(201);
    expect(r.statusText).toBe('Created Here');
    expect(r.headers).toEqual(['X-A', '1', 'set-cookie', 'a=1', 'Set-Cookie', 'b=2', 'Content-Length', '5']);
    expect(r.body.toString()).toBe('hello');
    expect(r.trailers).toEqual([]);
  });

  it('an empty header value', async () => {
    const r = await answer('HTTP/1.1 200 OK\r\nX-Empty:\r\nX-B: b\r\nContent-Length: 0\r\n\r\n');
    expect(r.headers).toEqual(['X-Empty', '', 'X-B', 'b', 'Content-Length', '0']);
  });

  it('chunked with extensions and trailers: the body de-chunked, trailers as a raw list', async () => {
    const r = await answer('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: x-sum\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 42\r\nx-more: yes\r\n\r\n');
    expect(r.body.toString()).toBe('hello world');
    expect(r.trailers).toEqual(['X-Sum', '42', 'x-more', 'yes']);
  });

  it('a close-delimited body ends with the connection', async () => {
    const up = await raw((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nX-A: 1\r\n\r\nuntil ');
      setTimeout(() => socket.end('the end'), 20);
    });
    const r = await send(poolFor(up.port));
    expect(r.error).toBeNull();
    expect(r.body.toString()).toBe('until the end');
  });

  it('HEAD with a Content-Length: no body read', async () => {
    const r = await answer('HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n', get('/', { method: 'HEAD' }));
    expect(r.status).toBe(200);
    expect(r.headers).toEqual(['Content-Length', '1234']);
    expect(r.body.length).toBe(0);
    expect(r.events).toEqual(['connect', 'headers 200', 'complete']);
  });

  it('204 and 304 have no body, whatever their Content-Length says', async () => {
    const up = await raw((socket, head) => socket.write(head.includes('/204') ? 'HTTP/1.1 204 No Content\r\n\r\n' : 'HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n'));
    const pool = poolFor(up.port, { connections: 1 });
    const a = await send(pool, get('/204'));
    const b = await send(pool, get('/304'));
    const c = await send(pool, get('/204'));
    expect([a.status, b.status, c.status]).toEqual([204, 304, 204]);
    expect([a.body.length, b.body.length, c.body.length]).toEqual([0, 0, 0]);
    // Bodiless responses leave the connection reusable.
    expect(up.connections).toBe(1);
  });

  it('100 then 200, 103 then 200: interim responses reach onHeaders first', async () => {
    const r1 = await answer('HTTP/1.1 100 Continue\r\n\r\n' + OK, { method: 'POST', path: '/', headers: ['host', 'h'], body: Buffer.from('x') } as Dispatcher.DispatchOptions);
    expect(r1.interim).toEqual([{ status: 100, headers: [] }]);
    expect(r1.status).toBe(200);
    const r2 = await answer('HTTP/1.1 103 Early Hints\r\nLink: </a.css>; rel=preload\r\n\r\n' + OK);
    expect(r2.interim).toEqual([{ status: 103, headers: ['Link', '</a.css>; rel=preload'] }]);
    expect(r2.events).toEqual(['connect', 'headers 103', 'headers 200', 'data', 'complete']);
    expect(r2.body.toString()).toBe('ok');
  });

  it('an unsolicited 100 Continue (no Expect sent) is skipped like any 1xx (RFC 9110 §15.2)', async () => {
    const up = await raw(answerWith('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 100 Continue\r\nX-Odd: 1\r\n\r\n' + OK));
    const pool = poolFor(up.port, { connections: 1 });
    const r = await send(pool);
    expect(r.interim.map((i) => i.status)).toEqual([100, 100]);
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('ok');
    // The framing after the 100s was right: the connection serves the next request.
    expect((await send(pool)).body.toString()).toBe('ok');
    expect(up.connections).toBe(1);
  });

  it('101 to an upgrade request: onUpgrade with the socket; bytes after the head come first on it', async () => {
    const up = await raw((socket) => {
      socket.write('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\nearly');
      socket.on('data', (d: string) => {
        if (!d.startsWith('GET')) socket.write(`echo:${d}`);
      });
    });
    const pool = poolFor(up.port);
    let disconnects = 0;
    pool.on('disconnect', () => disconnects++);
    const r = await send(pool, get('/u', { upgrade: 'echo' }));
    expect(r.upgrade?.status).toBe(101);
    expect(r.upgrade?.headers).toEqual(['Connection', 'Upgrade', 'Upgrade', 'echo']);
    // Handed over paused (as undici does): nothing is lost before the new owner reads.
    const socket = r.upgrade!.socket;
    expect(socket.readableFlowing).toBe(false);
    let got = '';
    socket.on('data', (d: Buffer) => (got += d.toString()));
    socket.resume();
    await eventually(() => got === 'early', 5_000, 'the bytes after the 101 head');
    socket.write('ping');
    await eventually(() => got === 'earlyecho:ping', 5_000, 'the echo through the upgraded socket');
    socket.destroy();
    // The socket left the pool.
    expect(pool.size).toBe(0);
    expect(disconnects).toBe(1);
  });

  it('101 to a request that asked for no upgrade: an error (UND_ERR_SOCKET "bad upgrade" → upstream_bad_response)', async () => {
    const r = await answer('HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n');
    expect(r.error?.code).toBe('UND_ERR_SOCKET');
    expect(r.error?.message).toBe('bad upgrade');
    expect(classifyUpstreamError(r.error!)).toBe('upstream_bad_response');
  });

  const malformed: [string, string, string][] = [
    ['a bad status line', 'HTTP/1.1 OK\r\n\r\n', 'HPE_INVALID_STATUS'],
    ['garbage', 'GARBAGE\r\n\r\n', 'HPE_INVALID_CONSTANT'],
    ['Content-Length with Transfer-Encoding', 'HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n', 'HPE_INVALID_TRANSFER_ENCODING'],
    ['an invalid chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['a chunk size that overflows', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffff\r\nabc\r\n0\r\n\r\n', 'HPE_INVALID_CHUNK_SIZE'],
    ['obs-fold', 'HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['NUL in a header value', 'HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n', 'HPE_INVALID_HEADER_TOKEN'],
    ['a bare LF', 'HTTP/1.1 200 OK\nContent-Length: 2\n\nok', 'HPE_'],
    ['two different Content-Length', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 5\r\n\r\nhello', 'HPE_UNEXPECTED_CONTENT_LENGTH'],
    ['a head larger than 16 KiB', `HTTP/1.1 200 OK\r\nX-Big: ${'a'.repeat(20_000)}\r\nContent-Length: 0\r\n\r\n`, 'UND_ERR_HEADERS_OVERFLOW'],
    ['trailers larger than 16 KiB', `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, 'UND_ERR_HEADERS_OVERFLOW'],
  ];
  for (const [what, bytes, code] of malformed) {
    it(`${what}: an error (${code}…) classified upstream_bad_response`, async () => {
      const up = await raw(answerWith(bytes));
      const r = await send(poolFor(up.port));
      expect(r.error, `expected an error, got status ${r.status}`).not.toBeNull();
      expect(r.error!.code!.startsWith(code)).toBe(true);
      expect(classifyUpstreamError(r.error!)).toBe('upstream_bad_response');
      await eventually(() => up.closedByPeer === 1, 5_000, 'the pool to drop the connection');
    });
  }

  it('a Connection: close response cut short of its Content-Length: UND_ERR_RES_CONTENT_LENGTH_MISMATCH', async () => {
    const up = await raw((socket) => {
      socket.end('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 10\r\n\r\nhalf');
    });
    const r = await send(poolFor(up.port));
    expect(r.body.toString()).toBe('half');
    expect(r.error?.code).toBe('UND_ERR_RES_CONTENT_LENGTH_MISMATCH');
  });

  it('a keep-alive response cut short: UND_ERR_SOCKET "other side closed" (upstream_reset)', async () => {
    const up = await raw((socket) => {
      socket.end('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf');
    });
    const r = await send(poolFor(up.port));
    expect(r.error?.code).toBe('UND_ERR_SOCKET');
    expect(r.error?.message).toBe('other side closed');
    expect(classifyUpstreamError(r.error!)).toBe('upstream_reset');
  });

  it('a response split at every byte parses the same', async () => {
    const response =
      'HTTP/1.1 103 Early Hints\r\nLink: </s.css>\r\n\r\nHTTP/1.1 200 Fine\r\nX-Long-Name: some value\r\nTransfer-Encoding: chunked\r\n\r\n4;x=y\r\nabcd\r\n3\r\nefg\r\n0\r\nX-Trailer: t\r\n\r\n';
    let split = 0;
    const up = await raw((socket) => {
      const at = split;
      socket.write(response.slice(0, at));
      setTimeout(() => socket.write(response.slice(at)), 2);
    });
    const pool = poolFor(up.port, { connections: 1 });
    for (split = 1; split < response.length; split++) {
      const r = await send(pool);
      expect({ split, error: r.error?.message, status: r.status, text: r.statusText, interim: r.interim, headers: r.headers, body: r.body.toString(), trailers: r.trailers }).toEqual({
        split,
        error: undefined,
        status: 200,
        text: 'Fine',
        interim: [{ status: 103, headers: ['Link', '</s.css>'] }],
        headers: ['X-Long-Name', 'some value', 'Transfer-Encoding', 'chunked'],
        body: 'abcdefg',
        trailers: ['X-Trailer', 't'],
      });
    }
    expect(up.connections).toBe(1);
  });

  it('a response written one byte at a time', async () => {
    const response = 'HTTP/1.1 200 OK\r\nX-A: b\r\nContent-Length: 3\r\n\r\nxyz';
    const up = await raw((socket) => {
      let i = 0;
      const next = (): void => {
        if (i >= response.length || socket.destroyed) return;
        socket.write(response[i++]!);
        setTimeout(next, 1);
      };
      next();
    });
    const r = await send(poolFor(up.port));
    expect([r.status, r.headers, r.body.toString()]).toEqual([200, ['X-A', 'b', 'Content-Length', '3'], 'xyz']);
  });
});

describe('Http1Pool: connections', () => {
  it('reuses a kept-alive connection', async () => {
    const up = await raw(answerWith(OK));
    const pool = poolFor(up.port);
    for (let i = 0; i < 3; i++) expect((await send(pool)).body.toString()).toBe('ok');
    expect(up.connections).toBe(1);
    expect(pool.stats.free).toBe(1);
  });

  const notReused: [string, string][] = [
    ['Connection: close from the server', 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok'],
    ['HTTP/1.0 without keep-alive', 'HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok'],
    ['a Keep-Alive hint too short to use (timeout=1 s, less the 2 s margin)', 'HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1\r\nContent-Length: 2\r\n\r\nok'],
    ['bytes after the response', `${OK}HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n`],
  ];
  for (const [what, bytes] of notReused) {
    it(`does not reuse after ${what}`, async () => {
      const up = await raw(answerWith(bytes));
      const pool = poolFor(up.port);
      expect((await send(pool)).body.toString()).toBe('ok');
      expect((await send(pool)).body.toString()).toBe('ok');
      expect(up.connections).toBe(2);
    });
  }

  it('reuses after HTTP/1.0 with Connection: keep-alive, and after blank lines between responses', async () => {
    const up = await raw(answerWith('HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\nok\r\n'));
    const pool = poolFor(up.port);
    await send(pool);
    await send(pool);
    expect(up.connections).toBe(1);
  });

  it('does not reuse a connection whose response ended before the request body was sent', async () => {
    const up = await raw((socket, head) => {
      if (head.startsWith('POST')) socket.write('HTTP/1.1 413 Payload Too Large\r\nContent-Length: 0\r\n\r\n');
      else socket.write(OK);
    });
    const pool = poolFor(up.port);
    const body = new Readable({ read() {} });
    body.push('part');
    const r = await send(pool, { method: 'POST', path: '/', headers: ['host', 'h'], body });
    expect(r.status).toBe(413);
    // The rest of the body is not wanted: the stream was stopped.
    expect(body.destroyed).toBe(true);
    await eventually(() => up.closedByPeer === 1, 5_000, 'the half-sent connection to close');
    await send(pool);
    expect(up.connections).toBe(2);
  });

  it('queues beyond the connection limit and serves in order (FIFO)', async () => {
    const held: (() => void)[] = [];
    const up = await raw((socket, head) => {
      held.push(() => socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${head.split(' ')[1]!.length}\r\n\r\n${head.split(' ')[1]}`));
    });
    const pool = poolFor(up.port, { connections: 2 });
    const done: string[] = [];
    const all = ['/1', '/2', '/3', '/4', '/5'].map((p) => send(pool, get(p)).then((r) => done.push(r.body.toString())));
    await eventually(() => held.length === 2, 5_000, 'two requests upstream');
    expect(up.connections).toBe(2);
    expect(pool.queued).toBe(3);
    while (done.length < 5) {
      await eventually(() => held.length > 0, 5_000, 'a request upstream');
      held.shift()!();
      await new Promise((r) => setTimeout(r, 5));
    }
    await Promise.all(all);
    expect(done).toEqual(['/1', '/2', '/3', '/4', '/5']);
    expect(up.connections).toBe(2);
  });

  it('closes an idle connection after keepAliveTimeout', async () => {
    const up = await raw(answerWith(OK));
    const pool = poolFor(up.port, { keepAliveTimeout: 100 });
    let disconnects = 0;
    pool.on('disconnect', () => disconnects++);
    await send(pool);
    await eventually(() => up.closedByPeer === 1, 5_000, 'the idle connection to close');
    expect(disconnects).toBe(1);
    expect(pool.size).toBe(0);
  });

  it('notices a server closing a kept-alive connection and connects again', async () => {
    const up = await raw((socket) => {
      socket.write(OK);
      setTimeout(() => socket.end(), 10);
    });
    const pool = poolFor(up.port);
    await send(pool);
    await eventually(() => pool.size === 0, 5_000, 'the pool to drop the closed connection');
    expect((await send(pool)).body.toString()).toBe('ok');
    expect(up.connections).toBe(2);
  });

  it('a connection whose FIN has reached this host is not used for the next request (a POST): it goes on a new connection', async () => {
    // The upstream runs in another process, so that its FIN can arrive while this process is
    // busy: it answers each request, then closes 20 ms later, and counts requests per connection.
    const child = spawn(
      process.execPath,
      [
        '-e',
        `let n = 0; require('net').createServer((s) => { const id = ++n; s.on('data', (d) => { process.stdout.write(id + ':' + String(d).split(' ')[0] + '\\n'); s.write(${JSON.stringify(OK)}); setTimeout(() => s.end(), 20); }); }).listen(0, '127.0.0.1', function () { process.stdout.write('port ' + this.address().port + '\\n'); });`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    let log = '';
    child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
    closers.push(async () => {
      child.kill('SIGKILL');
      await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r)));
    });
    await eventually(() => log.includes('port '), 5_000, 'the upstream process to listen');
    const port = Number(/port (\d+)/.exec(log)![1]);
    const pool = poolFor(port, { connections: 1 });
    const post = await new Promise<Promise<DispatchOutcome>>((resolve, reject) => {
      pool.dispatch(get('/first'), {
        onConnect: () => undefined,
        onHeaders: () => true,
        onData: () => true,
        onComplete: () => {
          // Block this process past the upstream's FIN, then dispatch on the connection that
          // looks idle: the pool's one-turn check reads the FIN before writing anything.
          Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 150);
          resolve(send(pool, { method: 'POST', path: '/second', headers: ['host', 'h'], body: Buffer.from('not retry-safe') }));
        },
        onError: reject,
      });
    });
    const r = await post;
    expect(r.error).toBeNull();
    expect(r.body.toString()).toBe('ok');
    // One request on each connection: the POST never reached the closed one. (The upstream's
    // log comes through a pipe and may trail its answer.)
    await eventually(() => log.includes(':POST'), 5_000, 'the upstream to log the POST');
    expect(log.split('\n').filter((l) => /^\d+:/.test(l))).toEqual(['1:GET', '2:POST']);
  });

  it('no pipelining: a second request on a one-connection pool is written only after the first response ends', async () => {
    const up = await recording();
    const held: (() => void)[] = [];
    up.behaviour = (conn) => held.push(() => write(conn, '200', OK));
    const pool = poolFor(up.port, { connections: 1 });
    const a = send(pool, get('/a'));
    const b = send(pool, get('/b'));
    await eventually(() => held.length === 1, 5_000, 'the first request upstream');
    // Give a pipelining client every chance to write the second request.
    await new Promise((r) => setTimeout(r, 100));
    expect(up.connections.length).toBe(1);
    expect(up.connections[0]!.heads.map((h) => h.split('\r\n')[0])).toEqual(['GET /a HTTP/1.1']);
    expect(pool.queued).toBe(1);
    held.shift()!();
    await eventually(() => held.length === 1, 5_000, 'the second request upstream');
    held.shift()!();
    expect((await a).body.toString()).toBe('ok');
    expect((await b).body.toString()).toBe('ok');
    expect(up.connections[0]!.heads.map((h) => h.split('\r\n')[0])).toEqual(['GET /a HTTP/1.1', 'GET /b HTTP/1.1']);
  });

  it('a kept-alive connection closed by the server as the request arrives: a reset the exchange may retry (not retried by the pool)', async () => {
    let requests = 0;
    const up = await raw((socket) => {
      requests++;
      if (requests === 2) socket.destroy();
      else socket.write(OK);
    });
    const pool = poolFor(up.port);
    await send(pool);
    const r = await send(pool);
    expect(r.events).toEqual(['connect', 'error']);
    expect(['UND_ERR_SOCKET', 'ECONNRESET', 'EPIPE']).toContain(r.error?.code);
    expect(classifyUpstreamError(r.error!)).toBe('upstream_reset');
    expect(requests).toBe(2);
    expect((await send(pool)).body.toString()).toBe('ok');
  });

  it('connect refused: ECONNREFUSED (upstream_connect_failed), onConnect never called', async () => {
    const up = await raw(answerWith(OK));
    const port = up.port;
    await up.close();
    closers.length = 0;
    const r = await send(poolFor(port));
    expect(r.error?.code).toBe('ECONNREFUSED');
    expect(r.events).toEqual(['error']);
    expect(classifyUpstreamError(r.error!)).toBe('upstream_connect_failed');
  });

  it('connect timeout to a listener that never completes the handshake: UND_ERR_CONNECT_TIMEOUT', async () => {
    const blackhole = await startBlackholeListener();
    closers.push(() => blackhole.close());
    const pool = poolFor(blackhole.port, { connectTimeout: 150 });
    const r = await send(pool);
    expect(r.error?.code).toBe('UND_ERR_CONNECT_TIMEOUT');
    expect(r.events).toEqual(['error']);
    expect(classifyUpstreamError(r.error!)).toBe('upstream_timeout');
    expect(pool.size).toBe(0);
  });

  it('headers timeout: UND_ERR_HEADERS_TIMEOUT (upstream_timeout)', async () => {
    const up = await raw(() => undefined);
    const r = await send(poolFor(up.port), get('/', { headersTimeout: 100 }));
    expect(r.error?.code).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect(classifyUpstreamError(r.error!)).toBe('upstream_timeout');
    await eventually(() => up.closedByPeer === 1, 5_000, 'the connection to close');
  });

  it('body timeout: UND_ERR_BODY_TIMEOUT after the head and part of the body', async () => {
    const up = await raw((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\npart'));
    const r = await send(poolFor(up.port), get('/', { bodyTimeout: 100 }));
    expect(r.status).toBe(200);
    expect(r.body.toString()).toBe('part');
    expect(r.error?.code).toBe('UND_ERR_BODY_TIMEOUT');
  });

  it('a body timeout longer than the headers timeout before it: body data after the headers timeout has passed is still in time', async () => {
    // The connection keeps one Timeout across phases: set for the 80 ms headers deadline, it
    // fires during the body phase, finds the 400 ms deadline not reached and waits for the rest.
    const up = await raw((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab');
      setTimeout(() => socket.write('cd'), 200);
    });
    const r = await send(poolFor(up.port), get('/', { headersTimeout: 80, bodyTimeout: 400 }));
    expect(r.error).toBeNull();
    expect(r.body.toString()).toBe('abcd');
  });

  it('a body timeout shorter than the headers timeout before it fires at its own deadline', async () => {
    const up = await raw((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\npart'));
    const started = performance.now();
    // The connect timeout (10 s) and the headers timeout (20 s) set Timeouts that fire later.
    const r = await send(poolFor(up.port, { connectTimeout: 10_000 }), get('/', { headersTimeout: 20_000, bodyTimeout: 100 }));
    expect(r.error?.code).toBe('UND_ERR_BODY_TIMEOUT');
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('a headers timeout shorter than the idle timeout of the reused connection fires at its own deadline', async () => {
    let answered = 0;
    const up = await raw((socket) => {
      if (answered++ === 0) socket.write(OK);
    });
    const pool = poolFor(up.port, { keepAliveTimeout: 20_000, connectTimeout: 10_000 });
    expect((await send(pool)).status).toBe(200);
    const started = performance.now();
    const r = await send(pool, get('/', { headersTimeout: 100 }));
    expect(r.error?.code).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect(performance.now() - started).toBeLessThan(2_000);
  });

  it('a paused consumer does not trip the body timeout', async () => {
    const up = await raw((socket) => {
      socket.write('HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab');
      setTimeout(() => socket.write('cd'), 10);
    });
    let resumeLater: (() => void) | null = null;
    const r = await send(poolFor(up.port), get('/', { bodyTimeout: 100 }), {
      onData: (_chunk, resume) => {
        if (resumeLater !== null) return true;
        resumeLater = resume;
        setTimeout(resume, 300);
        return false;
      },
    });
    expect(r.error).toBeNull();
    expect(r.body.toString()).toBe('abcd');
  });

  it('abort mid-body: onError with the reason, the connection dropped', async () => {
    const up = await raw((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst'));
    const pool = poolFor(up.port);
    const reason = new Error('client went away');
    const r = await send(pool, get(), { onData: (_c, _r, abort) => (abort(reason), false) });
    expect(r.error).toBe(reason);
    expect(r.events).toEqual(['connect', 'headers 200', 'data', 'error']);
    await eventually(() => up.closedByPeer === 1, 5_000, 'the connection to close');
    expect(pool.size).toBe(0);
  });

  it('abort in onConnect: nothing is sent and the connection stays usable', async () => {
    const up = await recording();
    up.behaviour = (conn) => write(conn, '200', OK);
    const pool = poolFor(up.port);
    await send(pool);
    const aborted = await new Promise<Error>((resolve) =>
      pool.dispatch(get('/never'), {
        onConnect: (abort) => abort(new Error('not now')),
        onHeaders: () => true,
        onData: () => true,
        onComplete: () => undefined,
        onError: resolve,
      }),
    );
    expect(aborted.message).toBe('not now');
    await send(pool);
    expect(up.connections.length).toBe(1);
    expect(up.connections[0]!.heads.map((h) => h.split('\r\n')[0])).toEqual(['GET /x HTTP/1.1', 'GET /x HTTP/1.1']);
  });

  it('abort without a reason: UND_ERR_ABORTED', async () => {
    const up = await raw((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nfirst'));
    const r = await send(poolFor(up.port), get(), { onData: (_c, _r, abort) => (abort(), false) });
    expect(r.error?.code).toBe('UND_ERR_ABORTED');
  });

  it('close() lets queued and running requests finish, then closes every connection', async () => {
    const held: (() => void)[] = [];
    const up = await raw((socket) => held.push(() => socket.write(OK)));
    const pool = poolFor(up.port, { connections: 1 });
    const a = send(pool, get('/a'));
    const b = send(pool, get('/b'));
    await eventually(() => held.length === 1, 5_000, 'the first request upstream');
    let closed = false;
    const closing = pool.close().then(() => (closed = true));
    expect((await send(pool)).error?.code).toBe('UND_ERR_CLOSED');
    held.shift()!();
    await eventually(() => held.length === 1, 5_000, 'the queued request upstream');
    expect(closed).toBe(false);
    held.shift()!();
    expect((await a).body.toString()).toBe('ok');
    expect((await b).body.toString()).toBe('ok');
    await closing;
    expect(pool.size).toBe(0);
    await eventually(() => up.closedByPeer === 1, 5_000, 'the connection to close');
  });

  it('counts connect and disconnect events once per connection', async () => {
    const up = await raw(answerWith('HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok'));
    const pool = poolFor(up.port);
    let open = 0;
    pool.on('connect', () => open++);
    pool.on('disconnect', () => open--);
    for (let i = 0; i < 5; i++) await send(pool);
    await eventually(() => pool.size === 0, 5_000, 'connections to close');
    expect(open).toBe(0);
    expect(up.connections).toBe(5);
  });
});

describe('Http1Pool: backpressure', () => {
  it('a paused consumer stops the socket: memory stays bounded while the upstream has 32 MiB to send', async () => {
    const total = 32 * 1024 * 1024;
    let serverSocketFull = false;
    const up = await raw((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${total}\r\n\r\n`);
      const block = Buffer.alloc(64 * 1024, 97);
      let sent = 0;
      const pump = (): void => {
        while (sent < total) {
          sent += block.length;
          if (!socket.write(block)) {
            serverSocketFull = true;
            socket.once('drain', pump);
            return;
          }
        }
      };
      pump();
    });
    let received = 0;
    let resume: (() => void) | null = null;
    const outcome = dispatchAndRecord(poolFor(up.port), get('/big'), {
      onData: (chunk, r) => {
        received += chunk.length;
        if (resume === null && received > 1024 * 1024) {
          resume = r;
          return false;
        }
        return true;
      },
    });
    await eventually(() => resume !== null && serverSocketFull, 10_000, 'the consumer to pause and the upstream socket to fill');
    const atPause = received;
    await new Promise((r) => setTimeout(r, 200));
    // Nothing more was handed over, and what the proxy holds is bounded by socket buffers.
    expect(received).toBe(atPause);
    expect(received).toBeLessThan(8 * 1024 * 1024);
    resume!();
    const r = await outcome;
    expect(r.error).toBeNull();
    expect(received).toBe(total);
  });

  it('a pause on the last bytes of a body: the response completes on resume, with no more bytes from the upstream', async () => {
    // The whole response in one write, and the connection kept open: nothing else arrives.
    const up = await raw((socket) => socket.write('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'));
    let resume: (() => void) | null = null;
    let body = '';
    const outcome = dispatchAndRecord(poolFor(up.port), get('/last'), {
      onData: (chunk, r) => {
        body += chunk.toString('latin1');
        resume = r;
        return false;
      },
    });
    await eventually(() => resume !== null, 5_000, 'the body and the pause');
    resume!();
    const r = await outcome;
    expect(r.error).toBeNull();
    expect(body).toBe('hello');
  });

  it('a full upstream socket pauses the request body stream', async () => {
    const total = 32 * 1024 * 1024;
    // A plain TCP server that reads nothing until told to: every byte it gets is counted.
    let serverSocket: Socket | null = null;
    let receivedBytes = 0;
    const server = createNetServer((socket) => {
      serverSocket = socket;
      socket.pause();
      socket.on('data', (d: Buffer) => {
        receivedBytes += d.length;
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(
      () =>
        new Promise<void>((r) => {
          serverSocket?.destroy();
          server.close(() => r());
        }),
    );
    const port = (server.address() as AddressInfo).port;
    let produced = 0;
    const body = new Readable({
      read() {
        if (produced >= total) {
          this.push(null);
          return;
        }
        produced += 64 * 1024;
        this.push(Buffer.alloc(64 * 1024, 98));
      },
    });
    const pool = poolFor(port);
    const head = `POST /up HTTP/1.1\r\nhost: h\r\nconnection: keep-alive\r\ncontent-length: ${total}\r\n\r\n`;
    const outcome = send(pool, { method: 'POST', path: '/up', headers: ['host', 'h', 'content-length', String(total)], body });
    await eventually(() => serverSocket !== null, 5_000, 'the connection upstream');
    await new Promise((r) => setTimeout(r, 300));
    // The upstream reads nothing: the body stream was paused, not read to the end into memory.
    expect(receivedBytes).toBe(0);
    expect(produced).toBeLessThan(8 * 1024 * 1024);
    const s = serverSocket!;
    s.resume();
    await eventually(() => receivedBytes >= head.length + total, 20_000, 'the whole body upstream');
    expect(receivedBytes).toBe(head.length + total);
    s.write(OK);
    const r = await outcome;
    expect(r.status).toBe(200);
    expect(produced).toBe(total);
  });
});

describe('Http1Pool: TLS', () => {
  let dir: string;
  let server: HttpServer;
  let port: number;
  let ca: Buffer;
  const seen: { servername: string | false | null }[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-h1tls-'));
    const testCa = await createTestCa(dir);
    const leaf = await readPair(await testCa.issue('upstream', 'upstream.test', ['DNS:upstream.test']));
    ca = (await readPair(testCa)).cert;
    server = createHttpsServer({ ...leaf }, (req, res) => {
      seen.push({ servername: (req.socket as import('node:tls').TLSSocket).servername });
      res.end(`tls:${req.headers.host}`);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    await new Promise<void>((r) => server.close(() => r()));
    await rm(dir, { recursive: true, force: true });
  });

  function tlsPool(tls: import('node:tls').ConnectionOptions): Http1Pool {
    const pool = new Http1Pool(`https://127.0.0.1:${port}`, '127.0.0.1', port, { connections: 2, connectTimeout: 2_000, keepAliveTimeout: 30_000, tls });
    pools.push(pool);
    return pool;
  }

  it('sends the configured server name (SNI), never the request\'s Host, and verifies the certificate', async () => {
    seen.length = 0;
    const pool = tlsPool({ rejectUnauthorized: true, ca, servername: 'upstream.test' });
    const a = await send(pool, get('/', { headers: ['host', 'client-chose-this.example'] }));
    const b = await send(pool, get('/', { headers: ['host', 'another.example'] }));
    expect(a.body.toString()).toBe('tls:client-chose-this.example');
    expect(b.body.toString()).toBe('tls:another.example');
    expect(seen.map((s) => s.servername)).toEqual(['upstream.test', 'upstream.test']);
  });

  it('a certificate for another name: ERR_TLS_CERT_ALTNAME_INVALID (upstream_tls_failed)', async () => {
    const r = await send(tlsPool({ rejectUnauthorized: true, ca, servername: 'other.test' }));
    expect(r.error?.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    expect(classifyUpstreamError(r.error!)).toBe('upstream_tls_failed');
  });

  it('a certificate from an authority not trusted: refused unless verification is off', async () => {
    const r = await send(tlsPool({ rejectUnauthorized: true, servername: 'upstream.test' }));
    expect(r.error?.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    expect(classifyUpstreamError(r.error!)).toBe('upstream_tls_failed');
    const off = await send(tlsPool({ rejectUnauthorized: false, servername: 'upstream.test' }));
    expect(off.status).toBe(200);
  });

  it('a TLS handshake that never completes: UND_ERR_CONNECT_TIMEOUT', async () => {
    const up = await raw(() => undefined);
    const pool = new Http1Pool(`https://127.0.0.1:${up.port}`, '127.0.0.1', up.port, { connections: 1, connectTimeout: 150, keepAliveTimeout: 30_000, tls: { rejectUnauthorized: true, ca, servername: 'upstream.test' } });
    pools.push(pool);
    const r = await send(pool);
    expect(r.error?.code).toBe('UND_ERR_CONNECT_TIMEOUT');
  });
});

describe('Http1Pool: a real node:http upstream', () => {
  let server: HttpServer;
  let port: number;
  beforeAll(async () => {
    server = createHttpServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => res.end(JSON.stringify({ method: req.method, url: req.url, body: Buffer.concat(chunks).toString(), te: req.headers['transfer-encoding'] ?? null })));
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('many requests over few connections, bodies both ways', async () => {
    const pool = poolFor(port, { connections: 3 });
    let connects = 0;
    pool.on('connect', () => connects++);
    const results = await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        send(pool, i % 3 === 0 ? get(`/g${i}`) : { method: 'POST', path: `/p${i}`, headers: ['host', 'h'], body: i % 3 === 1 ? Buffer.from(`b${i}`) : Readable.from([Buffer.from(`s${i}`)]) }),
      ),
    );
    results.forEach((r, i) => {
      const reply = JSON.parse(r.body.toString()) as { method: string; url: string; body: string; te: string | null };
      expect(reply.url).toBe(i % 3 === 0 ? `/g${i}` : `/p${i}`);
      expect(reply.body).toBe(i % 3 === 0 ? '' : i % 3 === 1 ? `b${i}` : `s${i}`);
      expect(reply.te).toBe(i % 3 === 2 ? 'chunked' : null);
    });
    expect(connects).toBeLessThanOrEqual(3);
  });
});

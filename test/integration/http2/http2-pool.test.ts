import { createServer, createSecureServer, constants, type Http2Server, type ServerHttp2Stream, type IncomingHttpHeaders } from 'node:http2';
import type { AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import type { Dispatcher } from 'undici';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Http2Pool, type Http2PoolOptions } from '../../../src/upstream/http2-pool.js';
import { Http2CodecPool } from '../../../src/upstream/http2-codec-pool.js';

/** Both HTTP/2 clients keep one contract: every test runs against each. */
type AnyHttp2Pool = Http2Pool | Http2CodecPool;
const ENGINES = [
  { engine: 'node:http2 (Http2Pool)', Pool: Http2Pool },
  { engine: 'Switchyard codec (Http2CodecPool)', Pool: Http2CodecPool },
] as const;
let PoolClass: (typeof ENGINES)[number]['Pool'] = Http2Pool;
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestCa, readPair } from '../../support/certificates.js';
import { eventually } from '../../support/proxy-harness.js';

interface Outcome {
  status: number;
  headers: Record<string, string>;
  body: string;
  trailers: Record<string, string> | null;
  error: (Error & { code?: string }) | null;
}

/** Dispatches through `pool` with an undici-style handler, as the proxy's exchanges do. */
function send(pool: AnyHttp2Pool, options: Partial<Dispatcher.DispatchOptions> = {}): Promise<Outcome> {
  return new Promise((resolve) => {
    const out: Outcome = { status: 0, headers: {}, body: '', trailers: null, error: null };
    pool.dispatch(
      { method: 'GET', path: '/', headers: ['host', 'upstream.test'], ...options } as Dispatcher.DispatchOptions,
      {
        onConnect() {},
        onHeaders(status: number, raw: Buffer[]) {
          if (status < 200) return true;
          out.status = status;
          for (let i = 0; i < raw.length; i += 2) out.headers[raw[i]!.toString()] = raw[i + 1]!.toString();
          return true;
        },
        onData(chunk: Buffer) {
          out.body += chunk.toString();
          return true;
        },
        onComplete(trailers: unknown) {
          out.trailers = trailers as Record<string, string> | null;
          resolve(out);
        },
        onError(err: Error) {
          out.error = err;
          resolve(out);
        },
      },
    );
  });
}

const servers: Http2Server[] = [];
const pools: AnyHttp2Pool[] = [];

async function h2cServer(onStream: (stream: ServerHttp2Stream, headers: IncomingHttpHeaders) => void, settings: { maxConcurrentStreams?: number } = {}): Promise<{ server: Http2Server; port: number; sessions: () => number }> {
  const server = createServer({ settings });
  let sessions = 0;
  server.on('session', () => sessions++);
  server.on('stream', onStream);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push(server);
  return { server, port: (server.address() as AddressInfo).port, sessions: () => sessions };
}

function pool(port: number, options: Partial<Http2PoolOptions> = {}, scheme = 'http'): AnyHttp2Pool {
  const p = new PoolClass(`${scheme}://127.0.0.1:${port}`, { connections: 4, connectTimeout: 2_000, keepAliveTimeout: 5_000, maxConcurrentStreams: 100, tls: null, ...options });
  pools.push(p);
  return p;
}

afterEach(async () => {
  await Promise.all(pools.splice(0).map((p) => p.close()));
  for (const s of servers.splice(0)) s.close();
});

describe.each(ENGINES)('$engine (upstream HTTP/2 connections)', ({ Pool }) => {
  beforeEach(() => {
    PoolClass = Pool;
  });

  it('carries many requests at once on one connection (multiplexing), with pseudo-headers from the request', async () => {
    const held: ServerHttp2Stream[] = [];
    const seen: IncomingHttpHeaders[] = [];
    const { port, sessions } = await h2cServer((stream, headers) => {
      seen.push(headers);
      held.push(stream);
      if (held.length === 20) {
        for (const s of held) {
          s.respond({ ':status': 200 });
          s.end('ok');
        }
      }
    });
    const p = pool(port);
    const outcomes = await Promise.all(Array.from({ length: 20 }, (_, i) => send(p, { path: `/r${i}`, headers: ['host', 'svc.test', 'x-n', String(i), 'connection', 'keep-alive', 'te', 'trailers'] })));
    expect(outcomes.every((o) => o.status === 200 && o.body === 'ok')).toBe(true);
    expect(sessions()).toBe(1);
    expect(seen[0]![':authority']).toBe('svc.test');
    expect(seen[0]![':method']).toBe('GET');
    expect(seen.map((h) => h[':path']).sort()).toContain('/r7');
    expect(seen[0]!.connection).toBeUndefined();
    expect(seen[0]!.te).toBe('trailers');
  });

  it('a long stream does not hold up other requests on the same connection', async () => {
    let longStream: ServerHttp2Stream | null = null;
    const { port, sessions } = await h2cServer((stream, headers) => {
      if (headers[':path'] === '/long') {
        longStream = stream;
        stream.respond({ ':status': 200 });
        stream.write('start');
        return;
      }
      stream.respond({ ':status': 200 });
      stream.end('quick');
    });
    const p = pool(port);
    const long = send(p, { path: '/long', method: 'POST', body: new Readable({ read() {} }) });
    const quick = await send(p, { method: 'POST', path: '/quick', body: Readable.from([Buffer.from('b')]) });
    expect(quick.body).toBe('quick');
    expect(sessions()).toBe(1);
    longStream!.end('-end');
    expect((await long).body).toBe('start-end');
  });

  it('honours the instance\'s SETTINGS_MAX_CONCURRENT_STREAMS: more streams open another connection', async () => {
    const held: ServerHttp2Stream[] = [];
    const { port, sessions } = await h2cServer(
      (stream, headers) => {
        if (headers[':path'] === '/warm') {
          stream.respond({ ':status': 204 }, { endStream: true });
          return;
        }
        held.push(stream);
        if (held.length === 6) for (const s of held) s.respond({ ':status': 204 }, { endStream: true });
      },
      { maxConcurrentStreams: 2 },
    );
    const p = pool(port);
    // The first connection's SETTINGS arrive before these streams are opened.
    await send(p, { path: '/warm' });
    const outcomes = await Promise.all(Array.from({ length: 6 }, () => send(p)));
    expect(outcomes.map((o) => o.status)).toEqual([204, 204, 204, 204, 204, 204]);
    expect(sessions()).toBeGreaterThanOrEqual(3);
  }, 20_000);

  it('queues requests beyond connections × streams and runs them as slots free up', async () => {
    const { port, sessions } = await h2cServer(
      (stream) => {
        setTimeout(() => stream.respond({ ':status': 200 }, { endStream: true }), 20);
      },
      { maxConcurrentStreams: 1 },
    );
    const p = pool(port, { connections: 1 });
    await send(p);
    const outcomes = await Promise.all(Array.from({ length: 5 }, () => send(p)));
    expect(outcomes.map((o) => o.status)).toEqual([200, 200, 200, 200, 200]);
    expect(sessions()).toBe(1);
  });

  it('carries a 4 MiB response over many flow-control windows to a handler that pauses and resumes, and a 4 MiB upload', async () => {
    const big = Buffer.alloc(4 << 20, 'z');
    const { port } = await h2cServer((stream, headers) => {
      let uploaded = 0;
      stream.on('data', (c: Buffer) => (uploaded += c.length));
      stream.on('end', () => {
        stream.respond({ ':status': 200 });
        stream.end(headers[':path'] === '/upload' ? String(uploaded) : big);
      });
    });
    const p = pool(port);
    const received = await new Promise<{ bytes: number; pauses: number }>((resolve, reject) => {
      let bytes = 0;
      let pauses = 0;
      let resume: () => void = () => undefined;
      p.dispatch({ method: 'GET', path: '/big', headers: ['host', 'upstream.test'] } as Dispatcher.DispatchOptions, {
        onConnect() {},
        onHeaders(_status: number, _raw: Buffer[], r: () => void) {
          resume = r;
          return true;
        },
        onData(chunk: Buffer) {
          bytes += chunk.length;
          // Every ~256 KiB the handler stops taking data for a moment, as a slow client does.
          if (Math.floor(bytes / 262_144) > pauses) {
            pauses++;
            setTimeout(() => resume(), 5);
            return false;
          }
          return true;
        },
        onComplete() {
          resolve({ bytes, pauses });
        },
        onError: reject,
      });
    });
    expect(received.bytes).toBe(big.length);
    expect(received.pauses).toBeGreaterThan(10);
    const upload = await send(p, { method: 'POST', path: '/upload', body: Readable.from([big.subarray(0, 1 << 21), big.subarray(1 << 21)]) });
    expect(upload.body).toBe(String(big.length));
  });

  it('passes response trailers as an object and request bodies (streamed and buffered) whole', async () => {
    const { port } = await h2cServer((stream) => {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'x-bytes': String(Buffer.concat(chunks).length) }));
        stream.end(Buffer.concat(chunks));
      });
    });
    const p = pool(port);
    const big = Buffer.alloc(3 * 1024 * 1024, 'x');
    const streamed = await send(p, { method: 'POST', body: Readable.from([big.subarray(0, 1_000_000), big.subarray(1_000_000)]) });
    expect(streamed.body.length).toBe(big.length);
    expect(streamed.trailers).toMatchObject({ 'grpc-status': '0', 'x-bytes': String(big.length) });
    const buffered = await send(p, { method: 'POST', body: Buffer.from('hello') });
    expect(buffered.body).toBe('hello');
  });

  it('reports a refused connection as ECONNREFUSED (retried elsewhere by the proxy)', async () => {
    const { server, port } = await h2cServer(() => undefined);
    await new Promise<void>((r) => server.close(() => r()));
    const outcome = await send(pool(port));
    expect(outcome.error?.code).toBe('ECONNREFUSED');
  });

  it('reports a stream reset by the instance, a missing response, and timeouts with undici\'s codes', async () => {
    const { port } = await h2cServer((stream, headers) => {
      const path = headers[':path'];
      // Closing a stream with an error code also raises it on this (server) side.
      stream.on('error', () => undefined);
      if (path === '/reset') stream.close(constants.NGHTTP2_INTERNAL_ERROR);
      else if (path === '/refused') stream.close(constants.NGHTTP2_REFUSED_STREAM);
      else if (path === '/slow-body') {
        stream.respond({ ':status': 200 });
        stream.write('a');
      }
      // '/silent': never answers
    });
    const p = pool(port);
    expect((await send(p, { path: '/reset' })).error?.code).toBe('ECONNRESET');
    expect((await send(p, { path: '/refused' })).error?.message).toContain('REFUSED_STREAM');
    expect((await send(p, { path: '/silent', headersTimeout: 200 })).error?.code).toBe('UND_ERR_HEADERS_TIMEOUT');
    expect((await send(p, { path: '/slow-body', bodyTimeout: 200 })).error?.code).toBe('UND_ERR_BODY_TIMEOUT');
  });

  it('after GOAWAY, new requests go to a new connection while the old one finishes its streams', async () => {
    let first: ServerHttp2Stream | null = null;
    const { server, port, sessions } = await h2cServer((stream) => {
      if (first === null) {
        first = stream;
        return;
      }
      stream.respond({ ':status': 200 }, { endStream: true });
    });
    const p = pool(port);
    const pending = send(p);
    await new Promise((r) => setTimeout(r, 100));
    // The server says goodbye to its only session; the open stream must still complete.
    void server;
    first!.session!.goaway(constants.NGHTTP2_NO_ERROR, first!.id);
    // Once the client has read the GOAWAY, the pool opens a new connection for new streams.
    await new Promise((r) => setTimeout(r, 100));
    const next = await send(p);
    expect(next.status).toBe(200);
    expect(sessions()).toBe(2);
    first!.respond({ ':status': 200 }, { endStream: true });
    expect((await pending).status).toBe(200);
  });

  it('closes a connection idle for keepAliveTimeout, also after a stream outlived that time', async () => {
    let closed = 0;
    const { server, port } = await h2cServer((stream, headers) => {
      stream.respond({ ':status': 200 });
      if (headers[':path'] === '/long') setTimeout(() => stream.end('late'), 600);
      else stream.end('now');
    });
    server.on('session', (session) => session.once('close', () => closed++));
    const p = pool(port, { keepAliveTimeout: 200 });
    expect((await send(p)).body).toBe('now');
    await eventually(() => closed === 1, 5_000, 'idle connection closed');
    // The idle timer fires while /long is open (the connection stays), then again once it ended.
    expect((await send(p, { path: '/long' })).body).toBe('late');
    await eventually(() => closed === 2, 5_000, 'connection closed after the long stream');
  });

  it('speaks h2 over TLS with the given CA and server name', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-h2pool-'));
    const ca = await createTestCa(dir);
    const leaf = await readPair(await ca.issue('upstream', 'upstream.test', ['DNS:upstream.test']));
    const caCert = await readFile(ca.cert);
    const server = createSecureServer({ key: leaf.key, cert: leaf.cert });
    server.on('stream', (stream) => {
      stream.respond({ ':status': 200 });
      stream.end(stream.session?.alpnProtocol ?? '');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server as unknown as Http2Server);
    const port = (server.address() as AddressInfo).port;
    const ok = await send(pool(port, { tls: { ca: caCert, rejectUnauthorized: true }, servername: 'upstream.test' }, 'https'));
    expect(ok.status).toBe(200);
    expect(ok.body).toBe('h2');
    const untrusted = await send(pool(port, { tls: { rejectUnauthorized: true }, servername: 'upstream.test' }, 'https'));
    expect(untrusted.error?.code).toBe('UNABLE_TO_VERIFY_LEAF_SIGNATURE');
    const wrongName = await send(pool(port, { tls: { ca: caCert, rejectUnauthorized: true }, servername: 'other.test' }, 'https'));
    expect(wrongName.error?.code).toBe('ERR_TLS_CERT_ALTNAME_INVALID');
    await rm(dir, { recursive: true, force: true });
  });

  it('an instance registered by host name gets that name as SNI (and its certificate checked against it); an IP address sends none', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-h2sni-'));
    const ca = await createTestCa(dir);
    const leaf = await readPair(await ca.issue('upstream', 'localhost', ['DNS:localhost', 'IP:127.0.0.1']));
    const caCert = await readFile(ca.cert);
    const server = createSecureServer({ key: leaf.key, cert: leaf.cert });
    const seen: (string | false | null | undefined)[] = [];
    server.on('stream', (stream) => {
      seen.push((stream.session?.socket as import('node:tls').TLSSocket | undefined)?.servername);
      stream.respond({ ':status': 200 });
      stream.end('ok');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    servers.push(server as unknown as Http2Server);
    const port = (server.address() as AddressInfo).port;
    const byName = new PoolClass(`https://localhost:${port}`, { connections: 1, connectTimeout: 2_000, keepAliveTimeout: 5_000, maxConcurrentStreams: 100, tls: { ca: caCert, rejectUnauthorized: true } });
    pools.push(byName);
    const named = await send(byName);
    expect(named.error).toBeNull();
    expect(named.status).toBe(200);
    const byAddress = await send(pool(port, { tls: { ca: caCert, rejectUnauthorized: true } }, 'https'));
    expect(byAddress.status).toBe(200);
    const configured = await send(pool(port, { tls: { ca: caCert, rejectUnauthorized: true }, servername: 'localhost' }, 'https'));
    expect(configured.status).toBe(200);
    expect(seen).toEqual(['localhost', false, 'localhost']);
    await rm(dir, { recursive: true, force: true });
  });
});

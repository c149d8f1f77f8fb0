import type { ServerResponse } from 'node:http';
import { constants, type ClientHttp2Session } from 'node:http2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeHttp2, http2Request, openHttp2 } from '../../support/http2-client.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { RawConnection } from '../../support/raw-http-client.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';

/** Sends the head and `first` of a body, then nothing more: what comes back. */
function stalledUpload(session: ClientHttp2Session, path: string, headers: Record<string, string> = {}): Promise<{ status: number; error: string | undefined; rstCode: number }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({ ':method': 'POST', ':path': path, ':authority': 'svc.test', ...headers });
    let status = 0;
    let error: string | undefined;
    stream.on('response', (h) => {
      status = Number(h[':status']);
      error = h['x-switchyard-error'] as string | undefined;
    });
    stream.resume();
    stream.on('error', () => undefined);
    stream.on('close', () => (status === 0 ? reject(new Error(`no response (RST_STREAM ${stream.rstCode})`)) : resolve({ status, error, rstCode: stream.rstCode ?? 0 })));
    stream.write('ab');
  });
}

/** limits.requestTimeout applies to HTTP/2 requests as to HTTP/1.1 ones. */
describe('limits.requestTimeout on HTTP/2 streams', () => {
  let up: TestUpstream;
  let proxy: ProxyHarness;
  let session: ClientHttp2Session;
  const aborted: string[] = [];
  const completed: string[] = [];

  beforeAll(async () => {
    up = await startUpstream('u', (req, res: ServerResponse) => {
      let bytes = 0;
      req.on('data', (c: Buffer) => (bytes += c.length));
      res.once('close', () => {
        if (!res.writableEnded) aborted.push(req.url!);
      });
      req.on('end', () => {
        completed.push(req.url!);
        // /slow answers after the limit has passed: only the request's arrival is bounded.
        setTimeout(() => res.end(JSON.stringify({ url: req.url, bytes })), req.url === '/slow' ? 1_800 : 0);
      });
    });
    proxy = await startProxy({
      services: { u: [{ port: up.port }] },
      config: {
        listeners: [{ name: 'mixed', address: '127.0.0.1', port: 0, protocols: ['http1', 'h2c'] }],
        limits: { requestTimeout: '1s', headersTimeout: '1s' },
        routes: [{ name: 'u', match: { path: '/' }, service: 'u' }],
      },
    });
    session = await openHttp2(`http://127.0.0.1:${proxy.port}`);
  });
  afterAll(async () => {
    await closeHttp2(session);
    await proxy?.close();
    await up?.close();
  });

  it('a body that stops arriving → 408 request_timeout, the stream reset, the upstream request aborted; the connection serves on', async () => {
    const r = await stalledUpload(session, '/stalled');
    expect(r).toEqual({ status: 408, error: 'request_timeout', rstCode: constants.NGHTTP2_NO_ERROR });
    // Aborted, not ended: the upstream never takes the 2 bytes it got for the whole body.
    await eventually(() => aborted.includes('/stalled'), 5_000, 'the upstream request to be aborted');
    expect(completed).not.toContain('/stalled');
    expect(session.destroyed).toBe(false);
    expect((await http2Request(session, { ':method': 'POST', ':path': '/after', ':authority': 'svc.test' }, 'whole')).status).toBe(200);
  });

  it('the same upload over HTTP/1.1 also gets 408', async () => {
    const conn = await RawConnection.open(proxy.port);
    conn.write('POST /stalled-h1 HTTP/1.1\r\nHost: svc.test\r\nContent-Length: 10\r\n\r\nab');
    await conn.waitForClose();
    expect(conn.text).toMatch(/^HTTP\/1\.1 408 /);
    expect(conn.text).toContain('x-switchyard-error: request_timeout');
  });

  it('does not limit the response: a whole body answered after the limit is served', async () => {
    const r = await http2Request(session, { ':method': 'POST', ':path': '/slow', ':authority': 'svc.test' }, 'abc');
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body.toString())).toEqual({ url: '/slow', bytes: 3 });
  });

  it('leaves gRPC streams alone: a client stream may send for longer than the limit', async () => {
    const r = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const stream = session.request({ ':method': 'POST', ':path': '/grpc', ':authority': 'svc.test', 'content-type': 'application/grpc', te: 'trailers' });
      let status = 0;
      let body = '';
      stream.on('response', (h) => (status = Number(h[':status'])));
      stream.setEncoding('utf8');
      stream.on('data', (c: string) => (body += c));
      stream.on('error', reject);
      stream.on('close', () => resolve({ status, body }));
      stream.write('ab');
      setTimeout(() => stream.end('cd'), 2_200);
    });
    expect(r.status).toBe(200);
    expect(JSON.parse(r.body)).toEqual({ url: '/grpc', bytes: 4 });
  });
});

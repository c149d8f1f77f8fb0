import { connect, createServer as createNetServer, type Server as NetServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchJson } from '../../support/http-client.js';
import { startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';

interface ErrorBody {
  error: string;
  message: string;
  requestId: string;
}

/** A TCP server that accepts and then does what `onSocket` says (reset, hang, garbage). */
async function startRawServer(onSocket: (s: Socket) => void): Promise<{ server: NetServer; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createNetServer((s) => {
    sockets.add(s);
    s.on('error', () => undefined);
    s.once('close', () => sockets.delete(s));
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  return { server, port: (server.address() as AddressInfo).port, sockets };
}

describe('proxy error responses', () => {
  let proxy: ProxyHarness;
  let ok: TestUpstream;
  const raws: { server: NetServer; sockets: Set<Socket> }[] = [];

  beforeAll(async () => {
    ok = await startUpstream('ok');
    const reset = await startRawServer((s) => s.once('data', () => s.resetAndDestroy()));
    const hang = await startRawServer(() => undefined);
    const garbage = await startRawServer((s) => s.once('data', () => s.end('this is not HTTP\r\n\r\n')));
    raws.push(reset, hang, garbage);
    proxy = await startProxy({
      services: {
        ok: [{ port: ok.port }],
        // Port 1 (tcpmux): nothing listens on it here, and unlike a port that was free a moment ago,
        // no test running alongside can take it and answer in its place.
        refused: [{ port: 1 }],
        reset: [{ port: reset.port }],
        hang: [{ port: hang.port }],
        garbage: [{ port: garbage.port }],
        down: [{ port: ok.port, health: 'critical' }],
      },
      config: {
        routes: [
          { name: 'ok', match: { path: '/ok' }, service: 'ok' },
          { name: 'refused', match: { path: '/refused' }, service: 'refused' },
          { name: 'reset', match: { path: '/reset' }, service: 'reset' },
          { name: 'hang', match: { path: '/hang' }, service: 'hang', timeouts: { headers: '300ms' } },
          { name: 'garbage', match: { path: '/garbage' }, service: 'garbage' },
          { name: 'down', match: { path: '/down' }, service: 'down' },
          { name: 'unknown', match: { path: '/unknown-service' }, service: 'not-registered' },
        ],
      },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await ok.close();
    for (const r of raws) {
      for (const s of r.sockets) s.destroy();
      await new Promise<void>((res) => r.server.close(() => res()));
    }
  });

  const get = (path: string, headers: Record<string, string> = {}) => fetchJson<ErrorBody>(`${proxy.url}${path}`, { headers });

  it('answers 404 with a JSON body when no route matches', async () => {
    const r = await get('/nothing-here', { 'x-request-id': 'req-404' });
    expect(r.status).toBe(404);
    expect(r.headers['content-type']).toBe('application/json');
    expect(r.headers['x-switchyard-error']).toBe('no_route');
    expect(r.json).toEqual({ error: 'no_route', message: 'no route matches this request: GET /nothing-here', requestId: 'req-404' });
  });

  it('answers 503 when the route has no healthy instance, or the service is unknown', async () => {
    const down = await get('/down');
    expect(down.status).toBe(503);
    expect(down.json.error).toBe('no_healthy_endpoint');
    expect(down.json.message).toContain('"down"');
    const unknown = await get('/unknown-service');
    expect(unknown.status).toBe(503);
    expect(unknown.json.message).toContain('"not-registered"');
  });

  it('answers 502 when the connection is refused, and logs the cause', async () => {
    const r = await get('/refused', { 'x-request-id': 'req-refused' });
    expect(r.status).toBe(502);
    expect(r.json.error).toBe('upstream_connect_failed');
    expect(r.json.requestId).toBe('req-refused');
    const line = proxy.log.find('upstream request failed').find((l) => l.requestId === 'req-refused');
    expect(line).toMatchObject({ route: 'refused', service: 'refused', errorCode: 'ECONNREFUSED' });
  });

  it('answers 502 when the upstream resets before responding', async () => {
    const r = await get('/reset');
    expect(r.status).toBe(502);
    expect(r.json.error).toBe('upstream_reset');
  });

  it('answers 502 when the upstream sends something that is not HTTP', async () => {
    const r = await get('/garbage');
    expect(r.status).toBe(502);
    expect(r.json.error).toBe('upstream_bad_response');
  });

  it('answers 504 when the upstream does not send headers in time', async () => {
    const r = await get('/hang', { 'x-request-id': 'req-hang' });
    expect(r.status).toBe(504);
    expect(r.json).toMatchObject({ error: 'upstream_timeout', requestId: 'req-hang' });
    expect(proxy.log.find('upstream request failed').some((l) => l.requestId === 'req-hang' && l.errorCode === 'UND_ERR_HEADERS_TIMEOUT')).toBe(true);
  });

  it('keeps serving after every failure', async () => {
    const r = await get('/ok');
    expect(r.status).toBe(200);
  });

  it('answers 400 for a request target that is not a path', async () => {
    const socket = connect(proxy.port, '127.0.0.1');
    socket.write('OPTIONS * HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n');
    const chunks: Buffer[] = [];
    for await (const c of socket) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString();
    expect(text.startsWith('HTTP/1.1 400 ')).toBe(true);
    expect(text).toContain('"error":"bad_request"');
  });
});

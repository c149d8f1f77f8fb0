import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FaultUpstream } from '../../support/fault-upstream.js';
import { freePort } from '../../support/free-port.js';
import { fetchText } from '../../support/http-client.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';

// Both listener engines (node:http and the llhttp codec) describe a request through the same
// record (RecordedExchange, RejectedRequestRecord): the same requests through each must give
// the same access-log lines, but for the fields that differ from one request to the next.

const ENGINES = ['node', 'llhttp'] as const;
type Engine = (typeof ENGINES)[number];
type Line = Record<string, unknown>;

describe('access log on both listener engines', () => {
  let api: TestUpstream;
  let failing: TestUpstream;
  let held: FaultUpstream;
  let cut: FaultUpstream;
  const proxies = new Map<Engine, ProxyHarness>();

  beforeAll(async () => {
    api = await startUpstream('api');
    failing = await startUpstream('failing', (_req, res) => {
      res.writeHead(503, { 'content-length': '4' });
      res.end('down');
    });
    held = await FaultUpstream.start('held');
    held.setMode({ kind: 'hang' });
    cut = await FaultUpstream.start('cut');
    cut.setMode({ kind: 'resetMidBody' });
    const deadPort = await freePort();
    for (const engine of ENGINES) {
      proxies.set(
        engine,
        await startProxy({
          services: { api: [{ port: api.port }], failing: [{ port: failing.port }], dead: [{ port: deadPort }], held: [{ port: held.port }], cut: [{ port: cut.port }] },
          config: {
            proxy: { engine: { listener: engine } },
            routes: [
              { name: 'api', match: { path: '/api' }, service: 'api' },
              { name: 'failing', match: { path: '/failing' }, service: 'failing' },
              { name: 'dead', match: { path: '/dead' }, service: 'dead', retries: { maxRetries: 0 } },
              { name: 'held', match: { path: '/held' }, service: 'held' },
              { name: 'cut', match: { path: '/cut' }, service: 'cut', retries: { maxRetries: 0 } },
            ],
            services: { held: { circuitBreaker: { maxRequests: 1 } } },
          },
        }),
      );
    }
  });
  afterAll(async () => {
    for (const p of proxies.values()) await p.close();
    await api.close();
    await failing.close();
    await held.close();
    await cut.close();
  });

  /** The access line of request `id` on `engine`'s proxy, once it is written. */
  async function accessLine(engine: Engine, id: string): Promise<Line> {
    const log = proxies.get(engine)!.log;
    const find = (): Line | undefined => log.lines.find((l) => l.component === 'access' && l.requestId === id);
    await eventually(() => find() !== undefined, 5_000, `the access line of ${id} (${engine})`);
    return find()!;
  }

  /** The line without what differs between two runs of the same request; checks those fields' types. */
  function comparable(line: Line): Line {
    const { time, requestId, durationMs, upstreamMs, ...rest } = line;
    expect(typeof time).toBe('string');
    expect(typeof requestId).toBe('string');
    expect(durationMs).toBeGreaterThanOrEqual(0);
    if ('upstreamStatus' in rest) expect(upstreamMs).toBeGreaterThanOrEqual(0);
    else expect(upstreamMs).toBeUndefined();
    if (rest.err !== undefined) {
      // What names the error; the rest (stack, the socket's ports) differs from one connection to the next.
      const { type, message, code, stack } = rest.err as Line;
      expect(typeof stack).toBe('string');
      rest.err = { type, message, code };
    }
    return rest;
  }

  /**
   * Runs `send` on each engine with its own request id (of the same length: the echo upstream's
   * body holds it) and expects the same line from both.
   */
  async function sameLine(name: string, send: (url: string, id: string) => Promise<unknown>): Promise<Line> {
    const lines: Line[] = [];
    for (const [n, engine] of ENGINES.entries()) {
      const id = `${name}-engine-${n}`;
      await send(proxies.get(engine)!.url, id);
      lines.push(comparable(await accessLine(engine, id)));
    }
    expect(lines[1]).toEqual(lines[0]);
    return lines[0]!;
  }

  it('writes the same line for a forwarded request, with its body counted', async () => {
    const line = await sameLine('post', async (url, id) => {
      const r = await fetchText(`${url}/api/items?x=1`, { method: 'POST', body: 'hello', headers: { 'x-request-id': id, host: 'svc.test', 'user-agent': 'engines/1.0 "test"' } });
      expect(r.status).toBe(200);
    });
    expect(line).toMatchObject({ level: 'info', msg: 'request', method: 'POST', host: 'svc.test', path: '/api/items?x=1', status: 200, bytesIn: 5, route: 'api', service: 'api', upstream: `127.0.0.1:${api.port}`, upstreamStatus: 200, retries: 0 });
    expect(line).toMatchObject({ clientAddress: '127.0.0.1', userAgent: 'engines/1.0 "test"', protocol: 'HTTP/1.1' });
    expect(line).not.toHaveProperty('tls');
    expect(line.bytesOut).toBeGreaterThan(0);
    expect(line).not.toHaveProperty('error');
  });

  it('writes the same line for an HTTP/1.0 request without a User-Agent', async () => {
    const line = await sameLine('http10', async (url, id) => {
      const socket = connect(Number(new URL(url).port), '127.0.0.1');
      const ended = new Promise<string>((resolve, reject) => {
        let text = '';
        socket.setEncoding('latin1');
        socket.on('data', (chunk: string) => (text += chunk));
        socket.on('end', () => resolve(text));
        socket.on('error', reject);
      });
      socket.write(`GET /api/old HTTP/1.0\r\nhost: svc.test\r\nx-request-id: ${id}\r\n\r\n`);
      expect(await ended).toMatch(/^HTTP\/1\.[01] 200 /);
    });
    expect(line).toMatchObject({ status: 200, route: 'api', clientAddress: '127.0.0.1', protocol: 'HTTP/1.0' });
    expect(line).not.toHaveProperty('userAgent');
  });

  it('writes the same line for an upstream error status', async () => {
    const line = await sameLine('failing', async (url, id) => expect((await fetchText(`${url}/failing`, { headers: { 'x-request-id': id, host: 'svc.test' } })).status).toBe(503));
    expect(line).toMatchObject({ status: 503, bytesOut: 4, upstreamStatus: 503, route: 'failing' });
    expect(line).not.toHaveProperty('error');
  });

  it('writes the same line for a request no route matched (answered by the proxy)', async () => {
    const line = await sameLine('noroute', async (url, id) => expect((await fetchText(`${url}/nowhere`, { headers: { 'x-request-id': id, host: 'svc.test' } })).status).toBe(404));
    expect(line).toMatchObject({ status: 404, route: null, service: null, upstream: null, error: 'no_route', retries: 0, bytesOut: 0, clientAddress: '127.0.0.1', protocol: 'HTTP/1.1' });
    expect(line).not.toHaveProperty('upstreamStatus');
  });

  it('writes the same line for a refused upstream connection, with the upstream error', async () => {
    const line = await sameLine('dead', async (url, id) => expect((await fetchText(`${url}/dead`, { headers: { 'x-request-id': id, host: 'svc.test' } })).status).toBe(502));
    expect(line).toMatchObject({ status: 502, upstreamStatus: 0, error: 'upstream_connect_failed' });
    expect((line.err as Line).code).toBe('ECONNREFUSED');
  });

  it('writes the same line for a response cut by the upstream after its head', async () => {
    const line = await sameLine('cut', async (url, id) => {
      // The client sees a truncated body: the request fails or ends short, whichever the client notices.
      await fetchText(`${url}/cut`, { headers: { 'x-request-id': id, host: 'svc.test' } }).catch((err: unknown) => err);
    });
    expect(line).toMatchObject({ status: 200, upstreamStatus: 200, error: 'upstream_reset' });
    expect(line.err).toBeDefined();
  });

  it('writes the same lines for a request the circuit breaker refused and the one it let through', async () => {
    let first: Line | null = null;
    const refused = await sameLine('breaker', async (url, id) => {
      const through = fetchText(`${url}/held`, { headers: { 'x-request-id': `${id}-through`, host: 'svc.test' } });
      const before = held.received.length;
      await eventually(() => held.received.length === before + 1, 5_000, 'the first request to reach the upstream');
      expect((await fetchText(`${url}/held`, { headers: { 'x-request-id': id, host: 'svc.test' } })).status).toBe(503);
      held.release();
      expect((await through).status).toBe(200);
      const engine = ENGINES.find((e) => proxies.get(e)!.url === url)!;
      const line = comparable(await accessLine(engine, `${id}-through`));
      if (first === null) first = line;
      else expect(line).toEqual(first);
    });
    expect(refused).toMatchObject({ status: 503, route: 'held', service: 'held', upstream: null, error: 'breaker_requests', retries: 0 });
    expect(first).toMatchObject({ status: 200, upstreamStatus: 200, route: 'held' });
  });

  it('writes the same line for a client that went away before the response head (499)', async () => {
    const line = await sameLine('gone', async (url, id) => {
      const before = held.received.length;
      const socket = connect(Number(new URL(url).port), '127.0.0.1');
      socket.on('error', () => undefined); // reset by the proxy after we left: nothing to check
      socket.write(`GET /held/gone HTTP/1.1\r\nhost: svc.test\r\nx-request-id: ${id}\r\n\r\n`);
      await eventually(() => held.received.length === before + 1, 5_000, 'the request to reach the upstream');
      socket.destroy();
    });
    expect(line).toMatchObject({ status: 499, error: 'client_closed', upstreamStatus: 0, route: 'held', bytesOut: 0, clientAddress: '127.0.0.1', protocol: 'HTTP/1.1' });
    expect(line).not.toHaveProperty('err');
    held.release();
  });
});

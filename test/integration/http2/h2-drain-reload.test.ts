import { writeFile } from 'node:fs/promises';
import { constants, type ClientHttp2Stream } from 'node:http2';
import { connect as netConnect } from 'node:net';
import { stringify } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeHttp2, http2Request, openHttp2 } from '../../support/http2-client.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';
import type { ServerResponse } from 'node:http';

const NODE_MAJOR = Number(process.versions.node.split('.')[0]);

const listeners = [{ name: 'h2c', address: '127.0.0.1', port: 0, protocols: ['http1', 'h2c'] }];
const base = {
  listeners,
  admin: { address: '127.0.0.1', port: 0 },
  registry: { type: 'file', path: 'services.yaml', watch: true, debounce: '20ms' },
};

function connectionRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = netConnect(port, '127.0.0.1');
    s.once('connect', () => {
      s.destroy();
      resolve(false);
    });
    s.once('error', (err: Error & { code?: string }) => resolve(err.code === 'ECONNREFUSED'));
  });
}

describe('HTTP/2 connections across reload and drain', () => {
  let a: TestUpstream;
  let b: TestUpstream;
  let held: ServerResponse[] = [];
  let slow: TestUpstream;

  beforeAll(async () => {
    a = await startUpstream('a');
    b = await startUpstream('b');
    slow = await startUpstream('slow', (_req, res) => held.push(res));
  });
  afterAll(async () => {
    for (const res of held) res.destroy();
    await a.close();
    await b.close();
    await slow.close();
  });

  describe('reload', () => {
    let proxy: ProxyHarness;
    beforeAll(async () => {
      proxy = await startProxy({
        services: { a: [{ port: a.port }], b: [{ port: b.port }] },
        config: { listeners, routes: [{ name: 'main', match: { path: '/' }, service: 'a' }] },
      });
    });
    afterAll(async () => {
      await proxy?.close();
    });

    it('an open HTTP/2 connection keeps serving, with the new routes', async () => {
      const session = await openHttp2(`http://127.0.0.1:${proxy.port}`);
      try {
        const before = await http2Request(session, { ':path': '/x', ':authority': 'svc.test' });
        expect((JSON.parse(before.body.toString()) as EchoReply).instance).toBe('a');
        await writeFile(proxy.configFile, stringify({ ...base, routes: [{ name: 'main', match: { path: '/' }, service: 'b' }] }));
        await proxy.app.reload();
        const after = await http2Request(session, { ':path': '/x', ':authority': 'svc.test' });
        expect((JSON.parse(after.body.toString()) as EchoReply).instance).toBe('b');
        expect(session.destroyed).toBe(false);
        expect(session.closed).toBe(false);
      } finally {
        await closeHttp2(session);
      }
    });
  });

  describe('drain (app.close with a grace period)', () => {
    it('the client gets GOAWAY, its in-flight stream completes, new streams and connections are refused', async () => {
      held = [];
      const proxy = await startProxy({
        services: { slow: [{ port: slow.port }] },
        config: { listeners, routes: [{ name: 'slow', match: { path: '/' }, service: 'slow' }] },
      });
      const session = await openHttp2(`http://127.0.0.1:${proxy.port}`);
      let goaway: { errorCode: number; lastStreamId: number } | null = null;
      session.once('goaway', (errorCode: number, lastStreamId: number) => (goaway = { errorCode, lastStreamId }));
      try {
        const inFlight = http2Request(session, { ':path': '/long', ':authority': 'svc.test' });
        await eventually(() => held.length === 1, 5_000, 'the upstream to receive the request');
        expect(proxy.app.addresses.length).toBe(1);
        const closing = proxy.app.close(10_000);
        await eventually(() => goaway !== null, 5_000, 'GOAWAY');
        // NO_ERROR, and the last stream the server will process is the one in flight (stream 1):
        // any stream the client opened after it is not served (RFC 9113 §6.8).
        expect(goaway).toEqual({ errorCode: constants.NGHTTP2_NO_ERROR, lastStreamId: 1 });
        // The client honours the GOAWAY: no new stream on this connection; new connections are refused.
        // Node ≤ 22's client throws at once; Node 24's queues the stream as pending, never sends it,
        // and cancels it when the session ends: either way it is never sent.
        let late: ClientHttp2Stream | null = null;
        try {
          late = session.request({ ':path': '/new', ':authority': 'svc.test' });
        } catch (err) {
          expect((err as Error).message).toMatch(/GOAWAY|closed|destroyed/i);
        }
        if (late !== null) {
          expect(NODE_MAJOR, 'only Node ≥ 24 queues a stream opened after GOAWAY').toBeGreaterThanOrEqual(24);
          late.on('error', () => undefined);
        }
        expect(await connectionRefused(proxy.port)).toBe(true);
        held[0]!.writeHead(200, { 'content-length': '4' });
        held[0]!.end('done');
        const r = await inFlight;
        expect(r.status).toBe(200);
        expect(r.body.toString()).toBe('done');
        if (late !== null) expect(late.pending, 'the stream opened after GOAWAY was never sent').toBe(true);
        await closing;
      } finally {
        session.destroy();
        await proxy.close();
      }
    });
  });
});

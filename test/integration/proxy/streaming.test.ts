import { createHash } from 'node:crypto';
import { request as httpRequest, type IncomingMessage, type ServerResponse } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { fetchJson } from '../../support/http-client.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';

const MiB = 1024 * 1024;
const CHUNK = Buffer.alloc(64 * 1024, 'x');

/** Writes `total` bytes honouring backpressure; `progress.sent` counts what the socket accepted. */
function writeBody(res: ServerResponse | import('node:http').ClientRequest, total: number, progress: { sent: number }, end = true): void {
  const pump = () => {
    while (progress.sent < total) {
      const n = Math.min(CHUNK.length, total - progress.sent);
      progress.sent += n;
      if (!res.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) {
        res.once('drain', pump);
        return;
      }
    }
    if (end) res.end();
  };
  pump();
}

/** Resolves when `read()` has stopped changing for `quietMs`. */
async function settled(read: () => number, quietMs = 300): Promise<number> {
  let last = -1;
  let since = Date.now();
  for (;;) {
    const now = read();
    if (now !== last) {
      last = now;
      since = Date.now();
    } else if (Date.now() - since >= quietMs) {
      return now;
    }
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe('streaming bodies, aborts, SSE and WebSocket', () => {
  let upstream: TestUpstream;
  let proxy: ProxyHarness;
  let wss: WebSocketServer;
  const bigResponse = { sent: 0 };
  let bigRequestReq: IncomingMessage | null = null;
  let heldResponseClosedEarly = false;
  let releaseSecondEvent: () => void = () => undefined;

  beforeAll(async () => {
    upstream = await startUpstream('stream', (req, res) => {
      const url = req.url!;
      if (url.startsWith('/download/')) {
        const total = Number(url.split('/')[2]);
        res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': total });
        bigResponse.sent = 0;
        writeBody(res, total, bigResponse);
      } else if (url === '/upload-hash') {
        const hash = createHash('sha256');
        let bytes = 0;
        req.on('data', (c: Buffer) => {
          hash.update(c);
          bytes += c.length;
        });
        req.on('end', () => res.end(JSON.stringify({ bytes, sha256: hash.digest('hex') })));
      } else if (url === '/upload-stalled') {
        bigRequestReq = req;
        req.pause();
        let bytes = 0;
        req.on('data', (c: Buffer) => (bytes += c.length));
        req.on('end', () => res.end(JSON.stringify({ bytes })));
      } else if (url === '/hold') {
        res.on('close', () => (heldResponseClosedEarly = !res.writableFinished));
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.write('first part\n');
      } else if (url === '/dies-midway') {
        res.writeHead(200, { 'content-type': 'text/plain', 'content-length': 1000 });
        res.write('x'.repeat(100), () => setTimeout(() => res.socket?.destroy(), 50));
      } else if (url === '/events') {
        res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
        res.write('data: one\n\n');
        releaseSecondEvent = () => res.end('data: two\n\n');
      } else {
        res.end('ok');
      }
    });
    wss = new WebSocketServer({ server: upstream.server });
    wss.on('connection', (ws, req) => {
      ws.send(`hello ${String(req.headers['x-forwarded-for'])}`);
      ws.on('message', (data) => ws.send(`echo:${data.toString()}`));
    });
    proxy = await startProxy({ services: { stream: [{ port: upstream.port }] }, config: { routes: [{ name: 'stream', match: { path: '/' }, service: 'stream', maxBodySize: 0 }] } });
  });
  afterAll(async () => {
    wss.close();
    await proxy.close();
    await upstream.close();
  });

  it('streams a 10 MiB response body intact', async () => {
    const hash = createHash('sha256');
    let bytes = 0;
    await new Promise<void>((resolve, reject) => {
      httpRequest(`${proxy.url}/download/${10 * MiB}`, { agent: false }, (res) => {
        res.on('data', (c: Buffer) => {
          hash.update(c);
          bytes += c.length;
        });
        res.on('end', resolve);
        res.on('error', reject);
      })
        .on('error', reject)
        .end();
    });
    expect(bytes).toBe(10 * MiB);
    const expected = createHash('sha256');
    for (let i = 0; i < 160; i++) expected.update(CHUNK);
    expect(hash.digest('hex')).toBe(expected.digest('hex'));
  });

  it('streams a 10 MiB request body intact', async () => {
    const body = Buffer.alloc(10 * MiB, 'y');
    const r = await fetchJson<{ bytes: number; sha256: string }>(`${proxy.url}/upload-hash`, { method: 'POST', body, headers: { 'content-type': 'application/octet-stream' } });
    expect(r.status).toBe(200);
    expect(r.json.bytes).toBe(10 * MiB);
    expect(r.json.sha256).toBe(createHash('sha256').update(body).digest('hex'));
  });

  it('does not buffer a response the client is not reading: the upstream is held back', async () => {
    const total = 256 * MiB;
    let received = 0;
    const done = new Promise<number>((resolve, reject) => {
      httpRequest(`${proxy.url}/download/${total}`, { agent: false }, (res) => {
        res.pause();
        // Let socket buffers fill while the client reads nothing.
        void settled(() => bigResponse.sent).then((stalledAt) => {
          expect(stalledAt).toBeGreaterThan(0);
          expect(stalledAt).toBeLessThan(total / 4);
          res.on('data', (c: Buffer) => (received += c.length));
          res.on('end', () => resolve(received));
          res.resume();
        }, reject);
      })
        .on('error', reject)
        .end();
    });
    expect(await done).toBe(total);
  });

  it('does not buffer a request body the upstream is not reading: the client is held back', async () => {
    const total = 256 * MiB;
    const progress = { sent: 0 };
    const responded = new Promise<{ bytes: number }>((resolve, reject) => {
      const req = httpRequest(`${proxy.url}/upload-stalled`, { method: 'POST', agent: false, headers: { 'content-length': total } }, (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve(JSON.parse(text) as { bytes: number }));
      });
      req.on('error', reject);
      writeBody(req, total, progress);
    });
    await eventually(() => bigRequestReq !== null, 5_000, 'upstream to receive the request');
    const stalledAt = await settled(() => progress.sent);
    expect(stalledAt).toBeLessThan(total / 4);
    bigRequestReq!.resume();
    expect((await responded).bytes).toBe(total);
  });

  it('cancels the upstream request when the client goes away', async () => {
    await new Promise<void>((resolve, reject) => {
      const req = httpRequest(`${proxy.url}/hold`, { agent: false }, (res) => {
        res.once('data', () => {
          req.destroy();
          resolve();
        });
      });
      req.on('error', () => undefined);
      req.on('timeout', reject);
      req.end();
    });
    await eventually(() => heldResponseClosedEarly, 5_000, 'the upstream to see its response closed');
  });

  it('cuts the client connection when the upstream dies mid-response, so the truncation is visible', async () => {
    const outcome = await new Promise<{ received: number; completed: boolean }>((resolve) => {
      let received = 0;
      httpRequest(`${proxy.url}/dies-midway`, { agent: false }, (res) => {
        expect(res.statusCode).toBe(200);
        res.on('data', (c: Buffer) => (received += c.length));
        res.on('end', () => resolve({ received, completed: res.complete }));
        res.on('aborted', () => resolve({ received, completed: false }));
        res.on('error', () => resolve({ received, completed: false }));
      })
        .on('error', () => resolve({ received: -1, completed: false }))
        .end();
    });
    expect(outcome.completed).toBe(false);
    expect(outcome.received).toBeLessThan(1000);
    await eventually(() => proxy.log.find('upstream request failed').some((l) => l.responseStarted === true), 5_000, 'the failure to be logged');
  });

  it('delivers server-sent events as they are written', async () => {
    const events: string[] = [];
    await new Promise<void>((resolve, reject) => {
      httpRequest(`${proxy.url}/events`, { agent: false }, (res) => {
        expect(res.headers['content-type']).toBe('text/event-stream');
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          events.push(chunk);
          // The upstream sends the second event only once the first has reached the client.
          if (events.length === 1) releaseSecondEvent();
        });
        res.on('end', resolve);
      })
        .on('error', reject)
        .end();
    });
    expect(events.join('')).toBe('data: one\n\ndata: two\n\n');
    expect(events[0]).toBe('data: one\n\n');
  });

  it('tunnels WebSocket upgrades both ways', async () => {
    const ws = new WebSocket(`${proxy.url.replace('http', 'ws')}/socket`);
    const messages: string[] = [];
    await new Promise<void>((resolve, reject) => {
      ws.on('message', (data) => {
        messages.push(data.toString());
        if (messages.length === 1) ws.send('ping');
        if (messages.length === 2) resolve();
      });
      ws.on('error', reject);
    });
    ws.close();
    expect(messages).toEqual(['hello 127.0.0.1', 'echo:ping']);
  });
});

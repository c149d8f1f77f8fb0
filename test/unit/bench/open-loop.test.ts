import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { Worker } from 'node:worker_threads';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { percentiles, requestBytes, runOpenLoop, type OpenLoopOptions, type OpenLoopResult } from '../../../bench/lib/open-loop.js';
import { GoOpenLoop } from '../../../bench/lib/open-loop-go.js';

/**
 * A tiny HTTP/1.1 upstream on a thread of its own (its own event loop, so that stalling it does
 * not stall the load generator): answers every request with 2 bytes, and when it receives
 * request number `stallAt` it blocks its event loop for `stallMs` before answering, then posts
 * when the stall began and ended (ms since the epoch, the clock runOpenLoop's startEpochMs uses).
 */
const STALLING_UPSTREAM = `
const { createServer } = require('node:http');
const { parentPort, workerData } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
let seen = 0;
const server = createServer({ keepAliveTimeout: 60000 }, (req, res) => {
  if (++seen === workerData.stallAt) {
    const began = performance.timeOrigin + performance.now();
    while (performance.timeOrigin + performance.now() - began < workerData.stallMs) {}
    parentPort.postMessage({ began, ended: performance.timeOrigin + performance.now() });
  }
  res.writeHead(200, { 'content-length': '2' });
  res.end('ok');
});
server.listen(0, '127.0.0.1', () => parentPort.postMessage({ port: server.address().port }));
`;

interface Stall {
  began: number;
  ended: number;
}

let worker: Worker | null = null;
let server: Server | null = null;

afterEach(async () => {
  await worker?.terminate();
  worker = null;
  if (server !== null) await new Promise<void>((resolve) => server!.close(() => resolve()));
  server = null;
});

async function startStallingUpstream(stallAt: number, stallMs: number): Promise<{ port: number; stall: Promise<Stall> }> {
  worker = new Worker(STALLING_UPSTREAM, { eval: true, workerData: { stallAt, stallMs } });
  const [first] = (await once(worker, 'message')) as [{ port: number }];
  return { port: first.port, stall: once(worker, 'message').then(([m]) => m as Stall) };
}

/** A raw upstream: `respond` gets each request's socket and number (1-based). */
async function startRawUpstream(respond: (socket: Socket, n: number) => void): Promise<number> {
  let n = 0;
  server = createServer((socket) => {
    socket.on('data', (data) => {
      // One request per data event: the generator sends one small request at a time per connection.
      for (let at = data.indexOf('\r\n\r\n'); at !== -1; at = data.indexOf('\r\n\r\n', at + 4)) respond(socket, ++n);
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return (server.address() as AddressInfo).port;
}

type Generate = (options: OpenLoopOptions) => Promise<OpenLoopResult>;

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
/** The Go generator, built once for this file; a string says why it cannot run (Go not installed). */
let goGenerator: GoOpenLoop | string = 'not built';
let goDir = '';
beforeAll(async () => {
  goDir = await mkdtemp(join(tmpdir(), 'open-loop-go-test-'));
  goGenerator = await GoOpenLoop.build(root, goDir);
  if (typeof goGenerator === 'string') console.warn(`Go open-loop generator tests skipped: ${goGenerator}`);
}, 120_000); // a first go build compiles the standard library packages it uses
afterAll(async () => {
  if (goDir !== '') await rm(goDir, { recursive: true, force: true });
});

const generators: [string, () => Generate | null][] = [
  ['runOpenLoop (Node)', () => runOpenLoop],
  ['the Go generator (bench/generators/open-loop)', () => (typeof goGenerator === 'string' ? null : (o) => (goGenerator as GoOpenLoop).run(o))],
];

describe.each(generators)('%s', (_name, generatorOf) => {
  let runOpenLoop: Generate;
  beforeEach(({ skip }) => {
    const g = generatorOf();
    if (g === null) skip();
    else runOpenLoop = g;
  });

  it('charges an upstream stall to every request that fell due during it, in the tail and in the late count', async () => {
    const stallMs = 200;
    const rate = 500;
    const connections = 8;
    // The stall starts with request 250 of 750 (about 0.5 s into a 1.5 s schedule).
    const { port, stall: stallReport } = await startStallingUpstream(250, stallMs);
    const result = await runOpenLoop({ url: `http://127.0.0.1:${port}`, request: { path: '/' }, rate, durationSeconds: 1.5, connections, keepSamples: true });
    const stall = await stallReport;
    const measuredStall = stall.ended - stall.began;
    expect(measuredStall).toBeGreaterThanOrEqual(stallMs);

    expect(result.scheduled).toBe(750);
    expect(result.errors).toBe(0);
    expect(result.ok).toBe(750);

    // The request that set the stall off waited for all of it (after it was due).
    expect(result.latency.max).toBeGreaterThanOrEqual(stallMs);
    // Requests due in the stall's first half each wait at least half the stall: more than 0.1 % of the run.
    expect(result.latency.p999).toBeGreaterThanOrEqual(stallMs / 2);

    // No response can arrive before the stall ends: a request due at t waited at least ended − t.
    // (The two threads' clocks agree to well under a millisecond; 1 ms is allowed.)
    const { latency } = result.samples!;
    let dueDuringStall = 0;
    for (let i = 0; i < result.scheduled; i++) {
      const due = result.startEpochMs + i * result.intervalMs;
      if (due < stall.began || due > stall.ended) continue;
      dueDuringStall++;
      expect(latency[i], `request ${i}, due ${(due - stall.began).toFixed(1)} ms into the stall`).toBeGreaterThanOrEqual(stall.ended - due - 1);
    }
    // The schedule went on during the stall: every request due in it was issued, none skipped.
    expect(dueDuringStall).toBeGreaterThanOrEqual(Math.floor((measuredStall * rate) / 1000) - 1);
    // With 8 connections, all but at most 8 of them found every connection busy and were sent late.
    expect(result.waitedForConnection).toBeGreaterThanOrEqual(dueDuringStall - connections);
    expect(result.late).toBeGreaterThanOrEqual(dueDuringStall - connections);
  }, 20_000); // 1.5 s of load plus start-up: room for a machine busy with other work

  it('counts a connection the server closes mid-run as one error, replaces it and completes the rest', async () => {
    const port = await startRawUpstream((socket, n) => {
      if (n % 10 === 0) socket.destroy();
      else socket.write('HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok');
    });
    const result = await runOpenLoop({ url: `http://127.0.0.1:${port}`, request: { path: '/' }, rate: 400, durationSeconds: 0.5, connections: 4 });
    expect(result.scheduled).toBe(200);
    expect(result.errors).toBe(20);
    expect(result.ok).toBe(180);
    expect(result.connectionsOpened).toBe(4 + 20);
    expect(result.errorSamples.join(' ')).toMatch(/closed by the server/);
  });

  it('counts a response that never comes as a timeout and other statuses as non-2xx', async () => {
    const port = await startRawUpstream((socket, n) => {
      if (n === 5) return; // never answered
      socket.write(n % 2 === 0 ? 'HTTP/1.1 503 Busy\r\ncontent-length: 0\r\n\r\n' : 'HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n');
    });
    const result = await runOpenLoop({ url: `http://127.0.0.1:${port}`, request: { path: '/' }, rate: 100, durationSeconds: 0.2, connections: 2, timeoutMs: 300 });
    expect(result.scheduled).toBe(20);
    expect(result.timeouts).toBe(1);
    expect(result.errors).toBe(1);
    expect(result.errorSamples.join(' ')).toMatch(/no complete response within 300 ms/);
    expect(result.ok + result.non2xx).toBe(19);
    expect(result.non2xx).toBeGreaterThan(0);
  });

  it('counts an unframeable response as an error, naming why', async () => {
    const port = await startRawUpstream((socket) => socket.write('HTTP/1.1 200 OK\r\n\r\nno length'));
    const result = await runOpenLoop({ url: `http://127.0.0.1:${port}`, request: { path: '/' }, rate: 100, durationSeconds: 0.05, connections: 1 });
    expect(result.errors).toBe(result.scheduled);
    expect(result.errorSamples[0]).toMatch(/neither Content-Length nor chunked/);
  });

  it('refuses bad options, saying which', async () => {
    const base = { url: 'http://127.0.0.1:1', request: { path: '/' }, rate: 10, durationSeconds: 1 };
    await expect(runOpenLoop({ ...base, url: 'https://127.0.0.1:1' })).rejects.toThrow(/plain HTTP\/1.1/);
    await expect(runOpenLoop({ ...base, rate: 0 })).rejects.toThrow(/rate must be a positive number/);
    await expect(runOpenLoop({ ...base, durationSeconds: -1 })).rejects.toThrow(/durationSeconds must be positive/);
    await expect(runOpenLoop({ ...base, connections: 0 })).rejects.toThrow(/connections must be a positive integer/);
    await expect(runOpenLoop(base)).rejects.toThrow(/ECONNREFUSED|connection refused/);
  });
});

describe('requestBytes and percentiles', () => {
  it('forms a request once, with host and a body length', () => {
    const bytes = requestBytes(new URL('http://127.0.0.1:8080'), { path: '/up', body: Buffer.from('abc'), headers: { 'x-a': '1' } });
    expect(bytes.toString('latin1')).toBe('POST /up HTTP/1.1\r\nhost: 127.0.0.1:8080\r\nx-a: 1\r\ncontent-length: 3\r\n\r\nabc');
    expect(requestBytes(new URL('http://localhost:9'), { path: '/' }).toString()).toBe('GET / HTTP/1.1\r\nhost: localhost:9\r\n\r\n');
  });

  it('takes nearest-rank percentiles of the finite values', () => {
    const values = Float64Array.from({ length: 1000 }, (_, i) => i + 1);
    values[0] = NaN;
    const p = percentiles(values);
    expect(p).toMatchObject({ p50: 501, p90: 901, p99: 991, p999: 1000, max: 1000 });
    expect(percentiles(new Float64Array([NaN])).max).toBeNaN();
  });
});

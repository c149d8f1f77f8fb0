/**
 * The benchmark upstream: a node:cluster primary that forks `--workers` processes, each serving
 * every port of the set, so the upstream is not the bottleneck of a proxy benchmark.
 *
 *   GET  …/64k   → 200 with a 64 KiB body
 *   GET  other   → 200 with a 1 KiB body
 *   POST / PUT   → reads the whole body, 200 with the byte count
 *
 * Usage: tsx bench/upstream.ts --ports 1 --workers 2
 * Prints one JSON line {"ports":[...]} on stdout once every worker listens on every port.
 */
import cluster from 'node:cluster';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import { forkUpstreamWorkers, reservePorts } from './lib/upstream-cluster.js';

const BODY_1K = Buffer.alloc(1024, 'a');
const BODY_64K = Buffer.alloc(64 * 1024, 'b');
const HEADERS_1K = { 'content-type': 'application/octet-stream', 'content-length': String(BODY_1K.length) };
const HEADERS_64K = { 'content-type': 'application/octet-stream', 'content-length': String(BODY_64K.length) };

function handle(req: IncomingMessage, res: ServerResponse): void {
  if (req.method === 'GET' || req.method === 'HEAD') {
    const large = req.url !== undefined && req.url.endsWith('/64k');
    res.writeHead(200, large ? HEADERS_64K : HEADERS_1K);
    res.end(large ? BODY_64K : BODY_1K);
    return;
  }
  let received = 0;
  req.on('data', (chunk: Buffer) => {
    received += chunk.length;
  });
  req.on('end', () => {
    const text = String(received);
    res.writeHead(200, { 'content-type': 'text/plain', 'content-length': String(text.length) });
    res.end(text);
  });
}

async function runPrimary(): Promise<void> {
  const { values } = parseArgs({ options: { ports: { type: 'string', default: '1' }, workers: { type: 'string', default: '2' } } });
  const portCount = Number(values.ports);
  const workerCount = Number(values.workers);
  const ports = await reservePorts(portCount);
  forkUpstreamWorkers('bench upstream', workerCount, { BENCH_UPSTREAM_PORTS: ports.join(',') }, ports);
}

async function runWorker(): Promise<void> {
  const ports = (process.env.BENCH_UPSTREAM_PORTS ?? '').split(',').map(Number);
  await Promise.all(
    ports.map(
      (port) =>
        new Promise<void>((resolve, reject) => {
          const server = createServer({ keepAliveTimeout: 120_000, headersTimeout: 121_000, requestTimeout: 0 }, handle);
          server.once('error', reject);
          server.listen(port, '127.0.0.1', resolve);
        }),
    ),
  );
  process.send?.('listening');
}

if (cluster.isPrimary) await runPrimary();
else await runWorker();

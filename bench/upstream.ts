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
import { createServer as createTcpServer, type AddressInfo, type Server } from 'node:net';
import { parseArgs } from 'node:util';

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

/** Reserves `count` free loopback ports (bound together so they differ, then released). */
async function reservePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createTcpServer();
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(0, '127.0.0.1', resolve);
      });
      servers.push(server);
    }
    return servers.map((s) => (s.address() as AddressInfo).port);
  } finally {
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
  }
}

async function runPrimary(): Promise<void> {
  const { values } = parseArgs({ options: { ports: { type: 'string', default: '1' }, workers: { type: 'string', default: '2' } } });
  const portCount = Number(values.ports);
  const workerCount = Number(values.workers);
  const ports = await reservePorts(portCount);
  let listening = 0;
  for (let i = 0; i < workerCount; i++) {
    const worker = cluster.fork({ BENCH_UPSTREAM_PORTS: ports.join(',') });
    worker.on('message', (message: unknown) => {
      if (message === 'listening' && ++listening === workerCount) process.stdout.write(`${JSON.stringify({ ports })}\n`);
    });
    worker.on('exit', (code, signal) => {
      if (!stopping) {
        process.stderr.write(`bench upstream: worker exited unexpectedly (code ${code}, signal ${signal})\n`);
        process.exit(1);
      }
    });
  }
  let stopping = false;
  const stop = () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
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

/**
 * The primary side of the bench upstreams (bench/upstream.ts, bench/h2-upstream.ts): free ports
 * reserved, worker processes forked to serve them, one JSON line `{"ports":[...]}` on stdout once
 * every worker listens, and the whole cluster stopped on SIGTERM/SIGINT.
 */
import cluster from 'node:cluster';
import { createServer, type AddressInfo, type Server } from 'node:net';

/** Reserves `count` free loopback ports (bound together so they differ, then released). */
export async function reservePorts(count: number): Promise<number[]> {
  const servers: Server[] = [];
  try {
    for (let i = 0; i < count; i++) {
      const server = createServer();
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

/**
 * Forks `workerCount` workers with `env`; each sends 'listening' once it serves `ports`. A worker
 * that exits before the cluster is stopped ends the primary with an error naming `label`.
 */
export function forkUpstreamWorkers(label: string, workerCount: number, env: Record<string, string>, ports: readonly number[]): void {
  let listening = 0;
  let stopping = false;
  for (let i = 0; i < workerCount; i++) {
    const worker = cluster.fork(env);
    worker.on('message', (message: unknown) => {
      if (message === 'listening' && ++listening === workerCount) process.stdout.write(`${JSON.stringify({ ports })}\n`);
    });
    worker.on('exit', (code, signal) => {
      if (!stopping) {
        process.stderr.write(`${label}: worker exited unexpectedly (code ${code}, signal ${signal})\n`);
        process.exit(1);
      }
    });
  }
  const stop = () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.kill();
    process.exit(0);
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
}

import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { closeSync, openSync } from 'node:fs';
import { once } from 'node:events';
import { createServer, type AddressInfo } from 'node:net';
import { request } from 'undici';

/** A process the benchmark started, with its output captured to a log file. */
export interface BenchProcess {
  readonly child: ChildProcess;
  readonly logFile: string;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when the process has exited. */
  stop(graceMs?: number): Promise<void>;
}

export interface SpawnOptions {
  command: string;
  args: string[];
  logFile: string;
  env?: NodeJS.ProcessEnv;
  /** Keep stdout readable by the caller instead of sending it to the log file. */
  pipeStdout?: boolean;
  ipc?: boolean;
}

export function spawnLogged(options: SpawnOptions): BenchProcess {
  // The child writes its log straight to the file: piping it through this process would make
  // the load generator (same process) pump every access-log line and slow itself down.
  const log = openSync(options.logFile, 'a');
  const stdio: ('ignore' | 'pipe' | 'ipc' | number)[] = ['ignore', options.pipeStdout ? 'pipe' : log, log];
  if (options.ipc) stdio.push('ipc');
  const child = spawn(options.command, options.args, { stdio, env: { ...process.env, ...options.env } });
  const exited = once(child, 'exit');
  return {
    child,
    logFile: options.logFile,
    async stop(graceMs = 10_000) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
        await exited;
        clearTimeout(timer);
      }
      closeSync(log);
    },
  };
}

/** A free loopback port (bound, read, released). */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Polls `url` until it answers 200, or throws naming the process log after `timeoutMs`. */
export async function waitUntilServing(url: string, proc: BenchProcess | null, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (proc && (proc.child.exitCode !== null || proc.child.signalCode !== null)) {
      throw new Error(`${url}: the process exited (code ${proc.child.exitCode}); see ${proc.logFile}`);
    }
    try {
      const res = await request(url, { headersTimeout: 2_000, bodyTimeout: 2_000 });
      await res.body.dump();
      if (res.statusCode === 200) return;
      last = `status ${res.statusCode}`;
    } catch (err) {
      last = (err as Error).message;
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url} did not answer 200 within ${timeoutMs} ms (${last})${proc ? `; see ${proc.logFile}` : ''}`);
}

/** Path of an installed binary (`command -v`, then the given fallbacks), or null. */
export function findBinary(name: string, fallbacks: readonly string[] = []): Promise<string | null> {
  const script = [`command -v ${name}`, ...fallbacks.map((f) => `ls ${f}`)].join(' || ');
  return new Promise((resolve) => {
    execFile('sh', ['-c', script], (err, stdout) => resolve(err ? null : stdout.trim().split('\n')[0] || null));
  });
}

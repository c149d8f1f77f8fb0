import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { spawnLogged, type BenchProcess } from './child-process.js';

export interface RunningUpstream {
  ports: number[];
  process: BenchProcess;
  stop(): Promise<void>;
}

/** Starts bench/upstream.ts in its own process tree and waits for its port list. */
export function startUpstream(root: string, workDir: string, ports: number, workers: number): Promise<RunningUpstream> {
  return startUpstreamScript(join(root, 'bench/upstream.ts'), ['--ports', String(ports), '--workers', String(workers)], join(workDir, 'upstream.log'));
}

/** Starts an upstream script (run with tsx) that prints {"ports":[...]} on its first stdout line once serving. */
export async function startUpstreamScript(script: string, args: string[], logFile: string): Promise<RunningUpstream> {
  const proc = spawnLogged({
    command: process.execPath,
    args: ['--import', 'tsx', script, ...args],
    logFile,
    pipeStdout: true,
  });
  const lines = createInterface({ input: proc.child.stdout! });
  const list = await new Promise<number[]>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the bench upstream did not start within 20 s; see ${proc.logFile}`)), 20_000);
    proc.child.once('exit', (code) => reject(new Error(`the bench upstream exited (code ${code}); see ${proc.logFile}`)));
    lines.once('line', (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { ports: number[] }).ports);
    });
  });
  return { ports: list, process: proc, stop: () => proc.stop() };
}

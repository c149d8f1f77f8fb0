import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const CLI = 'src/cli/switchyard.ts';

/** The real `switchyard` CLI running as a child process. */
export interface RouterProcess {
  child: ChildProcess;
  /** Base URLs read from the start banner. */
  url: string;
  adminUrl: string;
  stdout(): string;
  stderr(): string;
  /** Sends a signal and resolves with the exit code. */
  stop(signal: NodeJS.Signals): Promise<number | null>;
  exited: Promise<number | null>;
}

export interface RouterProcessOptions {
  /**
   * Where the router's standard output (its log) goes: collected (default), a pipe nobody
   * reads ('unread': a log reader that has stopped), or an open file descriptor.
   */
  stdout?: 'collect' | 'unread' | number;
  /** How long to wait for the start banner (default 20 s; cluster mode forks several processes). */
  startTimeoutMs?: number;
  /** Name the config with `--config <file>` instead of as the argument. */
  configFlag?: boolean;
  /** Run the router as this user and group (a test running as root that needs a read-only folder). */
  uid?: number;
  gid?: number;
}

/** Starts `switchyard start <config>` (with `env`) and waits for its banner (listener and admin URLs). */
export async function startRouterProcess(configFile: string, env: NodeJS.ProcessEnv = process.env, options: RouterProcessOptions = {}): Promise<RouterProcess> {
  const stdout = options.stdout ?? 'collect';
  const config = options.configFlag ? ['--config', configFile] : [configFile];
  const user = options.uid === undefined ? {} : { uid: options.uid, gid: options.gid ?? options.uid };
  const child = spawn(process.execPath, ['--import', 'tsx', CLI, 'start', ...config], { cwd: ROOT, env, stdio: ['ignore', typeof stdout === 'number' ? stdout : 'pipe', 'pipe'], ...user });
  let out = '';
  let err = '';
  if (stdout === 'collect') child.stdout!.on('data', (c: Buffer) => (out += c.toString('utf8')));
  else if (stdout === 'unread') child.stdout!.pause();
  child.stderr!.on('data', (c: Buffer) => (err += c.toString('utf8')));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const banner = await new Promise<{ url: string; adminUrl: string }>((resolve, reject) => {
    const waitMs = options.startTimeoutMs ?? 20_000;
    // A router that did not start in time is killed: left running, it could still bind its
    // ports and break the next test that picks them.
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`switchyard did not start within ${waitMs / 1000}s:\n${err}`));
    }, waitMs);
    const check = () => {
      const listener = /listener \S+: (http:\/\/[\d.]+:\d+)/.exec(err);
      const admin = /admin: +(http:\/\/[\d.]+:\d+)\//.exec(err);
      if (listener && admin) {
        clearTimeout(timer);
        child.stderr!.off('data', check);
        resolve({ url: listener[1]!, adminUrl: admin[1]! });
      }
    };
    child.stderr!.on('data', check);
    void exited.then((code) => reject(new Error(`switchyard exited with ${code} before starting:\n${err}`)));
  });
  return {
    child,
    ...banner,
    stdout: () => out,
    stderr: () => err,
    exited,
    stop: (signal) => {
      child.kill(signal);
      return exited;
    },
  };
}

/** Runs one CLI command to completion. */
export function runCli(args: readonly string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', CLI, ...args], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString('utf8')));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

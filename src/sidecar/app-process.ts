import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Readable } from 'node:stream';
import type { Logger } from '../observability/logger.js';

export interface AppProcessSpec {
  /** Instance number (0-based), in logs and in SWITCHYARD_INSTANCE. */
  instance: number;
  command: readonly string[];
  env: NodeJS.ProcessEnv;
  cwd: string | undefined;
  /** Time between SIGTERM and SIGKILL in `stop()`. */
  stopGraceMs: number;
}

/** Longest wait, after the process exited, for its output pipes to close. */
const PIPE_DRAIN_WAIT_MS = 1_000;

/** How a process ended: its exit code or the signal that killed it. */
export interface AppExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/**
 * One running copy of the app: spawned without a shell, its stdout and stderr turned into
 * structured log lines tagged with the instance number, stopped with SIGTERM then SIGKILL.
 */
export class AppProcess {
  readonly child: ChildProcess;
  /** Resolves when the process has exited (also after a failed spawn). */
  readonly exited: Promise<AppExit>;

  constructor(
    private readonly spec: AppProcessSpec,
    private readonly logger: Logger,
  ) {
    const [program, ...args] = spec.command;
    this.child = spawn(program!, args, { env: spec.env, cwd: spec.cwd, stdio: ['ignore', 'pipe', 'pipe'], shell: false });
    const log = logger.child({ instance: spec.instance, pid: this.child.pid });
    forwardLines(this.child.stdout!, log, 'stdout');
    forwardLines(this.child.stderr!, log, 'stderr');
    this.exited = new Promise<AppExit>((resolve) => {
      this.child.once('error', (err: Error & { code?: string }) => {
        // Spawn failures (ENOENT, EACCES) emit 'error' and no 'exit'.
        if (this.child.pid === undefined) {
          log.error({ errorCode: err.code, error: err.message, command: spec.command }, 'cannot start the app: check the command and its permissions');
          resolve({ code: 127, signal: null });
        } else {
          log.warn({ errorCode: err.code, error: err.message }, 'app process error');
        }
      });
      // 'close' comes after 'exit' once stdout and stderr are drained, so every line the
      // process wrote is logged before its exit is reported. A grandchild that inherited the
      // pipes can hold them open: then the exit is reported a moment later without them.
      this.child.once('close', (code, signal) => resolve({ code, signal }));
      this.child.once('exit', (code, signal) => {
        setTimeout(() => resolve({ code, signal }), PIPE_DRAIN_WAIT_MS).unref();
      });
    });
  }

  get pid(): number | undefined {
    return this.child.pid;
  }

  get running(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null && this.child.pid !== undefined;
  }

  /** Sends a signal if the process is still running. */
  signal(signal: NodeJS.Signals): void {
    if (this.running) this.child.kill(signal);
  }

  /** SIGTERM, then SIGKILL after the grace time; resolves once the process has exited. */
  async stop(): Promise<AppExit> {
    if (!this.running) return this.exited;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => {
      if (!this.running) return;
      this.logger.warn({ instance: this.spec.instance, pid: this.pid, graceMs: this.spec.stopGraceMs }, 'app did not exit after SIGTERM within the grace time; sending SIGKILL');
      this.child.kill('SIGKILL');
    }, this.spec.stopGraceMs);
    const exit = await this.exited;
    clearTimeout(timer);
    return exit;
  }
}

/** Each line of the app's output becomes one log record: msg is the line, `stream` says which. */
function forwardLines(stream: Readable, log: Logger, name: 'stdout' | 'stderr'): void {
  const lines = createInterface({ input: stream, crlfDelay: Infinity });
  lines.on('line', (line) => log.info({ stream: name }, line));
  // A closed pipe ends the interface; errors here mean the pipe broke while the process exits.
  stream.on('error', (err) => log.debug({ stream: name, error: err.message }, 'app output stream error'));
}

import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));

/**
 * The Consul emulator in a child process (bench/lib/consul-emulator-process.ts), driven by
 * request/response messages, so its CPU is its own and not the router's or the bench's.
 * `call` waits for the answer; `send` is fire-and-forget (id 0: an error comes back to
 * `onRefused`, nothing else).
 */
export class EmulatorProcess {
  private next = 1;
  private readonly waiting = new Map<number, (m: { result?: unknown; error?: string }) => void>();

  private constructor(
    private readonly child: ChildProcess,
    onRefused: (error: string) => void,
  ) {
    child.on('message', (m: { id: number; result?: unknown; error?: string }) => {
      if (m.id === 0 && m.error) onRefused(m.error);
      this.waiting.get(m.id)?.(m);
      this.waiting.delete(m.id);
    });
  }

  /** `onRefused`: told of a fire-and-forget message the emulator refused. */
  static start(onRefused: (error: string) => void): EmulatorProcess {
    return new EmulatorProcess(fork(join(here, 'consul-emulator-process.ts'), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] }), onRefused);
  }

  get pid(): number {
    return this.child.pid!;
  }

  call<T>(message: Record<string, unknown>): Promise<T> {
    const id = this.next++;
    return new Promise((resolve, reject) => {
      this.waiting.set(id, (m) => (m.error ? reject(new Error(m.error)) : resolve(m.result as T)));
      this.child.send({ ...message, id });
    });
  }

  /** Fire-and-forget (a flip is applied when the child reads the message). */
  send(message: Record<string, unknown>): void {
    this.child.send({ ...message, id: 0 });
  }

  /** Asks the child to close its servers and exit; a child already gone is reported, not thrown. */
  async close(): Promise<void> {
    await this.call({ cmd: 'close' }).catch((err: unknown) => process.stderr.write(`bench: the Consul emulator process did not close cleanly: ${(err as Error).message}\n`));
  }
}

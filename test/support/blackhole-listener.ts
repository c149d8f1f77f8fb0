import { spawn, type ChildProcess } from 'node:child_process';
import { connect, type Socket } from 'node:net';

/**
 * A loopback port where TCP connects hang: a listener in a child process that is stopped
 * (SIGSTOP) and whose accept queue is filled, so the kernel drops further SYNs and a connect
 * neither succeeds nor fails until the client gives up. For connect-timeout tests that must
 * stay on 127.0.0.1.
 */
export interface BlackholeListener {
  readonly port: number;
  close(): Promise<void>;
}

export async function startBlackholeListener(): Promise<BlackholeListener> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['-e', "require('net').createServer().listen({ port: 0, host: '127.0.0.1', backlog: 1 }, function () { process.stdout.write(this.address().port + '\\n'); })"],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const port = await new Promise<number>((resolve, reject) => {
    child.once('error', reject);
    child.stdout!.once('data', (d: Buffer) => resolve(Number(String(d).trim())));
  });
  child.kill('SIGSTOP');
  // Fill the accept queue: connects complete until it is full; the first that hangs shows it is.
  const fillers: Socket[] = [];
  for (let i = 0; i < 16; i++) {
    const s = connect(port, '127.0.0.1');
    s.on('error', () => {
      // The filler is destroyed at close; its error does not matter.
    });
    fillers.push(s);
    const connected = await new Promise<boolean>((resolve) => {
      const t = setTimeout(() => resolve(false), 200);
      s.once('connect', () => {
        clearTimeout(t);
        resolve(true);
      });
    });
    if (!connected) break;
  }
  return {
    port,
    close: async () => {
      for (const s of fillers) s.destroy();
      child.kill('SIGKILL');
      await new Promise<void>((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', () => resolve())));
    },
  };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { configSchema } from '../../src/config/schema.js';
import type { Registry } from '../../src/registry/registry.js';
import { Sidecar } from '../../src/sidecar/sidecar.js';
import type { SidecarRunConfig } from '../../src/sidecar/sidecar-options.js';
import type { ConsulEmulator } from './consul-emulator.js';
import { freePorts } from './free-port.js';
import { captureLog, type CapturedLog } from './log-capture.js';

/** The test app (a plain Node script) the sidecar runs. */
export const TEST_APP = fileURLToPath(new URL('./sidecar-test-app.mjs', import.meta.url));

export { freePorts };

export interface InProcessSidecar {
  sidecar: Sidecar;
  log: CapturedLog;
  url: string;
  port: number;
  appPorts: number[];
  close(): Promise<number>;
}

/**
 * Starts a Sidecar in the test process (the app is still a real child process) registered
 * with the emulator. `sidecar` overrides fields of the sidecar section.
 */
export async function startSidecar(
  emulator: ConsulEmulator | null,
  sidecar: Record<string, unknown> & { app?: Record<string, unknown> } = {},
  extra: { egressRegistry?: Registry; config?: Record<string, unknown> } = {},
): Promise<InProcessSidecar> {
  const instances = Number(sidecar.app?.instances ?? 1);
  const [port, ...appPorts] = await freePorts(instances + 1);
  const { app, ...rest } = sidecar;
  const raw = {
    ...extra.config,
    sidecar: {
      service: 'orders',
      port,
      ...rest,
      inbound: { address: '127.0.0.1', ...(rest.inbound as object) },
      shutdown: { drainDelay: 0, drainTimeout: '5s', ...(rest.shutdown as object) },
      consul: { enabled: emulator !== null, ...(emulator ? { address: emulator.address } : {}), ...(rest.consul as object) },
      app: {
        command: [process.execPath, TEST_APP],
        port: appPorts[0],
        stopGrace: '2s',
        healthCheck: { interval: '50ms', timeout: '500ms' },
        restart: { initialBackoff: '50ms', maxBackoff: '200ms' },
        ...app,
      },
    },
  };
  const config = configSchema.parse(raw) as SidecarRunConfig;
  const log = captureLog('debug');
  const sc = await Sidecar.start(config, { log: log.log, hostname: 'test-host', env: { ...process.env, CONSUL_HTTP_ADDR: '', CONSUL_HTTP_TOKEN: '' }, egressRegistry: extra.egressRegistry });
  return { sidecar: sc, log, url: `http://127.0.0.1:${port}`, port: port!, appPorts, close: () => sc.stop('test finished') };
}

export interface SidecarProcess {
  child: ChildProcess;
  /** Parsed JSON log lines written so far. */
  lines: Record<string, unknown>[];
  stderr(): string;
  exited: Promise<number | null>;
  find(text: string): Record<string, unknown>[];
}

/** Runs `switchyard sidecar <args>` as a real process; its JSON log lines are collected. */
export function runSidecarCli(args: string[], env: NodeJS.ProcessEnv = {}): SidecarProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/switchyard.ts', 'sidecar', ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } });
  const lines: Record<string, unknown>[] = [];
  let partial = '';
  let stderr = '';
  child.stdout!.on('data', (c: Buffer) => {
    partial += c.toString('utf8');
    let nl: number;
    while ((nl = partial.indexOf('\n')) >= 0) {
      const line = partial.slice(0, nl);
      partial = partial.slice(nl + 1);
      if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  child.stderr!.on('data', (c: Buffer) => (stderr += c.toString('utf8')));
  // 'close': after the exit and after stdout is fully read, so every log line is in `lines`.
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  return { child, lines, stderr: () => stderr, exited, find: (text) => lines.filter((l) => String(l.msg).includes(text)) };
}

import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { Switchyard } from '../../src/main.js';
import { captureLog, type CapturedLog } from './log-capture.js';

export interface InstanceSpec {
  id?: string;
  address?: string;
  port: number;
  weight?: number;
  tags?: string[];
  meta?: Record<string, string>;
  health?: 'passing' | 'warning' | 'critical';
}

export interface HarnessOptions {
  /** Top-level config (routes, services, timeouts, ...). Listeners/admin/registry are filled in. */
  config?: Record<string, unknown>;
  /** service name → instances, written to the services file. */
  services?: Record<string, InstanceSpec[]>;
}

/** A running Switchyard on ephemeral ports with its config in a temporary folder. */
export interface ProxyHarness {
  app: Switchyard;
  /** Base URL of the first listener, e.g. http://127.0.0.1:40123 */
  url: string;
  port: number;
  dir: string;
  configFile: string;
  servicesFile: string;
  log: CapturedLog;
  /** Rewrites the services file (the file registry picks it up). */
  writeServices(services: Record<string, InstanceSpec[]>): Promise<void>;
  close(): Promise<void>;
}

export function servicesYaml(services: Record<string, InstanceSpec[]>): string {
  const out: Record<string, { instances: InstanceSpec[] }> = {};
  for (const [name, instances] of Object.entries(services)) {
    out[name] = { instances: instances.map((i) => ({ address: '127.0.0.1', ...i })) };
  }
  return stringify({ services: out });
}

export async function startProxy(options: HarnessOptions = {}): Promise<ProxyHarness> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-test-'));
  const configFile = join(dir, 'config.yaml');
  const servicesFile = join(dir, 'services.yaml');
  await writeFile(servicesFile, servicesYaml(options.services ?? {}));
  const config = {
    listeners: [{ name: 'test', address: '127.0.0.1', port: 0 }],
    admin: { address: '127.0.0.1', port: 0 },
    registry: { type: 'file', path: 'services.yaml', watch: true, debounce: '20ms' },
    ...options.config,
  };
  withListenerEngine(config);
  await writeFile(configFile, stringify(config));
  const log = captureLog();
  const app = await Switchyard.start(configFile, { log: log.log });
  const first = app.addresses[0]!;
  return {
    app,
    url: first.url,
    port: first.port,
    dir,
    configFile,
    servicesFile,
    log,
    writeServices: (services) => writeFile(servicesFile, servicesYaml(services)),
    close: async () => {
      await app.close(1_000);
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Polls `check` until it returns true (or throws after `timeoutMs`). For state changes, not timings. */
export async function eventually(check: () => boolean | Promise<boolean>, timeoutMs = 5_000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await check()) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** What serves HTTP/2 clients in this run (proxy.engine.http2Listener), for assertions particular to one engine. */
export function http2ListenerEngine(): 'node' | 'switchyard' {
  return process.env.SWITCHYARD_TEST_HTTP2_LISTENER_ENGINE === 'node' ? 'node' : DEFAULT_HTTP2_LISTENER_ENGINE;
}

/** The default of proxy.engine.http2Listener (src/config/schema.ts). */
const DEFAULT_HTTP2_LISTENER_ENGINE: 'node' | 'switchyard' = 'switchyard';

/**
 * SWITCHYARD_TEST_LISTENER_ENGINE=node runs a suite on node:http's server instead of the HTTP/1.1
 * codec (proxy.engine.listener), and SWITCHYARD_TEST_HTTP2_LISTENER_ENGINE=switchyard|node
 * chooses what serves HTTP/2 clients (proxy.engine.http2Listener), unless the test chose an
 * engine itself.
 */
export function withListenerEngine(config: Record<string, unknown>): void {
  const engine = process.env.SWITCHYARD_TEST_LISTENER_ENGINE;
  const http2Engine = process.env.SWITCHYARD_TEST_HTTP2_LISTENER_ENGINE;
  const proxy = { ...((config.proxy as Record<string, unknown> | undefined) ?? {}) };
  const current = { ...((proxy.engine as Record<string, unknown> | undefined) ?? {}) };
  if (engine !== undefined && engine !== '' && current.listener === undefined) current.listener = engine;
  if (http2Engine !== undefined && http2Engine !== '' && current.http2Listener === undefined) current.http2Listener = http2Engine;
  if (Object.keys(current).length === 0) return;
  proxy.engine = current;
  config.proxy = proxy;
}

#!/usr/bin/env node
import { ConfigError } from '../config/config-error.js';
import { loadConfig } from '../config/load-config.js';
import { Switchyard } from '../main.js';
import { runSidecar } from '../sidecar/sidecar-command.js';

const USAGE = `Usage: switchyard <command> [options]

Commands:
  start [config]    Start the router (default config: config/default.yaml)
  check <config>    Validate a configuration file without starting
  sidecar ...       Run an app instance behind a sidecar (switchyard sidecar --help)
  help              Show this text

Signals (start): SIGHUP reloads the configuration; SIGTERM/SIGINT drain and exit.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  switch (command) {
    case 'start':
      return start(args[0] ?? 'config/default.yaml');
    case 'check':
      return check(args[0]);
    case 'sidecar':
      return runSidecar(args);
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`switchyard: unknown command "${command}"\n\n${USAGE}\n`);
      return 2;
  }
}

async function check(file: string | undefined): Promise<number> {
  if (!file) {
    process.stderr.write('switchyard check: name the configuration file, e.g. switchyard check config/default.yaml\n');
    return 2;
  }
  try {
    const { config } = await loadConfig(file);
    process.stdout.write(`${file}: OK (${config.listeners.length} listener(s), ${config.routes.length} route(s), registry: ${config.registry.type})\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  }
}

async function start(file: string): Promise<number> {
  let app: Switchyard;
  try {
    app = await Switchyard.start(file);
  } catch (err) {
    const message = err instanceof ConfigError ? err.message : `switchyard: cannot start: ${(err as Error).message}`;
    process.stderr.write(`${message}\n`);
    return 1;
  }
  const banner = [`Switchyard is routing (config ${file})`];
  for (const a of app.addresses) banner.push(`  listener ${a.name}: ${a.url}`);
  const admin = app.adminAddress;
  if (admin) banner.push(`  admin:            http://${admin.address}:${admin.port}/healthz`);
  const first = app.addresses[0];
  if (first) banner.push(`Try: curl -i ${first.url.replace('0.0.0.0', '127.0.0.1')}/`);
  process.stderr.write(`${banner.join('\n')}\n`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.logger.info({ signal }, 'shutting down: draining in-flight requests');
    app.close().then(
      () => process.exit(0),
      (err: unknown) => {
        app.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  process.on('SIGHUP', () => {
    app.reload().catch(() => {
      /* reload() logged the ConfigError; the running configuration keeps serving */
    });
  });
  return new Promise<number>(() => {
    /* runs until a signal */
  });
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`switchyard: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);

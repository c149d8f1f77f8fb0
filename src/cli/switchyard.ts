#!/usr/bin/env node
import { parseArgs } from 'node:util';
import { ConfigError } from '../config/config-error.js';
import { configJsonSchema } from '../config/input-json-schema.js';
import { loadConfig } from '../config/load-config.js';
import { Switchyard } from '../main.js';
import { ClusterPrimary, workerCount } from '../cluster-mode/primary.js';
import { attachToPrimary, isClusterWorker } from '../cluster-mode/worker.js';
import { AdminRequestFailed } from './admin-client.js';
import { runAdminCommand } from './admin-commands.js';

const DEFAULT_ADMIN = 'http://127.0.0.1:9901';
import { runSidecar } from '../sidecar/sidecar-command.js';

const USAGE = `Usage: switchyard <command> [options]

Commands:
  start [config]         Start the router (default config: config/default.yaml)
  check <config>         Validate a configuration file without starting
  schema                 Print the configuration's JSON Schema (for editors and validators)
  status                 Show the running router: version, readiness, listeners (protocols, connections)
  routes                 List the routes in the running route table
  services               List services with healthy/total endpoints
  endpoints <service>    List a service's endpoints (health, state, in-flight, weight)
  drain <endpoint>       Stop sending new requests to an endpoint (address:port or instance id)
  undrain <endpoint>     Send requests to a drained endpoint again
  reload                 Reload the configuration file (a bad file is rejected, the old one keeps serving)
  readiness fail|restore Fail /readyz on purpose ahead of a restart (requests are still served), or undo it
  sidecar ...            Run an app instance behind a sidecar (switchyard sidecar --help)
  help                   Show this text

Options for the admin commands:
  --admin <url>          Admin listener URL (default ${DEFAULT_ADMIN})
  --token <token>        Bearer token sent with every admin request: admin.token for drain/undrain/reload/readiness,
                         admin.readToken or admin.token for the reads when admin.readToken is set
                         (default: $SWITCHYARD_ADMIN_TOKEN; prefer it: a flag shows in the process list)
  --service <name>       drain/undrain: only in this service (default: every service with the endpoint)
  --json                 Print the API's JSON instead of a table
  -h, --help             Show this text

Signals (start): SIGHUP reloads the configuration; SIGTERM/SIGINT fail /readyz at once, keep
serving for shutdown.drainDelay (so load balancers stop sending first), then stop accepting,
finish in-flight requests (shutdown.gracePeriod) and exit 0.
With \`workers: N\` (or auto) in the config, start runs a primary that forks N worker processes
sharing the listeners, restarts a worker that dies and relays these signals to every worker.`;

const ADMIN_COMMANDS = new Set(['status', 'routes', 'services', 'endpoints', 'drain', 'undrain', 'reload', 'readiness']);

async function main(argv: string[]): Promise<number> {
  // The sidecar has its own flags (and the app's command after "--"): hand it everything.
  if (argv[0] === 'sidecar') return runSidecar(argv.slice(1));
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        admin: { type: 'string', default: DEFAULT_ADMIN },
        token: { type: 'string' },
        service: { type: 'string' },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    process.stderr.write(`switchyard: ${(err as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed;
  const [command, ...args] = positionals;
  if (values.help || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  switch (command) {
    case 'start':
      return start(args[0] ?? 'config/default.yaml');
    case 'check':
      return check(args[0]);
    case 'schema':
      return schema(args);
    case undefined:
      process.stdout.write(`${USAGE}\n`);
      return 2;
  }
  if (!ADMIN_COMMANDS.has(command)) {
    process.stderr.write(`switchyard: unknown command "${command}"\n\n${USAGE}\n`);
    return 2;
  }
  try {
    return await runAdminCommand(command, args, {
      admin: values.admin,
      token: values.token ?? process.env.SWITCHYARD_ADMIN_TOKEN,
      json: values.json,
      service: values.service,
      out: (text) => process.stdout.write(`${text}\n`),
      err: (text) => process.stderr.write(`${text}\n`),
    });
  } catch (err) {
    if (err instanceof AdminRequestFailed) {
      process.stderr.write(`switchyard ${command}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

async function check(file: string | undefined): Promise<number> {
  if (!file) {
    process.stderr.write('switchyard check: name the configuration file, e.g. switchyard check config/default.yaml\n');
    return 2;
  }
  try {
    const { config, deprecated } = await loadConfig(file);
    for (const use of deprecated) process.stderr.write(`${file}: warning: ${use.message}\n`);
    process.stdout.write(`${file}: OK (${config.listeners.length} listener(s), ${config.routes.length} route(s), registry: ${config.registry.type})\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n`);
    return 1;
  }
}

async function schema(args: string[]): Promise<number> {
  if (args.length > 0) {
    process.stderr.write(`switchyard schema: takes no arguments (got "${args.join(' ')}"); redirect the output to a file: switchyard schema > switchyard.schema.json\n`);
    return 2;
  }
  // Over 64 KiB: wait until a pipe has taken it all, or process.exit() would cut it short.
  // A reader that stops early (`| head`) is not an error of ours (EPIPE); any other write error is.
  await new Promise<void>((resolve, reject) => {
    process.stdout.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' ? resolve() : reject(err)));
    process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`, (err) => (err ? undefined : resolve()));
  });
  return 0;
}

async function start(file: string): Promise<number> {
  const worker = isClusterWorker();
  let app: Switchyard;
  try {
    if (!worker) {
      // `workers` > 1: this process becomes the cluster primary; the workers run the router.
      const { config } = await loadConfig(file);
      if (workerCount(config) > 1) return await new ClusterPrimary(file, config).run();
    }
    app = await Switchyard.start(file, { internalAdmin: worker });
  } catch (err) {
    const message = err instanceof ConfigError ? err.message : `switchyard: cannot start: ${(err as Error).message}`;
    process.stderr.write(`${message}\n`);
    return 1;
  }
  const banner = [`Switchyard is routing (config ${file})`];
  for (const a of app.addresses) banner.push(`  listener ${a.name}: ${a.url} (${a.protocols.join(', ')})`);
  const admin = app.adminAddress;
  if (admin) banner.push(`  admin:            http://${admin.address}:${admin.port}/ (status page, /metrics, /api/v1)`);
  const metrics = app.metricsAddress;
  if (metrics) banner.push(`  metrics:          http://${metrics.address}:${metrics.port}/metrics (/healthz, /readyz)`);
  const first = app.addresses[0];
  if (first) banner.push(`Try: curl -i ${first.url.replace('0.0.0.0', '127.0.0.1')}/`);
  if (!worker) process.stderr.write(`${banner.join('\n')}\n`);

  let stopping = false;
  const stop = (signal: string) => {
    if (stopping) return;
    stopping = true;
    const { drainDelay, gracePeriod } = app.currentConfig.shutdown;
    app.logger.info({ signal, drainDelayMs: drainDelay, gracePeriodMs: gracePeriod }, 'shutdown requested');
    app.shutdown().then(
      () => {
        app.logger.info('shutdown complete');
        // Write out buffered log lines (the destination is asynchronous) before exiting.
        app.logger.flush(() => process.exit(0));
      },
      (err: unknown) => {
        app.logger.error({ err }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  const reload = (signal: string) => {
    app.logger.info({ signal }, 'reloading the configuration');
    app.reload().catch(() => {
      /* reload() logged the ConfigError and recorded it (admin API, metrics); the running configuration keeps serving */
    });
  };
  process.on('SIGHUP', () => reload('SIGHUP'));
  if (worker) attachToPrimary(app, { reload: () => reload('SIGHUP (from the cluster primary)'), stop });
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

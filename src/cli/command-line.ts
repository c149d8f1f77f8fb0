import { parseArgs } from 'node:util';
import { ConfigError } from '../config/config-error.js';
import { configJsonSchema } from '../config/input-json-schema.js';
import { SWITCHYARD_VERSION } from '../observability/build-info.js';
import { runSidecar } from '../sidecar/sidecar-command.js';
import { AdminRequestFailed } from './admin-client.js';
import { runAdminCommand } from './admin-commands.js';
import { DEFAULT_ADMIN, resolveAdminTarget, type AdminAccess } from './admin-target.js';
import { runCheck } from './check-command.js';
import { CliUsageError } from './cli-usage-error.js';
import { runStart } from './start-command.js';

/** The config file used when none is named: $SWITCHYARD_CONFIG, else this one (relative to the working folder). */
const FALLBACK_CONFIG = 'config/default.yaml';

const USAGE = `Usage: switchyard <command> [options]

Commands:
  start [config]         Start the router (config: --config, $SWITCHYARD_CONFIG or ${FALLBACK_CONFIG})
  check [config]         Run start's load path without binding a port: the config, the files it names
                         (certificates, keys, CA files), the registry, the operator state store
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
  help [sidecar]         Show this text (or the sidecar's)

Options:
  --config <file>        start, check: the configuration file (or as the argument);
                         admin commands: read the admin address and token from it
  -V, --version          Print the version
  -h, --help             Show this text

Options for the admin commands:
  --admin <address>      Admin listener, host:port or URL (default: the config's admin section,
                         else ${DEFAULT_ADMIN})
  --token <token>        Bearer token sent with every admin request: admin.token for drain/undrain/reload/readiness,
                         admin.readToken or admin.token for the reads when admin.readToken is set
                         (default: $SWITCHYARD_ADMIN_TOKEN, else the config's admin.token;
                         prefer those: a flag shows in the process list)
  --service <name>       drain/undrain: only in this service (default: every service with the endpoint)
  --json                 Print the API's JSON instead of a table

Signals (start): SIGHUP reloads the configuration; SIGTERM/SIGINT fail /readyz at once, keep
serving for shutdown.drainDelay (so load balancers stop sending first), then stop accepting,
finish in-flight requests (shutdown.gracePeriod) and exit 0.
With \`workers: N\` (or auto) in the config, start runs a primary that forks N worker processes
sharing the listeners, restarts a worker that dies and relays these signals to every worker.`;

/** Each command: how many arguments it takes, their names (for messages), and which options apply. */
interface CommandShape {
  args: readonly string[];
  /** Arguments that may be left out (from the end of `args`). */
  optional: number;
  /** Whether it is an admin command (talks to the admin API), and whether it only reads through it. */
  admin: AdminAccess | false;
  /** Said after an unexpected argument. */
  hint?: string;
}
const COMMANDS: Readonly<Record<string, CommandShape>> = {
  start: { args: ['config'], optional: 1, admin: false },
  check: { args: ['config'], optional: 1, admin: false },
  schema: { args: [], optional: 0, admin: false, hint: 'to write the schema to a file, redirect the output: switchyard schema > switchyard.schema.json' },
  help: { args: ['command'], optional: 1, admin: false },
  status: { args: [], optional: 0, admin: 'read' },
  routes: { args: [], optional: 0, admin: 'read' },
  services: { args: [], optional: 0, admin: 'read' },
  endpoints: { args: ['service'], optional: 1, admin: 'read' },
  drain: { args: ['endpoint'], optional: 1, admin: 'write' },
  undrain: { args: ['endpoint'], optional: 1, admin: 'write' },
  reload: { args: [], optional: 0, admin: 'write' },
  readiness: { args: ['action'], optional: 1, admin: 'write' },
};
const ADMIN_ONLY_OPTIONS = ['admin', 'token', 'service', 'json'] as const;

/** Where the command line's own text goes (the commands it runs write to the process's streams). */
export interface CommandLineOutput {
  out(text: string): void;
  err(text: string): void;
}

/**
 * Runs `switchyard <argv>`; resolves with the exit code: 0, 1 (the command failed), 2 (the
 * command line is wrong: the message names what and how to fix it). `start` resolves only if
 * the router cannot start.
 */
export async function runCommandLine(argv: readonly string[], env: NodeJS.ProcessEnv, io: CommandLineOutput): Promise<number> {
  // The sidecar has its own flags (and the app's command after "--"): hand it everything.
  if (argv[0] === 'sidecar') return runSidecar(argv.slice(1));
  try {
    return await run([...argv], env, io);
  } catch (err) {
    if (err instanceof CliUsageError) {
      io.err(`switchyard: ${err.message}\nRun "switchyard help" for the commands and options.\n`);
      return 2;
    }
    if (err instanceof ConfigError) {
      io.err(`${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

async function run(argv: string[], env: NodeJS.ProcessEnv, io: CommandLineOutput): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        admin: { type: 'string' },
        token: { type: 'string' },
        service: { type: 'string' },
        json: { type: 'boolean' },
        config: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        version: { type: 'boolean', short: 'V' },
      },
    });
  } catch (err) {
    // parseArgs explains itself ("Unknown option '--x'. To specify a positional ..."): its first sentence is enough.
    throw new CliUsageError((err as Error).message.split(/\.( |\n|$)/)[0]!);
  }
  const { values, positionals } = parsed;
  const [command, ...args] = positionals;
  if (values.version) {
    io.out(`switchyard ${SWITCHYARD_VERSION}\n`);
    return 0;
  }
  if (values.help) return help(command, io);
  if (command === undefined) {
    io.err(`${USAGE}\n`);
    return 2;
  }
  const shape = COMMANDS[command];
  if (command === 'sidecar') throw new CliUsageError('sidecar takes options of its own: put "sidecar" first, e.g. switchyard sidecar --config sidecar.yaml');
  if (shape === undefined) throw new CliUsageError(`unknown command "${command}"`);
  if (args.length > shape.args.length) {
    const extra = args.slice(shape.args.length);
    const takes = shape.args.length === 0 ? 'takes no arguments' : `takes ${shape.optional > 0 ? 'at most ' : ''}one argument (${shape.args.join(', ')})`;
    const hint = shape.hint === undefined ? '' : `; ${shape.hint}`;
    throw new CliUsageError(`${command} ${takes}; unexpected argument${extra.length > 1 ? 's' : ''} ${extra.map((a) => `"${a}"`).join(' ')}${hint}`);
  }
  if (!shape.admin) {
    const misplaced = ADMIN_ONLY_OPTIONS.filter((o) => values[o] !== undefined);
    if (misplaced.length > 0) throw new CliUsageError(`${misplaced.map((o) => `--${o}`).join(', ')} applies to the admin commands only, not to ${command}`);
  }
  const defaultConfig = { file: env.SWITCHYARD_CONFIG || FALLBACK_CONFIG, explicit: Boolean(env.SWITCHYARD_CONFIG) };
  if (values.config !== undefined && (command === 'schema' || command === 'help')) throw new CliUsageError(`--config does not apply to ${command}`);

  switch (command) {
    case 'help':
      return help(args[0], io);
    case 'start':
      return runStart(configArgument(command, args[0], values.config, defaultConfig.file));
    case 'check':
      return runCheck(configArgument(command, args[0], values.config, defaultConfig.file), env, io);
    case 'schema':
      return schema();
  }
  try {
    const target = await resolveAdminTarget({ admin: values.admin, token: values.token, config: values.config }, defaultConfig, env, shape.admin === false ? 'write' : shape.admin);
    return await runAdminCommand(command, args, {
      admin: target.url,
      adminFrom: target.addressFrom,
      token: target.token,
      json: values.json ?? false,
      service: values.service,
      out: (text) => io.out(`${text}\n`),
      err: (text) => io.err(`${text}\n`),
    });
  } catch (err) {
    if (err instanceof AdminRequestFailed) {
      io.err(`switchyard ${command}: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

/** The config file of start and check: the argument or --config (not both), else the default. */
function configArgument(command: string, argument: string | undefined, flag: string | undefined, fallback: string): string {
  if (argument !== undefined && flag !== undefined) {
    throw new CliUsageError(`${command}: give the configuration file once, as the argument ("${argument}") or with --config ("${flag}")`);
  }
  return argument ?? flag ?? fallback;
}

function help(topic: string | undefined, io: CommandLineOutput): Promise<number> {
  if (topic === 'sidecar') return runSidecar(['--help']);
  if (topic !== undefined && COMMANDS[topic] === undefined) throw new CliUsageError(`help: unknown command "${topic}"`);
  io.out(`${USAGE}\n`);
  return Promise.resolve(0);
}

async function schema(): Promise<number> {
  // Over 64 KiB: wait until a pipe has taken it all, or process.exit() would cut it short.
  // A reader that stops early (`| head`) is not an error of ours (EPIPE); any other write error is.
  await new Promise<void>((resolve, reject) => {
    process.stdout.once('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' ? resolve() : reject(err)));
    process.stdout.write(`${JSON.stringify(configJsonSchema(), null, 2)}\n`, (err) => (err ? undefined : resolve()));
  });
  return 0;
}


import { dirname, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ConfigError, formatPath } from '../config/config-error.js';
import { loadConfig } from '../config/load-config.js';
import { configSchema, type Config } from '../config/schema.js';
import type { SidecarConfig } from '../config/sidecar-schema.js';

/** A sidecar configuration: the whole config (proxy, limits, logging, ...) with its sidecar section. */
export type SidecarRunConfig = Config & { sidecar: SidecarConfig };

/** What a command-line flag sets: its path in the `sidecar` section and how to read its value. */
interface FlagSpec {
  path: readonly string[];
  /** duration and size take a plain number as milliseconds / bytes, or text such as "5s" / "256MiB". */
  kind: 'string' | 'number' | 'duration' | 'size' | 'list' | 'meta' | 'boolean';
  help: string;
}

/** Every flag of `switchyard sidecar`; the config file's `sidecar:` section has the same fields. */
export const SIDECAR_FLAGS: Readonly<Record<string, FlagSpec>> = {
  service: { path: ['service'], kind: 'string', help: 'Service name to register (required)' },
  port: { path: ['port'], kind: 'number', help: 'Inbound port: clients and Consul use it (required)' },
  'app-port': { path: ['app', 'port'], kind: 'number', help: 'Port of the first app instance (required); instance i gets app-port + i' },
  instances: { path: ['app', 'instances'], kind: 'number', help: 'App instances on consecutive ports (default 1)' },
  'port-env': { path: ['app', 'portEnv'], kind: 'string', help: 'Environment variable that carries the port (default PORT)' },
  address: { path: ['inbound', 'address'], kind: 'string', help: 'Inbound listen address (default 0.0.0.0)' },
  'inbound-protocol': { path: ['inbound', 'protocols'], kind: 'list', help: 'Inbound protocol: http1, h2c (h2 needs tls: config file) (repeat; default http1)' },
  'app-protocol': { path: ['app', 'protocol'], kind: 'string', help: 'What the app speaks: http1 (default), h2c or grpc' },
  'health-type': { path: ['app', 'healthCheck', 'type'], kind: 'string', help: 'App health check: http (default) or grpc (grpc.health.v1)' },
  'health-path': { path: ['app', 'healthCheck', 'path'], kind: 'string', help: 'App health path (default /health)' },
  'health-grpc-service': { path: ['app', 'healthCheck', 'grpcService'], kind: 'string', help: 'Service name of a grpc health check (default "": overall)' },
  'health-interval': { path: ['app', 'healthCheck', 'interval'], kind: 'duration', help: 'App health check interval (default 1s)' },
  'max-concurrent': { path: ['inbound', 'maxConcurrent'], kind: 'number', help: 'Requests forwarded at once (default 100)' },
  queue: { path: ['inbound', 'queue'], kind: 'number', help: 'Requests waiting beyond that; more → 503 (default 100)' },
  'request-timeout': { path: ['inbound', 'requestTimeout'], kind: 'duration', help: 'Time for the app to answer → 504 (default 30s)' },
  'stop-grace': { path: ['app', 'stopGrace'], kind: 'duration', help: 'SIGTERM → SIGKILL grace (default 10s)' },
  'crash-loop-restarts': { path: ['app', 'restart', 'crashLoopRestarts'], kind: 'number', help: 'Restarts within the window before giving up (default 5)' },
  'crash-loop-window': { path: ['app', 'restart', 'crashLoopWindow'], kind: 'duration', help: 'Crash-loop window (default 60s)' },
  'initial-backoff': { path: ['app', 'restart', 'initialBackoff'], kind: 'duration', help: 'First restart delay, doubling (default 200ms)' },
  'max-old-space': { path: ['app', 'memory', 'maxOldSpace'], kind: 'size', help: 'Node apps: V8 heap limit via NODE_OPTIONS, e.g. 256MiB' },
  'rss-limit': { path: ['app', 'memory', 'rssLimit'], kind: 'size', help: 'Restart an instance whose RSS stays above this, e.g. 512MiB' },
  'rss-limit-for': { path: ['app', 'memory', 'rssLimitFor'], kind: 'duration', help: 'How long the RSS must stay above the limit (default 30s)' },
  'memory-max': { path: ['app', 'limits', 'memoryMax'], kind: 'size', help: 'Hard memory limit per instance (cgroup; swap off), e.g. 256MiB' },
  'cpu-max': { path: ['app', 'limits', 'cpuMax'], kind: 'number', help: 'CPUs per instance (cgroup quota), e.g. 0.5' },
  'pids-max': { path: ['app', 'limits', 'pidsMax'], kind: 'number', help: 'Processes and threads per instance (cgroup), e.g. 64' },
  cgroup: { path: ['app', 'limits', 'cgroup'], kind: 'string', help: 'cgroup version for the limits: auto (default), v2 or v1' },
  consul: { path: ['consul', 'address'], kind: 'string', help: 'Consul agent address (default $CONSUL_HTTP_ADDR or 127.0.0.1:8500)' },
  'no-consul': { path: ['consul', 'enabled'], kind: 'boolean', help: 'Do not register in Consul' },
  id: { path: ['consul', 'id'], kind: 'string', help: 'Service ID (default <service>-<hostname>-<port>)' },
  'advertise-address': { path: ['consul', 'advertiseAddress'], kind: 'string', help: 'Address registered in Consul' },
  tag: { path: ['consul', 'tags'], kind: 'list', help: 'Service tag (repeatable)' },
  meta: { path: ['consul', 'meta'], kind: 'meta', help: 'Service meta key=value (repeatable)' },
  check: { path: ['consul', 'check', 'type'], kind: 'string', help: 'Consul check: ttl (default) or http' },
  ttl: { path: ['consul', 'check', 'ttl'], kind: 'duration', help: 'TTL of the Consul check (default 10s)' },
  'deregister-critical-after': { path: ['consul', 'check', 'deregisterCriticalAfter'], kind: 'duration', help: 'Agent removes the instance after this long critical' },
  'egress-port': { path: ['egress', 'port'], kind: 'number', help: 'Start the egress listener on this port (127.0.0.1)' },
  'egress-address': { path: ['egress', 'address'], kind: 'string', help: 'Egress listen address (default 127.0.0.1)' },
  'connect-port': { path: ['connect', 'port'], kind: 'number', help: 'Join the Consul service mesh: mTLS listener on this port (connect-proxy registration)' },
  'connect-address': { path: ['connect', 'address'], kind: 'string', help: 'Address of the mTLS listener (default 0.0.0.0)' },
  'admin-port': { path: ['admin', 'port'], kind: 'number', help: 'Serve /metrics and /status on this port (127.0.0.1)' },
  'admin-address': { path: ['admin', 'address'], kind: 'string', help: 'Admin listen address (default 127.0.0.1)' },
  'drain-delay': { path: ['shutdown', 'drainDelay'], kind: 'duration', help: 'Keep serving after maintenance is on (default 2s)' },
  'drain-timeout': { path: ['shutdown', 'drainTimeout'], kind: 'duration', help: 'Longest wait for in-flight requests (default 30s)' },
};

export const SIDECAR_USAGE = `Usage: switchyard sidecar [flags] -- <app command> [args...]
       switchyard sidecar --config <file>     (the file's "sidecar:" section)
       switchyard sidecar <file>              (the same)

Flags:
${Object.entries(SIDECAR_FLAGS)
  .map(([name, f]) => `  --${`${name}${f.kind === 'boolean' ? '' : ' <v>'}`.padEnd(32)}${f.help}`)
  .join('\n')}
  --log-level <level>               fatal, error, warn, info (default), debug, trace, silent
  --tracing                         W3C trace context on inbound and egress, trace ids in access lines (tracing.enabled)

Signals: SIGTERM/SIGINT → maintenance, drain, deregister, stop the app, exit 0;
SIGHUP, SIGUSR1, SIGUSR2 are forwarded to the app. Exit code 1 after a crash loop.`;

/** A problem with the command line, phrased for the person who typed it. */
export class SidecarUsageError extends Error {
  override readonly name = 'SidecarUsageError';
}

/**
 * Turns `switchyard sidecar` arguments into a validated configuration: either `--config
 * <file>` or the file as the one argument, like `switchyard start` takes it (validated with
 * file/line errors; the file needs a `sidecar:` section), or flags
 * plus the app command after `--`, validated by the same schema with errors named by flag.
 */
export async function parseSidecarArgs(argv: readonly string[]): Promise<SidecarRunConfig> {
  const dashDash = argv.indexOf('--');
  const flagArgs = dashDash < 0 ? [...argv] : argv.slice(0, dashDash);
  const command = dashDash < 0 ? [] : argv.slice(dashDash + 1);
  const options: Record<string, { type: 'string' | 'boolean'; multiple?: boolean }> = { config: { type: 'string' }, 'log-level': { type: 'string' }, tracing: { type: 'boolean' } };
  for (const [name, f] of Object.entries(SIDECAR_FLAGS)) {
    options[name] = { type: f.kind === 'boolean' ? 'boolean' : 'string', ...(f.kind === 'list' || f.kind === 'meta' ? { multiple: true } : {}) };
  }
  let values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  let positionals: string[];
  try {
    ({ values, positionals } = parseArgs({ args: flagArgs, options, allowPositionals: true, strict: true }));
  } catch (err) {
    throw new SidecarUsageError(`${(err as Error).message.split('\n')[0]}; the app command goes after "--"`);
  }
  if (positionals.length > 1) {
    throw new SidecarUsageError(`unexpected arguments ${positionals.map((p) => `"${p}"`).join(' ')}: give one configuration file, or flags with the app command after "--"`);
  }
  if (positionals.length === 1) {
    if (values.config !== undefined) throw new SidecarUsageError(`give the configuration file once, as the argument ("${positionals[0]}") or with --config ("${String(values.config)}")`);
    values.config = positionals[0];
  }

  if (typeof values.config === 'string') {
    const others = Object.keys(values).filter((k) => k !== 'config');
    if (others.length > 0 || command.length > 0) {
      throw new SidecarUsageError(`--config cannot be combined with ${others.length > 0 ? others.map((k) => `--${k}`).join(', ') : 'an app command'}: set these in the file's "sidecar:" section`);
    }
    const { config } = await loadConfig(values.config);
    if (!config.sidecar) throw new ConfigError(values.config, [{ path: 'sidecar', message: 'is required for "switchyard sidecar" (see docs/sidecar.md)' }]);
    return resolveSidecarPaths(config as SidecarRunConfig, values.config);
  }

  const sidecar: Record<string, unknown> = {};
  for (const [name, f] of Object.entries(SIDECAR_FLAGS)) {
    const value = values[name];
    if (value === undefined) continue;
    setPath(sidecar, f.path, flagValue(name, f, value));
  }
  if (values['egress-port'] !== undefined || values['egress-address'] !== undefined) setPath(sidecar, ['egress', 'enabled'], true);
  if (values['admin-port'] !== undefined || values['admin-address'] !== undefined) setPath(sidecar, ['admin', 'enabled'], true);
  if (values['connect-port'] !== undefined || values['connect-address'] !== undefined) setPath(sidecar, ['connect', 'enabled'], true);
  if (command.length > 0) setPath(sidecar, ['app', 'command'], command);
  const raw: Record<string, unknown> = { sidecar };
  if (typeof values['log-level'] === 'string') raw.logging = { level: values['log-level'] };
  if (values.tracing === true) raw.tracing = { enabled: true };

  const result = configSchema.safeParse(raw);
  if (result.success) return result.data as SidecarRunConfig;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.map(String);
    if (path.join('.') === 'sidecar.app.command') return 'the app command is missing: put it after "--", e.g. switchyard sidecar --service orders --port 8081 --app-port 3000 -- node app.js';
    if (path[0] === 'logging') return `--log-level: ${issue.message}`;
    const flag = Object.entries(SIDECAR_FLAGS).find(([, f]) => f.path.join('.') === path.slice(1).join('.'))?.[0];
    const message = issue.code === 'invalid_type' && issue.message.includes('undefined') ? 'is required' : issue.message.replace(/^Invalid input: /, 'must be: ');
    return flag ? `--${flag}: ${message}` : `${formatPath(issue.path)}: ${message}`;
  });
  throw new SidecarUsageError(problems.join('\n'));
}

/** The inbound certificate files made absolute, relative to the config file's folder (as a router listener's). */
export function resolveSidecarPaths(config: SidecarRunConfig, configFile: string): SidecarRunConfig {
  const tls = config.sidecar.inbound.tls;
  if (tls === undefined) return config;
  const at = (p: string) => resolve(dirname(configFile), p);
  const resolved = {
    ...tls,
    cert: at(tls.cert),
    key: at(tls.key),
    certificates: tls.certificates.map((c) => ({ cert: at(c.cert), key: at(c.key) })),
    ...(tls.clientCertificate !== undefined ? { clientCertificate: { ...tls.clientCertificate, ca: at(tls.clientCertificate.ca) } } : {}),
  };
  return { ...config, sidecar: { ...config.sidecar, inbound: { ...config.sidecar.inbound, tls: resolved } } };
}

function flagValue(name: string, f: FlagSpec, value: string | boolean | (string | boolean)[]): unknown {
  switch (f.kind) {
    case 'boolean':
      // The only boolean flag is a negation (--no-consul).
      return !value;
    case 'number':
    case 'duration':
    case 'size': {
      const n = Number(value);
      return typeof value === 'string' && value.trim() !== '' && Number.isFinite(n) ? n : value;
    }
    case 'list':
      return value;
    case 'meta': {
      const meta: Record<string, string> = {};
      for (const pair of value as string[]) {
        const eq = pair.indexOf('=');
        if (eq <= 0) throw new SidecarUsageError(`--${name}: "${pair}" must be key=value`);
        meta[pair.slice(0, eq)] = pair.slice(eq + 1);
      }
      return meta;
    }
    case 'string':
      return value;
  }
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const key of path.slice(0, -1)) node = (node[key] ??= {}) as Record<string, unknown>;
  node[path[path.length - 1]!] = value;
}

import { existsSync } from 'node:fs';
import { loadConfig } from '../config/load-config.js';
import { AdminRequestFailed } from './admin-client.js';
import { CliUsageError } from './cli-usage-error.js';

/** The admin listener the admin commands talk to when nothing names one. */
export const DEFAULT_ADMIN = 'http://127.0.0.1:9901';

/** Where the admin commands send their requests, and with which token. */
export interface AdminTarget {
  /** An origin such as http://127.0.0.1:9901. */
  url: string;
  token: string | undefined;
  /** The config file the address came from (for messages); undefined for --admin or the default. */
  addressFrom: string | undefined;
}

/**
 * The admin API's origin from `--admin`: a URL (http or https) or host:port, taken as http.
 * Throws CliUsageError naming the value and the accepted forms.
 */
export function adminUrl(value: string): string {
  const accepted = 'give host:port (e.g. 127.0.0.1:9901) or a URL (e.g. http://127.0.0.1:9901)';
  const text = value.trim();
  const hasScheme = /^[a-z][a-z0-9+.-]*:\/\//i.test(text);
  let url: URL;
  try {
    url = new URL(hasScheme ? text : `http://${text}`);
  } catch {
    throw new CliUsageError(`--admin "${value}" is not an address: ${accepted}`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new CliUsageError(`--admin "${value}": the admin API speaks http or https, not ${url.protocol.slice(0, -1)}`);
  if (!hasScheme && url.port === '') throw new CliUsageError(`--admin "${value}" has no port: ${accepted}`);
  if (url.username !== '' || url.password !== '') throw new CliUsageError(`--admin "${value}": leave credentials out of the address; pass the token with --token or SWITCHYARD_ADMIN_TOKEN`);
  return url.origin;
}

/** The admin listener's origin as a client on this host reaches it: a wildcard address becomes loopback. */
function reachableOrigin(address: string, port: number): string {
  const host = address === '0.0.0.0' || address === '' ? '127.0.0.1' : address === '::' ? '::1' : address;
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/** What an admin command does with the admin API: reads only (status, routes, ...), or changes something. */
export type AdminAccess = 'read' | 'write';

/**
 * Resolves the admin target of an admin command, first match wins:
 * - the address: `--admin`; else the admin section (address, port) of the config file
 *   (`--config`, else the default config file when it exists); else DEFAULT_ADMIN;
 * - the token: `--token`; else $SWITCHYARD_ADMIN_TOKEN; else that config file's admin.token, or
 *   for a command that only reads (`access` read) its admin.readToken when it has one (the
 *   least privilege that does the job: the admin token is not sent where reading suffices),
 *   else admin.token (neither is read when `--admin` is given without `--config`).
 * A config file named with --config (or $SWITCHYARD_CONFIG, `explicit`) must load; one that
 * does not throws its ConfigError.
 */
export async function resolveAdminTarget(
  flags: { admin: string | undefined; token: string | undefined; config: string | undefined },
  defaultConfig: { file: string; explicit: boolean },
  env: NodeJS.ProcessEnv,
  access: AdminAccess,
): Promise<AdminTarget> {
  const flagUrl = flags.admin === undefined ? undefined : adminUrl(flags.admin);
  const envToken = env.SWITCHYARD_ADMIN_TOKEN === '' ? undefined : env.SWITCHYARD_ADMIN_TOKEN;
  // An address typed with --admin is not paired with the default config's token (it may be
  // another router); --config pairs them explicitly.
  if (flagUrl !== undefined && flags.config === undefined) return { url: flagUrl, token: flags.token ?? envToken, addressFrom: undefined };
  const configFile = flags.config ?? (defaultConfig.explicit || existsSync(defaultConfig.file) ? defaultConfig.file : undefined);
  if (configFile === undefined) return { url: DEFAULT_ADMIN, token: flags.token ?? envToken, addressFrom: undefined };
  const { config } = await loadConfig(configFile);
  if (flagUrl === undefined && !config.admin.enabled) {
    throw new AdminRequestFailed(`the admin listener is off in ${configFile} (admin.enabled: false): there is no admin API to talk to; give its address with --admin if another router has one`);
  }
  return {
    url: flagUrl ?? reachableOrigin(config.admin.address, config.admin.port),
    token: flags.token ?? envToken ?? (access === 'read' ? (config.admin.readToken ?? config.admin.token) : config.admin.token),
    addressFrom: flagUrl !== undefined ? undefined : configFile,
  };
}

import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { ConsulRegistryConfig } from '../../config/schema.js';

/** Where Consul is and how to talk to it, after config and environment are merged. */
export interface ConsulConnection {
  /** "http://host:port" or "https://host:port". */
  origin: string;
  token: string | null;
  datacenter: string | null;
  tls: { ca?: string; cert?: string; key?: string; servername?: string; rejectUnauthorized: boolean } | null;
  connections: number;
  timeoutMs: number;
  /** Read mode: `stale` (any server answers), `default` (the leader) or `consistent` (leader + quorum check). */
  consistency: 'default' | 'stale' | 'consistent';
  /** Stale reads older than this (X-Consul-LastContact) are read again from the leader; 0 = never. */
  maxStaleMs: number;
}

const DEFAULT_ADDRESS = '127.0.0.1:8500';

/**
 * Merges the config with Consul's standard environment, as Consul's own CLI reads it; a field
 * set in the config wins over its variable:
 * - `address` ← CONSUL_HTTP_ADDR, then 127.0.0.1:8500; "https://" turns TLS on, and so does
 *   CONSUL_HTTP_SSL=true for an address written without a scheme;
 * - `token` ← CONSUL_HTTP_TOKEN;
 * - `tls.ca` ← CONSUL_CACERT, `tls.cert`/`tls.key` ← CONSUL_CLIENT_CERT/CONSUL_CLIENT_KEY,
 *   `tls.serverName` ← CONSUL_TLS_SERVER_NAME, `tls.verify` ← CONSUL_HTTP_SSL_VERIFY.
 * TLS files from the config are read relative to the config file's folder, those from the
 * environment relative to the working folder (as the CLI does).
 */
export async function resolveConsulConnection(config: ConsulRegistryConfig, configFile: string, env: NodeJS.ProcessEnv = process.env): Promise<ConsulConnection> {
  const address = config.address ?? (env.CONSUL_HTTP_ADDR || DEFAULT_ADDRESS);
  const sslFromEnv = envBoolean(env, 'CONSUL_HTTP_SSL');
  const origin = consulOrigin(address, sslFromEnv === true);
  const secure = origin.startsWith('https://');
  const base = dirname(configFile);
  // The client certificate and key come as a pair: both from the config, or both from the environment.
  const pairFromConfig = config.tls.cert !== undefined;
  /** A TLS file: the config's field, else (unless `envAllowed` is false) the variable's. */
  const read = async (field: 'ca' | 'cert' | 'key', variable: string, envAllowed = true) => {
    const configured = config.tls[field];
    if (configured !== undefined) return readTlsFile(resolve(base, configured), `registry.tls.${field}`, `fix the path (relative to ${configFile})`);
    const fromEnv = env[variable];
    if (!envAllowed || !fromEnv) return undefined;
    return readTlsFile(resolve(fromEnv), `$${variable}`, `fix or unset ${variable} (a path relative to the working folder)`);
  };
  if (secure && !pairFromConfig && Boolean(env.CONSUL_CLIENT_CERT) !== Boolean(env.CONSUL_CLIENT_KEY)) {
    const missing = env.CONSUL_CLIENT_CERT ? 'CONSUL_CLIENT_KEY' : 'CONSUL_CLIENT_CERT';
    throw new Error(`CONSUL_CLIENT_CERT and CONSUL_CLIENT_KEY go together, but ${missing} is not set: set both (or registry.tls.cert and key) or neither`);
  }
  const verify = config.tls.verify ?? (config.tls.insecureSkipVerify !== undefined ? !config.tls.insecureSkipVerify : (envBoolean(env, 'CONSUL_HTTP_SSL_VERIFY') ?? true));
  return {
    origin,
    token: config.token ?? (env.CONSUL_HTTP_TOKEN || null),
    datacenter: config.datacenter ?? null,
    tls: secure
      ? {
          ca: await read('ca', 'CONSUL_CACERT'),
          cert: await read('cert', 'CONSUL_CLIENT_CERT', !pairFromConfig),
          key: await read('key', 'CONSUL_CLIENT_KEY', !pairFromConfig),
          servername: config.tls.serverName ?? (env.CONSUL_TLS_SERVER_NAME || undefined),
          rejectUnauthorized: verify,
        }
      : null,
    connections: config.connections,
    timeoutMs: config.timeout,
    consistency: config.consistency,
    maxStaleMs: config.maxStale,
  };
}

async function readTlsFile(path: string, source: string, fix: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    throw new Error(`${source}: cannot read ${path}: ${(err as Error).message}. ${fix[0]!.toUpperCase()}${fix.slice(1)}.`);
  }
}

/** A boolean variable as Consul parses it (1/t/true/0/f/false, any case), undefined when unset or empty. */
function envBoolean(env: NodeJS.ProcessEnv, name: string): boolean | undefined {
  const raw = env[name];
  if (raw === undefined || raw === '') return undefined;
  const value = raw.trim().toLowerCase();
  if (value === '1' || value === 't' || value === 'true') return true;
  if (value === '0' || value === 'f' || value === 'false') return false;
  throw new Error(`${name}=${JSON.stringify(raw)} is not a boolean: set it to true or false (or unset it)`);
}

/** "host:port" → "http://host:port" ("https://" when `secureByDefault`); URLs keep their scheme. Throws on anything else. */
export function consulOrigin(address: string, secureByDefault = false): string {
  const withScheme = /^https?:\/\//i.test(address) ? address : `${secureByDefault ? 'https' : 'http'}://${address}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`Consul address "${address}" is not "host:port" or an http(s) URL; fix registry.address or CONSUL_HTTP_ADDR`);
  }
  const port = url.port || (url.protocol === 'https:' ? '443' : '8500');
  return `${url.protocol}//${url.hostname}:${port}`;
}

/**
 * Names the registry a persisted view (registry.persistView) was read from: Consul's address,
 * datacenter and tag filter. A view saved under another scope is not served.
 */
export function persistedViewScope(connection: ConsulConnection, tags: readonly string[]): string {
  return `${connection.origin} dc=${connection.datacenter ?? '(agent)'} tags=${tags.join(',')}`;
}

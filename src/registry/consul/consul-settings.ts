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
 * Merges the config with the standard environment: `address` falls back to CONSUL_HTTP_ADDR
 * then 127.0.0.1:8500, `token` to CONSUL_HTTP_TOKEN. "https://" in the address turns TLS on;
 * TLS files are read relative to the config file's folder.
 */
export async function resolveConsulConnection(config: ConsulRegistryConfig, configFile: string, env: NodeJS.ProcessEnv = process.env): Promise<ConsulConnection> {
  const address = config.address ?? (env.CONSUL_HTTP_ADDR || DEFAULT_ADDRESS);
  const origin = consulOrigin(address);
  const secure = origin.startsWith('https://');
  const base = dirname(configFile);
  const read = async (field: string, path: string | undefined) => {
    if (path === undefined) return undefined;
    const full = resolve(base, path);
    try {
      return await readFile(full, 'utf8');
    } catch (err) {
      throw new Error(`registry.tls.${field}: cannot read ${full}: ${(err as Error).message}. Fix the path (relative to ${configFile}).`);
    }
  };
  return {
    origin,
    token: config.token ?? (env.CONSUL_HTTP_TOKEN || null),
    datacenter: config.datacenter ?? null,
    tls: secure
      ? {
          ca: await read('ca', config.tls.ca),
          cert: await read('cert', config.tls.cert),
          key: await read('key', config.tls.key),
          servername: config.tls.serverName,
          rejectUnauthorized: !config.tls.insecureSkipVerify,
        }
      : null,
    connections: config.connections,
    timeoutMs: config.timeout,
    consistency: config.consistency,
    maxStaleMs: config.maxStale,
  };
}

/** "host:port" → "http://host:port"; URLs keep their scheme. Throws on anything else. */
export function consulOrigin(address: string): string {
  const withScheme = /^https?:\/\//i.test(address) ? address : `http://${address}`;
  let url: URL;
  try {
    url = new URL(withScheme);
  } catch {
    throw new Error(`Consul address "${address}" is not "host:port" or an http(s) URL; fix registry.address or CONSUL_HTTP_ADDR`);
  }
  const port = url.port || (url.protocol === 'https:' ? '443' : '8500');
  return `${url.protocol}//${url.hostname}:${port}`;
}

import { readFileSync } from 'node:fs';
import type { ConnectionOptions } from 'node:tls';
import { upstreamServerName, type ServiceConfig, type UpstreamTlsConfig } from '../config/schema.js';
import type { ServiceInstance } from '../registry/service-instance.js';
import { declaresHttp2OverTls } from './upstream-protocol.js';

const DEFAULT_TLS: UpstreamTlsConfig = { verify: true };

/**
 * TLS an instance declares through the registry other than by meta (e.g. a route tag with
 * `proto=https`), or undefined. Must return the same object for the same answer: options are
 * cached per object, and a different object means "TLS changed" (the pool is rebuilt).
 */
export type InstanceTlsResolver = (instance: ServiceInstance) => UpstreamTlsConfig | undefined;

/** No TLS declared beyond the service settings and instance meta. */
export const NO_DECLARED_TLS: InstanceTlsResolver = () => undefined;

/** CA files read once per configuration object (settings are replaced whole on reload). */
const prepared = new WeakMap<UpstreamTlsConfig, ConnectionOptions>();

/**
 * TLS options towards an instance, or null for plain HTTP. TLS is on when the service has a
 * `tls` section (which wins), the registry declares it for the instance (`declared`, e.g. a
 * `proto=https` route tag), the instance says `proto: https` (or `h2`, `grpcs`) in its meta, or
 * the service's protocol is h2 (HTTP/2 over TLS); verification is
 * on unless `verify: false`; with `cert` and `key` the client certificate is presented to instances
 * that ask for one. The files are read when the settings are first used (control plane, at
 * endpoint creation), not per request; a missing file throws with its path.
 */
export function upstreamTlsOptions(instance: ServiceInstance, settings: ServiceConfig, declared?: UpstreamTlsConfig): ConnectionOptions | null {
  const tls = settings.tls ?? declared ?? (instance.meta.proto === 'https' || settings.protocol === 'h2' || declaresHttp2OverTls(instance) ? DEFAULT_TLS : undefined);
  if (tls === undefined) return null;
  let options = prepared.get(tls);
  if (options === undefined) {
    options = { rejectUnauthorized: tls.verify };
    const serverName = upstreamServerName(tls);
    if (serverName !== undefined) options.servername = serverName;
    if (tls.ca !== undefined) options.ca = readTlsFile(tls.ca, 'CA', 'ca');
    if (tls.cert !== undefined && tls.key !== undefined) {
      // Mutual TLS: the client certificate the instances ask for.
      options.cert = readTlsFile(tls.cert, 'client certificate', 'cert');
      options.key = readTlsFile(tls.key, 'client key', 'key');
    }
    prepared.set(tls, options);
  }
  return options;
}

/**
 * TLS settings built in code rather than read from files (the sidecar's Connect identity: a
 * certificate from the Consul agent and a server checked by its SPIFFE URI). The returned object
 * is what an InstanceTlsResolver hands back; endpoints built for it use `options` as they are.
 * A new call (new certificates) gives a new object, so the endpoints' pools are rebuilt.
 */
export function preparedUpstreamTls(options: ConnectionOptions): UpstreamTlsConfig {
  const config: UpstreamTlsConfig = { verify: options.rejectUnauthorized !== false };
  prepared.set(config, options);
  return config;
}

function readTlsFile(path: string, what: string, field: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw new Error(`cannot read the upstream TLS ${what} file ${path} (services.<name>.tls.${field}): ${(err as Error).message}`);
  }
}

import { access, constants } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError, type ConfigProblem } from './config-error.js';
import type { Config } from './schema.js';

/**
 * The configuration with its file paths (listener certificates, keys and client CA, upstream CA
 * and client certificate files)
 * made absolute, relative to the config file's folder. Returns a new object.
 */
export function resolveConfigPaths(config: Config, configFile: string): Config {
  const dir = dirname(configFile);
  const at = (p: string) => resolve(dir, p);
  return {
    ...config,
    listeners: config.listeners.map((l) =>
      l.tls === undefined
        ? l
        : {
            ...l,
            tls: {
              ...l.tls,
              cert: at(l.tls.cert),
              key: at(l.tls.key),
              certificates: l.tls.certificates.map((c) => ({ cert: at(c.cert), key: at(c.key) })),
              ...(l.tls.clientCertificate !== undefined ? { clientCertificate: { ...l.tls.clientCertificate, ca: at(l.tls.clientCertificate.ca) } } : {}),
            },
          },
    ),
    services: Object.fromEntries(
      Object.entries(config.services).map(([name, s]) => {
        const tls = s.tls;
        if (tls === undefined) return [name, s];
        const files = { ca: tls.ca, cert: tls.cert, key: tls.key };
        const resolved = Object.fromEntries(Object.entries(files).flatMap(([k, p]) => (p === undefined ? [] : [[k, at(p)]])));
        return [name, { ...s, tls: { ...tls, ...resolved } }];
      }),
    ),
  };
}

/**
 * Checks that every file the configuration names (already absolute) can be read, so a missing
 * certificate or CA is a configuration error at load, not a failure on the first connection.
 */
export async function checkConfigFiles(config: Config, configFile: string): Promise<void> {
  const files: { path: string; field: string }[] = [];
  config.listeners.forEach((l, i) => {
    if (l.tls === undefined) return;
    files.push({ path: l.tls.cert, field: `listeners[${i}].tls.cert` }, { path: l.tls.key, field: `listeners[${i}].tls.key` });
    l.tls.certificates.forEach((c, j) => files.push({ path: c.cert, field: `listeners[${i}].tls.certificates[${j}].cert` }, { path: c.key, field: `listeners[${i}].tls.certificates[${j}].key` }));
    if (l.tls.clientCertificate !== undefined) files.push({ path: l.tls.clientCertificate.ca, field: `listeners[${i}].tls.clientCertificate.ca` });
  });
  for (const [name, s] of Object.entries(config.services)) {
    for (const field of ['ca', 'cert', 'key'] as const) {
      const path = s.tls?.[field];
      if (path !== undefined) files.push({ path, field: `services.${name}.tls.${field}` });
    }
  }
  const problems: ConfigProblem[] = [];
  await Promise.all(
    files.map(async (f) => {
      try {
        await access(f.path, constants.R_OK);
      } catch (err) {
        problems.push({ path: f.field, message: `cannot read the file ${f.path}: ${(err as Error).message}` });
      }
    }),
  );
  if (problems.length > 0) throw new ConfigError(configFile, problems);
}

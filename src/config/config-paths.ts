import { access, constants } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError, type ConfigProblem } from './config-error.js';
import type { Config } from './schema.js';

/**
 * The configuration with its file paths (listener certificates and keys, upstream CA files)
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
            tls: { ...l.tls, cert: at(l.tls.cert), key: at(l.tls.key), certificates: l.tls.certificates.map((c) => ({ cert: at(c.cert), key: at(c.key) })) },
          },
    ),
    services: Object.fromEntries(
      Object.entries(config.services).map(([name, s]) => [name, s.tls?.ca === undefined ? s : { ...s, tls: { ...s.tls, ca: at(s.tls.ca) } }]),
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
  });
  for (const [name, s] of Object.entries(config.services)) if (s.tls?.ca !== undefined) files.push({ path: s.tls.ca, field: `services.${name}.tls.ca` });
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

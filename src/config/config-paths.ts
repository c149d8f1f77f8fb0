import { X509Certificate } from 'node:crypto';
import { access, constants, readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { ConfigError, type ConfigProblem } from './config-error.js';
import type { Config } from './schema.js';

/**
 * The configuration with its file paths (listener certificates, keys and client CA, upstream CA
 * and client certificate files, Redis TLS files)
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
    ...(config.rateLimitRedis?.tls !== undefined
      ? {
          rateLimitRedis: {
            ...config.rateLimitRedis,
            tls: { ...config.rateLimitRedis.tls, ...Object.fromEntries((['ca', 'cert', 'key'] as const).flatMap((k) => (config.rateLimitRedis!.tls![k] === undefined ? [] : [[k, at(config.rateLimitRedis!.tls![k]!)]]))) },
          },
        }
      : {}),
  };
}

/**
 * Checks that every file the configuration names (already absolute) can be read, and that each
 * upstream CA file holds PEM certificates, so a missing certificate or a wrong CA file is a
 * configuration error at load, not a failure on the first connection. (Listener certificates
 * and keys are parsed where they are used: CertificateStore.)
 */
export async function checkConfigFiles(config: Config, configFile: string): Promise<void> {
  const files: { path: string; field: string; ca?: true }[] = [];
  config.listeners.forEach((l, i) => {
    if (l.tls === undefined) return;
    files.push({ path: l.tls.cert, field: `listeners[${i}].tls.cert` }, { path: l.tls.key, field: `listeners[${i}].tls.key` });
    l.tls.certificates.forEach((c, j) => files.push({ path: c.cert, field: `listeners[${i}].tls.certificates[${j}].cert` }, { path: c.key, field: `listeners[${i}].tls.certificates[${j}].key` }));
    if (l.tls.clientCertificate !== undefined) files.push({ path: l.tls.clientCertificate.ca, field: `listeners[${i}].tls.clientCertificate.ca`, ca: true });
  });
  for (const [name, s] of Object.entries(config.services)) {
    if (s.tls?.ca !== undefined) files.push({ path: s.tls.ca, field: `services.${name}.tls.ca`, ca: true });
    if (s.tls?.cert !== undefined) files.push({ path: s.tls.cert, field: `services.${name}.tls.cert` });
    if (s.tls?.key !== undefined) files.push({ path: s.tls.key, field: `services.${name}.tls.key` });
  }
  const redisTls = config.rateLimitRedis?.tls;
  if (redisTls?.ca !== undefined) files.push({ path: redisTls.ca, field: 'rateLimitRedis.tls.ca', ca: true });
  if (redisTls?.cert !== undefined) files.push({ path: redisTls.cert, field: 'rateLimitRedis.tls.cert' });
  if (redisTls?.key !== undefined) files.push({ path: redisTls.key, field: 'rateLimitRedis.tls.key' });
  const problems: ConfigProblem[] = [];
  await Promise.all(
    files.map(async (f) => {
      try {
        if (f.ca) {
          const problem = caFileProblem(f.path, await readFile(f.path, 'latin1'));
          if (problem !== null) problems.push({ path: f.field, message: problem });
        } else {
          await access(f.path, constants.R_OK);
        }
      } catch (err) {
        problems.push({ path: f.field, message: `cannot read the file ${f.path}: ${(err as Error).message}` });
      }
    }),
  );
  // Promise.all settles in completion order: report in the config's order.
  const order = new Map(files.map((f, i) => [f.field, i]));
  problems.sort((a, b) => order.get(a.path)! - order.get(b.path)!);
  if (problems.length > 0) throw new ConfigError(configFile, problems);
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]*-----END CERTIFICATE-----/g;

/** Why a CA file's text is not a PEM bundle of certificates, or null. */
function caFileProblem(path: string, text: string): string | null {
  const blocks = text.match(PEM_CERTIFICATE);
  if (blocks === null) return `the file ${path} holds no PEM certificate ("-----BEGIN CERTIFICATE-----"); give the CA certificate(s) in PEM`;
  for (let i = 0; i < blocks.length; i++) {
    try {
      new X509Certificate(blocks[i]!);
    } catch (err) {
      return `certificate ${i + 1} of ${blocks.length} in the file ${path} cannot be parsed: ${(err as Error).message}`;
    }
  }
  return null;
}

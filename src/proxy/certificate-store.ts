import { X509Certificate } from 'node:crypto';
import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import type { ListenerTlsConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';

/** The certificates of one HTTPS listener, indexed by the DNS names they cover. Replaced whole on reload. */
interface CertificateIndex {
  readonly defaultOptions: SecureContextOptions;
  readonly defaultContext: SecureContext;
  readonly exact: ReadonlyMap<string, SecureContext>;
  /** "*.example.com" → key ".example.com" */
  readonly wildcard: ReadonlyMap<string, SecureContext>;
}

const RELOAD_DEBOUNCE_MS = 100;

/**
 * Certificates for an HTTPS listener: the default one (no SNI, or a name no certificate
 * covers) and more chosen by SNI from their subjectAltName DNS names (or subject CN when
 * there is no SAN). Exact names win over wildcards; among certificates naming the same host,
 * the first listed wins. With `watch`, the files are read again when they change; a bad new
 * set is logged and the running certificates stay.
 */
export class CertificateStore {
  private index: CertificateIndex;
  private watchers: FSWatcher[] = [];
  private reloadTimer: NodeJS.Timeout | null = null;
  /** Called with the new default certificate after a reload (server.setSecureContext). */
  onDefaultChange: ((options: SecureContextOptions) => void) | null = null;

  private constructor(
    private readonly config: ListenerTlsConfig,
    private readonly logger: Logger,
    index: CertificateIndex,
  ) {
    this.index = index;
  }

  static async load(config: ListenerTlsConfig, logger: Logger): Promise<CertificateStore> {
    const store = new CertificateStore(config, logger, await buildIndex(config));
    if (config.watch) store.startWatching();
    return store;
  }

  /**
   * Options for tls/https.createServer: the default certificate plus SNI selection, and with
   * `clientCertificate` a client certificate required and verified against its CA (every
   * context carries the CA, as the one SNI picks is the one that verifies).
   */
  get serverOptions(): SecureContextOptions & {
    SNICallback: (name: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;
    requestCert: boolean;
    rejectUnauthorized: boolean;
  } {
    const mutual = this.config.clientCertificate !== undefined;
    return { ...this.index.defaultOptions, SNICallback: this.sniCallback, requestCert: mutual, rejectUnauthorized: mutual };
  }

  /** The names asked of a client certificate (mutual TLS), or undefined. */
  get clientCertificateNames(): { subjectAltNames: readonly string[]; commonNames: readonly string[] } | undefined {
    return this.config.clientCertificate;
  }

  /** The context for an SNI name. */
  select(servername: string): SecureContext {
    const index = this.index;
    const name = servername.toLowerCase();
    const exact = index.exact.get(name);
    if (exact !== undefined) return exact;
    const dot = name.indexOf('.');
    if (dot > 0) {
      const wild = index.wildcard.get(name.slice(dot));
      if (wild !== undefined) return wild;
    }
    return index.defaultContext;
  }

  readonly sniCallback = (servername: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => {
    cb(null, this.select(servername));
  };

  /** Reads the files again and swaps the certificates in; keeps the old ones on error. */
  async reload(): Promise<void> {
    try {
      const index = await buildIndex(this.config);
      this.index = index;
      this.onDefaultChange?.(index.defaultOptions);
      this.logger.info({ certificates: 1 + this.config.certificates.length }, 'TLS certificates reloaded');
    } catch (err) {
      this.logger.error({ error: (err as Error).message }, 'TLS certificates rejected on reload; the previous certificates keep serving');
    }
  }

  close(): void {
    for (const w of this.watchers) w.close();
    this.watchers = [];
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
  }

  private startWatching(): void {
    const files = [this.config.cert, this.config.key, ...this.config.certificates.flatMap((c) => [c.cert, c.key])];
    if (this.config.clientCertificate !== undefined) files.push(this.config.clientCertificate.ca);
    const byDir = new Map<string, Set<string>>();
    for (const f of files) {
      const names = byDir.get(dirname(f)) ?? new Set<string>();
      names.add(basename(f));
      byDir.set(dirname(f), names);
    }
    // Folders, not files: a certificate renewed by rename replaces the file's inode.
    for (const [dir, names] of byDir) {
      const watcher = watch(dir, { persistent: false }, (_event, name) => {
        if (name !== null && !names.has(name)) return;
        if (this.reloadTimer) clearTimeout(this.reloadTimer);
        this.reloadTimer = setTimeout(() => {
          this.reloadTimer = null;
          void this.reload();
        }, RELOAD_DEBOUNCE_MS);
      });
      watcher.on('error', (err) => this.logger.error({ err, dir }, 'certificate folder watcher failed; certificate changes need a restart'));
      this.watchers.push(watcher);
    }
  }
}

async function buildIndex(config: ListenerTlsConfig): Promise<CertificateIndex> {
  const exact = new Map<string, SecureContext>();
  const wildcard = new Map<string, SecureContext>();
  let defaultOptions: SecureContextOptions | null = null;
  let defaultContext: SecureContext | null = null;
  const clientCa = config.clientCertificate === undefined ? undefined : await readPem(config.clientCertificate.ca, 'client CA');
  if (clientCa !== undefined) {
    try {
      new X509Certificate(clientCa);
    } catch (err) {
      throw new Error(`TLS client CA ${config.clientCertificate!.ca} is not a PEM certificate: ${(err as Error).message}`);
    }
  }
  for (const files of [{ cert: config.cert, key: config.key }, ...config.certificates]) {
    const [cert, key] = await Promise.all([readPem(files.cert, 'certificate'), readPem(files.key, 'private key')]);
    const options: SecureContextOptions = { cert, key, minVersion: config.minVersion };
    if (clientCa !== undefined) options.ca = clientCa;
    let context: SecureContext;
    let names: string[];
    try {
      context = createSecureContext(options);
      names = dnsNames(new X509Certificate(cert));
    } catch (err) {
      throw new Error(`TLS certificate ${files.cert} with key ${files.key} cannot be used: ${(err as Error).message}`);
    }
    if (defaultContext === null) {
      defaultOptions = options;
      defaultContext = context;
    }
    for (const name of names) {
      if (name.startsWith('*.')) {
        if (!wildcard.has(name.slice(1))) wildcard.set(name.slice(1), context);
      } else if (!exact.has(name)) {
        exact.set(name, context);
      }
    }
  }
  return { defaultOptions: defaultOptions!, defaultContext: defaultContext!, exact, wildcard };
}

async function readPem(path: string, what: string): Promise<Buffer> {
  try {
    return await readFile(path);
  } catch (err) {
    throw new Error(`cannot read the TLS ${what} file ${path}: ${(err as Error).message}`);
  }
}

/** The DNS names a certificate covers, lower-case: SAN DNS entries, else the subject CN. */
export function dnsNames(cert: X509Certificate): string[] {
  const san = cert.subjectAltName;
  if (san) {
    return san
      .split(',')
      .map((s) => s.trim())
      .filter((s) => s.startsWith('DNS:'))
      .map((s) => s.slice(4).toLowerCase());
  }
  const cn = /(?:^|\n)CN=([^\n]+)/.exec(cert.subject);
  return cn ? [cn[1]!.toLowerCase()] : [];
}

import { X509Certificate } from 'node:crypto';
import { createSecureContext, type SecureContext, type SecureContextOptions } from 'node:tls';
import { z } from 'zod';
import type { Logger } from '../observability/logger.js';
import { BlockingWatch } from '../registry/consul/blocking-watch.js';
import type { ConsulClient } from '../registry/consul/consul-client.js';
import type { ConsulRequestError } from '../registry/consul/consul-request-error.js';
import type { BackoffSettings } from '../registry/consul/retry-backoff.js';
import { serviceIdOfCertificate } from './spiffe-id.js';

/** GET /v1/agent/connect/ca/leaf/<service> (the fields used). */
const leafSchema = z.object({
  SerialNumber: z.string(),
  CertPEM: z.string().min(1),
  PrivateKeyPEM: z.string().min(1),
  Service: z.string(),
  ServiceURI: z.string(),
  ValidAfter: z.string(),
  ValidBefore: z.string(),
});

/** GET /v1/agent/connect/ca/roots (the fields used). */
const rootsSchema = z.object({
  ActiveRootID: z.string(),
  TrustDomain: z.string(),
  Roots: z.array(z.object({ ID: z.string(), RootCert: z.string().min(1), Active: z.boolean() })).min(1),
});

type Leaf = z.output<typeof leafSchema>;
type Roots = z.output<typeof rootsSchema>;

/**
 * The sidecar's mesh identity at one moment: its leaf (certificate chain and key) and the
 * trust bundle (every root Consul lists, active or not, so peers holding a leaf of the
 * previous root are still accepted during a rotation). Replaced whole on every change.
 * `context` serves both directions: as the server context of the mTLS listener (its `ca`
 * verifies client certificates) and as the client context of egress connections (its `ca`
 * verifies servers, its certificate is the client certificate).
 */
export interface ConnectIdentity {
  readonly service: string;
  readonly uri: string;
  readonly serial: string;
  readonly validBefore: number;
  readonly trustDomain: string;
  readonly rootIds: readonly string[];
  readonly options: SecureContextOptions & { cert: string; key: string; ca: string[] };
  readonly context: SecureContext;
}

export interface ConnectCertificatesSettings {
  /** Blocking wait per request (Consul caps it at 10 minutes). */
  waitMs: number;
  minIntervalMs: number;
  backoff: BackoffSettings;
}

export const DEFAULT_CERTIFICATE_WATCH: ConnectCertificatesSettings = { waitMs: 300_000, minIntervalMs: 100, backoff: { initialMs: 200, maxMs: 10_000 } };

/**
 * Keeps the sidecar's Connect leaf and Consul's CA roots current, each with a blocking query
 * on the local agent (`/v1/agent/connect/ca/leaf/<service>` and `/v1/agent/connect/ca/roots`,
 * through BlockingWatch: index, wait, reset when the index goes backwards, rate limit, backoff).
 * The agent renews the leaf before it expires and answers the blocked read with the new one;
 * a root rotation answers the roots read (and, shortly after, the leaf read with a leaf of the
 * new root). Each change builds a new ConnectIdentity off the connection path and tells the
 * listeners (the mTLS listener calls setSecureContext; egress pools are rebuilt for new
 * connections); open connections keep the identity they were made with.
 *
 * Last known good: when the agent cannot be reached, or answers with something unusable (a
 * leaf for another service, a key that does not match), the current identity keeps serving.
 * The outage is logged once when it starts and once when it ends; a leaf that reaches its
 * ValidBefore while the agent is away is logged once (peers will refuse it from then on).
 */
export class ConnectCertificates {
  private leaf: Leaf | null = null;
  private roots: Roots | null = null;
  private identity: ConnectIdentity | null = null;
  private readonly listeners = new Set<(identity: ConnectIdentity) => void>();
  private readonly failing = new Set<string>();
  private readonly leafWatch: BlockingWatch<typeof leafSchema>;
  private readonly rootsWatch: BlockingWatch<typeof rootsSchema>;
  private expiryTimer: NodeJS.Timeout | null = null;
  private resolveReady!: () => void;
  /** Resolves once a first identity is in place. */
  readonly ready: Promise<void>;
  /** Identities applied since start (the first one included). */
  changes = 0;

  constructor(
    client: ConsulClient,
    readonly service: string,
    private readonly logger: Logger,
    settings: ConnectCertificatesSettings = DEFAULT_CERTIFICATE_WATCH,
  ) {
    this.ready = new Promise((resolve) => (this.resolveReady = resolve));
    const common = { query: [] as const, waitMs: settings.waitMs, minIntervalMs: settings.minIntervalMs, backoff: settings.backoff, nonBlockingAfterError: true };
    this.leafWatch = new BlockingWatch(client, { ...common, path: `/v1/agent/connect/ca/leaf/${encodeURIComponent(service)}`, schema: leafSchema }, this.handlers('leaf', (leaf) => {
      if (this.leaf !== null && leaf.SerialNumber === this.leaf.SerialNumber && leaf.CertPEM === this.leaf.CertPEM) return;
      this.leaf = leaf;
      this.rebuild('leaf');
    }));
    this.rootsWatch = new BlockingWatch(client, { ...common, path: '/v1/agent/connect/ca/roots', schema: rootsSchema }, this.handlers('roots', (roots) => {
      if (this.roots !== null && JSON.stringify(roots) === JSON.stringify(this.roots)) return;
      this.roots = roots;
      this.rebuild('roots');
    }));
  }

  start(): void {
    this.leafWatch.start(0);
    this.rootsWatch.start(0);
  }

  async stop(): Promise<void> {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    this.expiryTimer = null;
    await Promise.all([this.leafWatch.stop(), this.rootsWatch.stop()]);
  }

  /** The identity in force, or null before the first leaf and roots arrived. */
  get current(): ConnectIdentity | null {
    return this.identity;
  }

  /** True while a watch cannot reach the agent (the last good identity serves). */
  get agentUnreachable(): boolean {
    return this.failing.size > 0;
  }

  /** Calls `listener` with every new identity (not the current one). Returns the unsubscribe. */
  onChange(listener: (identity: ConnectIdentity) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private handlers<T>(what: 'leaf' | 'roots', apply: (body: T) => void) {
    return {
      onResult: (body: T) => apply(body),
      onError: (error: ConsulRequestError) => {
        if (this.failing.has(what)) return;
        const first = this.failing.size === 0;
        this.failing.add(what);
        if (!first) return;
        const current = this.identity;
        this.logger.warn(
          { error: error.message, leafValidUntil: current ? new Date(current.validBefore).toISOString() : null },
          current
            ? 'connect: cannot read certificates from the Consul agent; the last good leaf and roots keep serving until the agent answers again or the leaf expires'
            : 'connect: cannot read certificates from the Consul agent yet; the mTLS listener refuses connections until it has them',
        );
      },
      onSuccess: () => {
        if (!this.failing.delete(what) || this.failing.size > 0) return;
        this.logger.info({}, 'connect: the Consul agent answers again; certificates are watched');
      },
      onIndexReset: (from: number, to: number) => {
        this.logger.info({ what, from, to }, 'connect: the agent index went backwards; reading the certificates afresh');
      },
    };
  }

  /** A new leaf or new roots: build the identity; an unusable combination leaves the current one in force. */
  private rebuild(cause: 'leaf' | 'roots'): void {
    const leaf = this.leaf;
    const roots = this.roots;
    if (leaf === null || roots === null) return;
    let next: ConnectIdentity;
    try {
      next = buildIdentity(this.service, leaf, roots);
    } catch (err) {
      this.logger.error({ cause, error: (err as Error).message }, 'connect: the agent sent certificates that cannot be used; the previous ones keep serving');
      return;
    }
    const first = this.identity === null;
    this.identity = next;
    this.changes += 1;
    this.scheduleExpiryNotice(next);
    this.logger.info({ cause, uri: next.uri, serial: next.serial, validBefore: new Date(next.validBefore).toISOString(), roots: next.rootIds.length, trustDomain: next.trustDomain }, first ? 'connect: certificates loaded' : `connect: ${cause === 'leaf' ? 'new leaf certificate' : 'new CA roots'} in use for new connections`);
    if (first) this.resolveReady();
    for (const listener of this.listeners) listener(next);
  }

  private scheduleExpiryNotice(identity: ConnectIdentity): void {
    if (this.expiryTimer) clearTimeout(this.expiryTimer);
    // setTimeout holds at most 2^31-1 ms (~24.8 days); a leaf valid longer is checked again then.
    const delay = Math.min(Math.max(identity.validBefore - Date.now(), 0), 2 ** 31 - 1);
    this.expiryTimer = setTimeout(() => {
      this.expiryTimer = null;
      if (this.identity !== identity) return;
      if (Date.now() < identity.validBefore) return this.scheduleExpiryNotice(identity);
      this.logger.error(
        { serial: identity.serial, validBefore: new Date(identity.validBefore).toISOString(), agentUnreachable: this.agentUnreachable },
        'connect: the leaf certificate has expired and the agent has sent no new one; peers refuse it until the agent renews it',
      );
    }, delay);
    this.expiryTimer.unref();
  }
}

/** Checks the leaf (its identity, its key, its chain to one of the roots) and builds the TLS context. */
export function buildIdentity(service: string, leaf: Leaf, roots: Roots): ConnectIdentity {
  const chain = splitPem(leaf.CertPEM);
  if (chain.length === 0) throw new Error(`the leaf for ${service} holds no PEM certificate`);
  const cert = new X509Certificate(chain[0]!);
  const id = serviceIdOfCertificate(cert.subjectAltName);
  if (id === null) throw new Error(`the leaf for ${service} carries no SPIFFE service URI (SAN: ${cert.subjectAltName ?? 'none'})`);
  if (id.service !== service) throw new Error(`the leaf carries the identity of "${id.service}", not "${service}"`);
  const trustDomain = roots.TrustDomain.toLowerCase();
  if (id.trustDomain !== trustDomain) throw new Error(`the leaf's trust domain ${id.trustDomain} is not the CA's ${trustDomain}`);
  const rootPems = roots.Roots.map((r) => r.RootCert);
  const issuers = [...chain.slice(1).map((p) => new X509Certificate(p)), ...rootPems.map((p) => new X509Certificate(p))];
  if (!chainsToRoot(cert, issuers, rootPems.length)) throw new Error(`the leaf (serial ${leaf.SerialNumber}) is not signed by any of the ${rootPems.length} CA root(s)`);
  const options = { cert: leaf.CertPEM, key: leaf.PrivateKeyPEM, ca: rootPems };
  // Throws when the key does not match the certificate.
  const context = createSecureContext(options);
  const validBefore = Date.parse(leaf.ValidBefore);
  return {
    service,
    uri: id.uri,
    serial: leaf.SerialNumber,
    validBefore: Number.isFinite(validBefore) ? validBefore : Date.parse(cert.validTo),
    trustDomain,
    rootIds: roots.Roots.map((r) => r.ID),
    options,
    context,
  };
}

/**
 * Whether `cert` chains, through the intermediates the leaf carries, to one of the roots (the
 * last `rootCount` of `issuers`). A sanity check on what the agent sent; the TLS handshakes do
 * the real verification.
 */
function chainsToRoot(cert: X509Certificate, issuers: readonly X509Certificate[], rootCount: number): boolean {
  const firstRoot = issuers.length - rootCount;
  const signs = (issuer: X509Certificate, subject: X509Certificate) => subject.checkIssued(issuer) && subject.verify(issuer.publicKey);
  let current = cert;
  const used = new Set<number>();
  for (;;) {
    // A root first: a leaf of the new root also carries the new root cross-signed by the old one.
    for (let i = firstRoot; i < issuers.length; i++) if (signs(issuers[i]!, current)) return true;
    let next = -1;
    for (let i = 0; i < firstRoot && next < 0; i++) if (!used.has(i) && signs(issuers[i]!, current)) next = i;
    if (next < 0) return false;
    used.add(next);
    current = issuers[next]!;
  }
}

function splitPem(text: string): string[] {
  return text.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
}

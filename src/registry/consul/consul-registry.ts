import { setTimeout as sleep } from 'node:timers/promises';
import type { ConsulRegistryConfig } from '../../config/schema.js';
import type { Logger } from '../../observability/logger.js';
import type { Registry, RegistryListener, RegistryStatus } from '../registry.js';
import { EMPTY_SNAPSHOT, type RegistrySnapshot, type ServiceEntry } from '../service-instance.js';
import { sameService } from '../snapshot-equality.js';
import { BlockingWatch } from './blocking-watch.js';
import { changedKeys, digestChecks, type CheckDigest } from './check-digest.js';
import { ConsulClient } from './consul-client.js';
import { ConsulRequestError } from './consul-request-error.js';
import { catalogServicesSchema, healthServiceSchema, healthStateSchema, type CatalogServices } from './consul-responses.js';
import { resolveConsulConnection, type ConsulConnection } from './consul-settings.js';
import { nodesOf, serviceEntryFrom } from './health-entries.js';
import { backoffDelay, type BackoffSettings } from './retry-backoff.js';

export interface ConsulRegistryOptions {
  config: ConsulRegistryConfig;
  /** Relative TLS file paths are taken from this file's folder. */
  configFile: string;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
}

/** Time to let the two watches' answers to one Consul write arrive before re-reading. */
const SETTLE_MS = 15;

/**
 * Service discovery from Consul, with a bounded number of connections however many
 * services there are:
 *
 * - one blocking watch on /v1/catalog/services (names and tags) and one on
 *   /v1/health/state/any (every check): two long-lived connections in total;
 * - each state/any answer is reduced to a fingerprint per service and per node
 *   (check-digest.ts); only the services whose fingerprint or tags changed, or that run on a
 *   node whose node checks changed, are read again with /v1/health/service/<name>, at most
 *   `connections - 2` at a time;
 * - a catalog index move that neither the tags nor the checks explain (an instance without
 *   checks added or removed, an address or weight edited in place) re-reads every watched
 *   service, through the same bounded readers;
 * - each re-read is compared with what is known before anything is rebuilt.
 *
 * Last known good: when Consul fails (unreachable, slow, 5xx, 429, 403, garbage) nothing is
 * removed; the error is logged when the failure state changes, not on every retry, and
 * `status().staleSince` says since when the data may be out of date. A service that Consul
 * no longer lists is removed.
 */
export class ConsulRegistry implements Registry {
  private client: ConsulClient | null = null;
  private connection: ConsulConnection | null = null;
  private snapshot: RegistrySnapshot = EMPTY_SNAPSHOT;
  private readonly listeners = new Set<RegistryListener>();
  private readonly logger: Logger;
  private readonly config: ConsulRegistryConfig;
  private readonly backoff: BackoffSettings;
  private readonly tagQuery: (readonly [string, string])[];

  /** Watched service name → its tags (joined), from the last catalog answer. */
  private catalog = new Map<string, string>();
  private digest: CheckDigest = { services: new Map(), nodes: new Map() };
  private readonly entries = new Map<string, ServiceEntry>();
  private readonly serviceNodes = new Map<string, Set<string>>();
  private readonly dirty = new Set<string>();
  private catalogUnexplained = false;
  private checksChanged = false;

  private watches: BlockingWatch<typeof catalogServicesSchema | typeof healthStateSchema>[] = [];
  private reconcileTimer: NodeJS.Timeout | null = null;
  private reconciling: Promise<void> | null = null;
  private rerun = false;
  private readFailures = 0;
  private closed = false;

  private synced = false;
  private lastSyncAt: number | null = null;
  private lastError: string | null = null;
  private lastLoggedState: string | null = null;
  private staleSince: number | null = null;
  /** Failed Consul requests (watch re-issues, service reads, start-up attempts) since start. */
  private syncErrors = 0;
  private readonly failing = new Map<string, string>();
  /** Reads of /v1/health/service/<name> sent so far. */
  serviceReads = 0;

  constructor(private readonly options: ConsulRegistryOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.backoff = { initialMs: this.config.backoff.initial, maxMs: this.config.backoff.max };
    this.tagQuery = this.config.tags.map((t) => ['tag', t] as const);
  }

  async start(): Promise<void> {
    this.connection = await resolveConsulConnection(this.config, this.options.configFile, this.options.env);
    this.client = new ConsulClient(this.connection);
    const deadline = Date.now() + this.config.startTimeout;
    for (let attempt = 1; ; attempt++) {
      try {
        const indexes = await this.initialLoad();
        this.startWatches(indexes.catalog, indexes.checks);
        return;
      } catch (err) {
        const message = (err as Error).message;
        this.lastError = message;
        this.syncErrors += 1;
        const retryable = err instanceof ConsulRequestError && err.kind !== 'acl';
        const delay = backoffDelay(attempt, this.backoff);
        if (!retryable || Date.now() + delay > deadline) {
          await this.client.close();
          throw new Error(`Consul registry cannot start: ${message}`);
        }
        if (message !== this.lastLoggedState) {
          this.logger.warn({ consul: this.connection.origin, error: message }, 'Consul not ready at start-up; retrying');
          this.lastLoggedState = message;
        }
        await sleep(delay);
      }
    }
  }

  current(): RegistrySnapshot {
    return this.snapshot;
  }

  subscribe(listener: RegistryListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  status(): RegistryStatus {
    return {
      source: 'consul',
      location: this.connection?.origin ?? this.config.address ?? '',
      synced: this.synced,
      lastSyncAt: this.lastSyncAt,
      lastError: this.lastError,
      syncErrors: this.syncErrors,
      staleSince: this.staleSince,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.reconcileTimer) clearTimeout(this.reconcileTimer);
    this.reconcileTimer = null;
    await Promise.all(this.watches.map((w) => w.stop()));
    await this.reconciling;
    await this.client?.close();
  }

  /** Requests sent by the two watches (for status pages and tests). */
  get watchRequests(): number {
    return this.watches.reduce((n, w) => n + w.requests, 0);
  }

  // ------------------------------------------------------------------ loading

  private async initialLoad(): Promise<{ catalog: number; checks: number }> {
    const client = this.client!;
    const [catalog, checks] = await Promise.all([
      client.read('/v1/catalog/services', [], catalogServicesSchema),
      client.read('/v1/health/state/any', [], healthStateSchema),
    ]);
    this.catalog = this.watchedServices(catalog.body);
    this.digest = digestChecks(checks.body);
    const { errors } = await this.readServices([...this.catalog.keys()]);
    if (errors.length > 0) throw errors[0]!;
    this.publish(true);
    this.synced = true;
    this.lastSyncAt = Date.now();
    this.lastError = null;
    this.lastLoggedState = null;
    this.logger.info({ consul: this.connection!.origin, services: this.entries.size }, 'Consul registry synced');
    return { catalog: catalog.index ?? 0, checks: checks.index ?? 0 };
  }

  private startWatches(catalogIndex: number, checksIndex: number): void {
    const common = { waitMs: this.config.wait, minIntervalMs: this.config.minInterval, backoff: this.backoff };
    const catalogWatch = new BlockingWatch(this.client!, { ...common, path: '/v1/catalog/services', query: [], schema: catalogServicesSchema }, {
      onResult: (body) => this.onCatalog(body),
      ...this.watchHandlers('catalog'),
    });
    const checksWatch = new BlockingWatch(this.client!, { ...common, path: '/v1/health/state/any', query: [], schema: healthStateSchema }, {
      onResult: (body) => this.onChecks(digestChecks(body)),
      ...this.watchHandlers('checks'),
    });
    this.watches = [catalogWatch, checksWatch];
    catalogWatch.start(catalogIndex);
    checksWatch.start(checksIndex);
  }

  private watchHandlers(source: string) {
    return {
      onError: (err: ConsulRequestError) => this.noteFailure(source, err),
      onSuccess: () => this.noteSuccess(source),
      onIndexReset: (from: number, to: number) => {
        this.logger.warn({ consul: this.connection!.origin, watch: source, from, to }, 'Consul index went backwards (restart or snapshot restore); reading afresh');
      },
    };
  }

  /** Service name → joined tags, for the services this registry watches (tag filter applied). */
  private watchedServices(body: CatalogServices): Map<string, string> {
    const out = new Map<string, string>();
    for (const [name, tags] of Object.entries(body)) {
      const list = tags ?? [];
      if (this.config.tags.every((t) => list.includes(t))) out.set(name, [...list].sort().join('\u0000'));
    }
    return out;
  }

  private onCatalog(body: CatalogServices): void {
    const next = this.watchedServices(body);
    let explained = false;
    for (const [name, tags] of next) {
      if (this.catalog.get(name) !== tags) {
        this.dirty.add(name);
        explained = true;
      }
    }
    for (const name of this.catalog.keys()) if (!next.has(name)) explained = true;
    this.catalog = next;
    if (!explained) this.catalogUnexplained = true;
    this.schedule(SETTLE_MS);
  }

  private onChecks(next: CheckDigest): void {
    const services = changedKeys(this.digest.services, next.services);
    const nodes = new Set(changedKeys(this.digest.nodes, next.nodes));
    this.digest = next;
    for (const name of services) this.dirty.add(name);
    if (nodes.size > 0) {
      for (const [name, on] of this.serviceNodes) {
        for (const node of on) {
          if (nodes.has(node)) {
            this.dirty.add(name);
            break;
          }
        }
      }
    }
    if (services.length > 0 || nodes.size > 0) this.checksChanged = true;
    this.schedule(SETTLE_MS);
  }

  private schedule(delayMs: number): void {
    if (this.closed) return;
    if (this.reconciling) {
      this.rerun = true;
      return;
    }
    if (this.reconcileTimer) return;
    this.reconcileTimer = setTimeout(() => {
      this.reconcileTimer = null;
      this.reconciling = this.reconcile()
        .catch((err: unknown) => this.logger.error({ err }, 'applying a Consul change failed; it will be retried on the next change'))
        .finally(() => {
        this.reconciling = null;
        if (this.rerun) {
          this.rerun = false;
          this.schedule(SETTLE_MS);
        }
      });
    }, delayMs);
  }

  /** Applies what the watches saw: drop vanished services, re-read changed ones. */
  private async reconcile(): Promise<void> {
    const sweep = this.catalogUnexplained && !this.checksChanged;
    this.catalogUnexplained = false;
    this.checksChanged = false;
    const names = sweep ? [...this.catalog.keys()] : [...this.dirty].filter((n) => this.catalog.has(n));
    this.dirty.clear();
    let changed = false;
    for (const name of [...this.entries.keys()]) {
      if (!this.catalog.has(name)) {
        this.entries.delete(name);
        this.serviceNodes.delete(name);
        changed = true;
      }
    }
    if (sweep) this.logger.debug({ services: names.length }, 'Consul catalog changed without a tag or check change; re-reading all watched services');
    const result = await this.readServices(names);
    if (this.closed) return;
    changed ||= result.changed;
    if (result.errors.length > 0) {
      for (const name of result.failed) this.dirty.add(name);
      this.noteFailure('reads', result.errors[0]!, result.errors.length);
      this.readFailures += 1;
      this.rerun = false;
      this.reconcileTimer = setTimeout(() => {
        this.reconcileTimer = null;
        this.schedule(0);
      }, backoffDelay(this.readFailures, this.backoff));
    } else if (names.length > 0) {
      this.readFailures = 0;
      this.noteSuccess('reads');
    }
    if (changed) this.publish(false);
  }

  /** Reads services' health with at most `connections - 2` requests in flight. */
  private async readServices(names: readonly string[]): Promise<{ changed: boolean; errors: ConsulRequestError[]; failed: string[] }> {
    const queue = [...names];
    const errors: ConsulRequestError[] = [];
    const failed: string[] = [];
    let changed = false;
    const worker = async () => {
      for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
        if (this.closed) return;
        try {
          this.serviceReads += 1;
          const res = await this.client!.read(`/v1/health/service/${encodeURIComponent(name)}`, this.tagQuery, healthServiceSchema);
          const entry = serviceEntryFrom(name, res.body);
          const before = this.entries.get(name);
          this.serviceNodes.set(name, nodesOf(res.body));
          if (entry === null) {
            if (before) changed = true;
            this.entries.delete(name);
          } else if (!before || !sameService(before, entry)) {
            this.entries.set(name, entry);
            changed = true;
          }
        } catch (err) {
          failed.push(name);
          errors.push(err instanceof ConsulRequestError ? err : new ConsulRequestError('unreachable', (err as Error).message));
        }
      }
    };
    const workers = Math.max(1, Math.min(this.config.connections - 2, names.length));
    await Promise.all(Array.from({ length: workers }, worker));
    return { changed, errors, failed };
  }

  /** Swaps in a new snapshot (unchanged services keep their object) and tells subscribers. */
  private publish(initial: boolean): void {
    const services = new Map([...this.entries].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    this.snapshot = { services };
    if (initial) return;
    this.logger.info({ services: services.size }, 'Consul services changed');
    for (const listener of this.listeners) listener(this.snapshot);
  }

  // ------------------------------------------------------------------ failure state

  /** Records `requests` failed requests of one source; enters the failure state if not in it. */
  private noteFailure(source: string, err: ConsulRequestError, requests = 1): void {
    this.syncErrors += requests;
    if (this.failing.size === 0) this.staleSince = Date.now();
    this.failing.set(source, err.message);
    this.lastError = err.message;
    // One log line per failure state (kind and status), not per retry or per watch.
    const state = `${err.kind} ${err.status ?? ''}`;
    if (state === this.lastLoggedState) return;
    this.lastLoggedState = state;
    this.logger.error(
      { consul: this.connection?.origin, kind: err.kind, status: err.status, error: err.message, source },
      'Consul registry failing; routing keeps the last known endpoints and retries with backoff',
    );
  }

  private noteSuccess(source: string): void {
    this.failing.delete(source);
    // lastSyncAt is the last time every source answered, so it stays put while another fails.
    if (this.failing.size > 0) return;
    this.lastSyncAt = Date.now();
    if (this.staleSince === null) return;
    const staleForMs = Date.now() - this.staleSince;
    this.staleSince = null;
    this.lastError = null;
    this.lastLoggedState = null;
    this.logger.info({ consul: this.connection?.origin, staleForMs }, 'Consul registry recovered');
  }
}

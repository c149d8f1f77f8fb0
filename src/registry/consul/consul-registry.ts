import { setTimeout as sleep } from 'node:timers/promises';
import type { ConsulRegistryConfig } from '../../config/schema.js';
import type { Logger } from '../../observability/logger.js';
import type { ConsulReadStatus, Registry, RegistryListener, RegistryStatus } from '../registry.js';
import { EMPTY_SNAPSHOT, type RegistrySnapshot, type ServiceEntry, type ServiceInstance } from '../service-instance.js';
import { PersistedView, PersistedViewUnusable } from '../persisted-view.js';
import { PersistentSortedMap } from '../persistent-sorted-map.js';
import { sameService } from '../snapshot-equality.js';
import { BlockingWatch } from './blocking-watch.js';
import { checkChanges, instanceKey, instancesListed, nonPassingChecks, type CheckChange, type NonPassingChecks } from './check-changes.js';
import { changedRegistrations, checkRegistration, type CheckRegistration } from './check-digest.js';
import { ConsulClient } from './consul-client.js';
import { ConsulRequestError } from './consul-request-error.js';
import { catalogServicesSchema, healthServiceSchema, healthStateSchema, type CheckStatus, type HealthCheck, type HealthEntry } from './consul-responses.js';
import { JsonPieceIndex, type PieceChanges } from './json-piece-index.js';
import { RAW_TEXT } from './response-schema.js';
import { persistedViewScope, resolveConsulConnection, type ConsulConnection } from './consul-settings.js';
import { nodesOf, readService, reratedInstance } from './health-entries.js';
import { instanceIndex, type InstanceChecks } from './instance-checks.js';
import { backoffDelay, type BackoffSettings } from './retry-backoff.js';
import { ServiceReadQueue } from './service-read-queue.js';
import { parseArrayInSlices } from './sliced-json-array.js';

export interface ConsulRegistryOptions {
  config: ConsulRegistryConfig;
  /** Relative TLS file paths are taken from this file's folder. */
  configFile: string;
  logger: Logger;
  env?: NodeJS.ProcessEnv;
  /**
   * Where the last good view is kept (registry.persistView), or null/undefined for nowhere.
   * It is saved after every good read and served at start-up while Consul cannot be reached.
   */
  viewFile?: string | null;
}

/** Checks that are not passing: a small answer in a healthy datacenter, enough to see every health change. */
const NOT_PASSING: readonly (readonly [string, string])[] = [['filter', 'Status != "passing"']];

/** Tries of one service read during the first load before the load fails (and is retried whole). */
const START_READ_ATTEMPTS = 4;

/** Longest time a read change waits for the rest of a sweep before it is published. */
const PUBLISH_MAX_DELAY_MS = 250;

/**
 * Service discovery from Consul whose load on Consul follows the changes that matter to
 * routing, not the number of services nor the rate at which Consul's indexes move:
 *
 * - two blocking watches, so two long-lived connections however many services there are:
 *   /v1/catalog/services (names and tags) and /v1/health/state/any filtered to the checks
 *   that are not passing (small in a healthy datacenter, and every health change shows in it:
 *   a check leaving or entering passing, or moving between warning and critical);
 * - each answer is diffed with the last one: a service whose tags changed is read again with
 *   /v1/health/service/<name>; a check whose status changed is applied to the known entry
 *   without a read when the last read of its service listed that check on that instance (and,
 *   for a check that left the non-passing answer, another check of the instance still in it
 *   proves the instance is still registered), else its service (for a node check, the services
 *   on that node) is read again (onHealth); an index that moved with the same content reads
 *   nothing;
 * - a catalog move that tags do not explain (an instance registered or deregistered) starts a
 *   registration scan: one full /v1/health/state/any read, at most once per
 *   `registrationScanInterval`, whose per-service check sets name the services that gained
 *   or lost a checked instance; only those are read;
 * - both large answers (the service list and a scan) are compared with the last one piece by
 *   piece (json-piece-index.ts): only the services and checks whose text changed are parsed,
 *   and a service list with the same bytes as the last is not decoded at all;
 * - a catalog move that the scan cannot explain either (an instance without checks, an
 *   address edited in place) is left to a sweep, a re-read of every watched service at
 *   background priority, at most once per `sweepInterval` (0: never);
 * - every single-service read goes through one queue (service-read-queue.ts): change reads
 *   before sweep reads, at most `connections - 2` in flight and `readRate` a second;
 * - each re-read is compared with what is known before anything is published.
 * After an index reset the watches read afresh and the answers are diffed like any other:
 * a reset reads only the services whose content the diffs show changed.
 *
 * Last known good: when Consul fails (unreachable, slow, 5xx, 429, 403, garbage) nothing is
 * removed; the error is logged when the failure state changes, not on every retry, and
 * `status().staleSince` says since when the data may be out of date. A service that Consul
 * no longer lists is removed.
 *
 * Start-up without Consul (registry.waitAtStart false, the default): when the first read
 * fails, start() resolves anyway with nothing synced (or with the persisted view, when
 * registry.persistView is on and one was saved) and the first read is retried with backoff
 * until it succeeds; its result is published to subscribers like any change.
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

  /** Watched service name → its tags as the last catalog answer listed them. */
  private catalog = new Map<string, readonly string[]>();
  /** The health watch's last answer (the checks that are not passing), check by check. */
  private nonPassing: NonPassingChecks = new Map();
  /** The instances with a service check in `nonPassing` (instanceKey), built when first asked for per answer. */
  private listedInstances: Set<string> | null = null;
  /**
   * Per service with an entry, its instances' checks as its last read listed them (with the
   * statuses applied since), in the order of the entry's instances.
   */
  private readonly instanceChecks = new Map<string, readonly InstanceChecks[]>();
  /** Services with a read in flight, and how many: a change seen meanwhile is read again, not applied. */
  private readonly readsInFlight = new Map<string, number>();
  /**
   * The last registration scan's answer, piece by piece: the next scan parses only the checks
   * whose text changed (json-piece-index.ts).
   */
  private readonly scanPieces = new JsonPieceIndex<CheckRegistration>('array', (piece) => decodeCheckRegistration(piece));
  /** The last service list, piece by piece: an answer parses only the services whose entry changed. */
  private readonly catalogPieces = new JsonPieceIndex<CatalogMembers>('object', (piece) => decodeCatalogMembers(piece));
  private readonly entries = new Map<string, ServiceEntry>();
  /** The services of the last published snapshot (null before the first publish). */
  private published: PersistentSortedMap<ServiceEntry> | null = null;
  /** Services whose entry was set or removed since the last publish. */
  private readonly unpublishedNames = new Set<string>();
  private readonly serviceNodes = new Map<string, Set<string>>();

  private watches: BlockingWatch<typeof RAW_TEXT | typeof healthStateSchema>[] = [];
  private queue: ServiceReadQueue | null = null;
  private unpublished = false;
  private publishTimer: NodeJS.Timeout | null = null;
  private readonly retryTimers = new Set<NodeJS.Timeout>();
  private readFailures = 0;
  private scanTimer: NodeJS.Timeout | null = null;
  /** Epoch ms when the scheduled scan (scanTimer) runs. */
  private scanDueAt = 0;
  private scanning = false;
  private scanAgain = false;
  private scanMaySweep = false;
  private scanFailures = 0;
  private lastScanAt = 0;
  private sweepTimer: NodeJS.Timeout | null = null;
  private lastSweepAt = 0;
  private closed = false;
  private startTimer: NodeJS.Timeout | null = null;
  private startFailures = 0;
  private view: PersistedView | null = null;
  /** Why the persisted view could not be loaded at start-up (until a save replaces it). */
  private viewLoadError: string | null = null;
  private lastViewSaveError: string | null = null;
  /** Epoch ms when the persisted view being served was saved; null when not serving one. */
  private servingViewSavedAt: number | null = null;

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
  /** Check status changes applied to a known instance without a read (a node check: once per instance on its node). */
  checksApplied = 0;
  /** Full /v1/health/state/any reads made to explain catalog changes. */
  registrationScans = 0;
  /** Sweeps started (each re-reads every watched service). */
  sweeps = 0;

  constructor(private readonly options: ConsulRegistryOptions) {
    this.config = options.config;
    this.logger = options.logger;
    this.backoff = { initialMs: this.config.backoff.initial, maxMs: this.config.backoff.max };
    this.tagQuery = this.config.tags.map((t) => ['tag', t] as const);
  }

  async start(): Promise<void> {
    this.connection = await resolveConsulConnection(this.config, this.options.configFile, this.options.env);
    this.client = new ConsulClient(this.connection);
    if (this.options.viewFile) {
      const view = new PersistedView(this.options.viewFile, persistedViewScope(this.connection, this.config.tags), (err) => {
        // One line per failure state, not per save.
        if (view.lastSaveError !== this.lastViewSaveError) this.logger.error({ file: view.path, err }, 'cannot save the registry view; routing is unaffected, but a restart while Consul is unreachable would start without it');
        this.lastViewSaveError = view.lastSaveError;
      });
      this.view = view;
    }
    if (!this.config.waitAtStart) return this.startWithoutWaiting();
    const deadline = Date.now() + this.config.startTimeout;
    for (let attempt = 1; ; attempt++) {
      try {
        const indexes = await this.initialLoad();
        this.startWatches(indexes.catalog, indexes.health);
        return;
      } catch (err) {
        const delay = backoffDelay(attempt, this.backoff);
        const message = await this.noteStartFailure(err, !isRetryable(err) || Date.now() + delay > deadline);
        if (message !== this.lastLoggedState) {
          this.logger.warn({ consul: this.connection.origin, error: message }, 'Consul not ready at start-up; retrying');
          this.lastLoggedState = message;
        }
        await sleep(delay);
      }
    }
  }

  /**
   * One first read; when it fails for a reason a retry may cure, start-up goes on without
   * Consul (serving the persisted view when there is one) and the first read is retried with
   * backoff. A token Consul refuses still fails start-up: retrying cannot fix configuration.
   */
  private async startWithoutWaiting(): Promise<void> {
    try {
      const indexes = await this.initialLoad();
      this.startWatches(indexes.catalog, indexes.health);
      return;
    } catch (err) {
      const message = await this.noteStartFailure(err, err instanceof ConsulRequestError && err.kind === 'acl');
      this.staleSince = Date.now();
      this.lastLoggedState = message;
      await this.loadView();
      this.logger.warn(
        { consul: this.connection!.origin, error: message, servingPersistedView: this.servingViewSavedAt !== null },
        this.servingViewSavedAt !== null
          ? 'Consul cannot be reached at start-up; serving the persisted registry view (marked stale) and retrying Consul with backoff'
          : 'Consul cannot be reached at start-up; starting without it (/readyz answers 503 until the first good read) and retrying with backoff',
      );
      this.startFailures = 1;
      this.scheduleStartRetry();
    }
  }

  /**
   * Books a failed first read at start-up (last error, error count) and returns its message;
   * when start-up cannot go on (`fatal`), closes the client and throws instead.
   */
  private async noteStartFailure(err: unknown, fatal: boolean): Promise<string> {
    const message = (err as Error).message;
    this.lastError = message;
    this.syncErrors += 1;
    if (fatal) {
      await this.client!.close();
      throw new Error(`Consul registry cannot start: ${message}`);
    }
    return message;
  }

  /** Reads the persisted view into the snapshot; an unusable one is logged and ignored. */
  private async loadView(): Promise<void> {
    if (this.view === null) return;
    try {
      const loaded = await this.view.load();
      if (loaded === null) {
        this.logger.info({ file: this.view.path }, 'no persisted registry view to serve from yet (one is saved after the first good Consul read)');
        return;
      }
      this.snapshot = loaded.snapshot;
      this.servingViewSavedAt = loaded.savedAt;
      this.lastSyncAt = loaded.savedAt;
      this.logger.info({ file: this.view.path, savedAt: new Date(loaded.savedAt).toISOString(), services: loaded.snapshot.services.size }, 'persisted registry view loaded');
    } catch (err) {
      if (!(err instanceof PersistedViewUnusable)) throw err;
      this.viewLoadError = err.message;
      this.logger.error({ file: this.view.path, error: err.message }, 'persisted registry view ignored; starting without it');
    }
  }

  private scheduleStartRetry(): void {
    if (this.closed) return;
    this.startTimer = setTimeout(() => {
      this.startTimer = null;
      void this.retryStart();
    }, backoffDelay(this.startFailures, this.backoff));
  }

  private async retryStart(): Promise<void> {
    try {
      const indexes = await this.initialLoad();
      if (this.closed) return;
      const staleForMs = this.staleSince === null ? 0 : Date.now() - this.staleSince;
      this.staleSince = null;
      this.servingViewSavedAt = null;
      this.startWatches(indexes.catalog, indexes.health);
      this.logger.info({ consul: this.connection!.origin, staleForMs, attempts: this.startFailures + 1 }, 'Consul reached after start-up; routing from Consul now');
      for (const listener of this.listeners) listener(this.snapshot);
    } catch (err) {
      if (this.closed) return;
      const message = (err as Error).message;
      this.syncErrors += 1;
      this.lastError = message;
      this.startFailures += 1;
      if (message !== this.lastLoggedState) {
        this.lastLoggedState = message;
        this.logger.warn({ consul: this.connection!.origin, error: message, attempts: this.startFailures }, 'Consul still cannot be reached; retrying with backoff');
      }
      this.scheduleStartRetry();
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
      consul: this.readStatus(),
      ...(this.view === null
        ? {}
        : {
            persistedView: {
              file: this.view.path,
              serving: this.servingViewSavedAt !== null,
              savedAt: this.servingViewSavedAt ?? this.view.lastSavedAt,
              error: this.view.lastSaveError ?? (this.view.lastSavedAt === null ? this.viewLoadError : null),
            },
          }),
    };
  }

  /** How Consul answers and what reading it has cost so far. */
  readStatus(): ConsulReadStatus {
    const stats = this.client?.stats;
    return {
      consistency: this.config.consistency,
      knownLeader: stats?.knownLeader ?? null,
      lastContactMs: stats?.lastContactMs ?? null,
      effectiveConsistency: stats?.effectiveConsistency ?? null,
      staleRetries: stats?.staleRetries ?? 0,
      requests: stats?.requests ?? 0,
      bytes: stats?.bytes ?? 0,
      serviceReads: this.serviceReads,
      checksApplied: this.checksApplied,
      registrationScans: this.registrationScans,
      sweeps: this.sweeps,
      sweepPending: this.sweepTimer !== null,
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const t of [this.startTimer, this.publishTimer, this.scanTimer, this.sweepTimer, ...this.retryTimers]) if (t) clearTimeout(t);
    this.retryTimers.clear();
    this.queue?.close();
    await Promise.all(this.watches.map((w) => w.stop()));
    await this.client?.close();
  }

  /** Requests sent by the two watches (for status pages and tests). */
  get watchRequests(): number {
    return this.watches.reduce((n, w) => n + w.requests, 0);
  }

  // ------------------------------------------------------------------ loading

  private async initialLoad(): Promise<{ catalog: number; health: number }> {
    const client = this.client!;
    // A failed attempt may have read some services: this one starts from nothing.
    this.entries.clear();
    this.instanceChecks.clear();
    this.unpublishedNames.clear();
    this.serviceNodes.clear();
    // The full state/any read (every check in the datacenter, megabytes at 10,000 instances) is
    // only the baseline later registration scans compare with: it runs beside the service
    // reads instead of before them.
    // Both piece indexes start empty: every piece of the first answers is new.
    this.catalogPieces.replace([]);
    this.scanPieces.replace([]);
    const [{ catalog, health }] = await Promise.all([
      (async () => {
        const [catalog, health] = await Promise.all([client.readText('/v1/catalog/services', []), client.read('/v1/health/state/any', NOT_PASSING, healthStateSchema)]);
        this.catalog = new Map();
        this.applyCatalogChanges(this.catalogChanges(catalog.body));
        this.nonPassing = nonPassingChecks(health.body);
        const { errors } = await this.readAll([...this.catalog.keys()]);
        if (errors.length > 0) throw errors[0]!;
        return { catalog, health };
      })(),
      (async () => {
        const all = await client.readText('/v1/health/state/any', []);
        await this.scanChanges(all.body);
      })(),
    ]);
    this.publish(true);
    this.synced = true;
    this.lastSyncAt = Date.now();
    this.lastSweepAt = Date.now();
    this.lastError = null;
    this.lastLoggedState = null;
    this.logger.info({ consul: this.connection!.origin, services: this.entries.size, consistency: this.config.consistency }, 'Consul registry synced');
    return { catalog: catalog.index ?? 0, health: health.index ?? 0 };
  }

  private startWatches(catalogIndex: number, healthIndex: number): void {
    this.queue = new ServiceReadQueue({
      concurrency: Math.max(1, this.config.connections - 2),
      ratePerSecond: this.config.readRate,
      read: (name) => this.readOne(name),
      onIdle: () => this.publishNow(),
    });
    const common = { waitMs: this.config.wait, minIntervalMs: this.config.minInterval, backoff: this.backoff };
    const catalogMinIntervalMs = this.config.catalogMinInterval ?? this.config.minInterval;
    const catalogWatch = new BlockingWatch(this.client!, { ...common, minIntervalMs: catalogMinIntervalMs, path: '/v1/catalog/services', query: [], schema: RAW_TEXT }, {
      onResult: (text, _index, fresh, unchanged) => this.onCatalog(text, fresh, unchanged),
      ...this.watchHandlers('catalog'),
    });
    const healthWatch = new BlockingWatch(this.client!, { ...common, path: '/v1/health/state/any', query: NOT_PASSING, schema: healthStateSchema }, {
      // The same text as the last answer: the same checks, nothing to compare.
      onResult: (body, _index, fresh, unchanged) => {
        if (!unchanged) this.onHealth(body, fresh);
      },
      ...this.watchHandlers('checks'),
    });
    this.watches = [catalogWatch, healthWatch];
    catalogWatch.start(catalogIndex);
    healthWatch.start(healthIndex);
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

  /** Whether a service with these tags is one this registry watches (the tag filter). */
  private isWatched(tags: readonly string[]): boolean {
    const filter = this.config.tags;
    return filter.length === 0 || filter.every((t) => tags.includes(t));
  }

  // ------------------------------------------------------------------ changes

  private onCatalog(text: string, fresh: boolean, unchanged: boolean): void {
    // The same service list, byte for byte: no tag changed and no service came or went, so the
    // move is one no tag explains (as the diff below would conclude, without reading the list).
    if (unchanged && !fresh) {
      this.scheduleRegistrationScan(true);
      return;
    }
    // A body that is not a service list throws a ConsulRequestError: the watch counts a failed
    // read and retries, and nothing known is changed.
    const explained = this.applyCatalogChanges(this.catalogChanges(text));
    // A fresh read (after an index reset) may hide any change made around the reset: the scan
    // finds the registrations among them, and a reset never starts a sweep.
    if (fresh) this.scheduleRegistrationScan(false);
    else if (!explained) this.scheduleRegistrationScan(true);
    // One answer may cover several writes (catalogMinInterval, or writes between two answers): a
    // tag change explains its own service's move, not a registration elsewhere that landed in the
    // same answer. A scan is due for those too, but without taking the budget at once: it runs
    // registrationScanInterval later, unless a move the list does not explain brings it forward
    // (a deregistration right after a registration is still seen at once).
    else this.scheduleRegistrationScan(false, true);
  }

  /**
   * The services whose entry in the service list went or came since the last answer: only the
   * pieces of text that changed are parsed (json-piece-index.ts); an answer that cannot be cut
   * into pieces is parsed whole. Throws a ConsulRequestError when the answer is not a service list.
   */
  private catalogChanges(text: string): PieceChanges<CatalogMembers> {
    const changes = this.catalogPieces.update(text);
    if (changes !== null) return changes;
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      // Status 200: the answer was a success (a read that fails in the client carries its status too).
      throw new ConsulRequestError('garbage', `Consul at ${this.connection!.origin} sent a body that is not JSON for /v1/catalog/services (${text.length} bytes)`, 200);
    }
    const parsed = catalogServicesSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new ConsulRequestError('garbage', `Consul at ${this.connection!.origin} sent an unexpected body for /v1/catalog/services: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim(), 200);
    }
    const members: [string, CatalogMembers][] = [];
    for (const name in parsed.data) {
      const tags = parsed.data[name] ?? NO_TAGS;
      members.push([`${JSON.stringify(name)}:${JSON.stringify(tags)}`, [[name, tags]]]);
    }
    const removed = [...this.catalogPieces.values()];
    this.catalogPieces.replace(members);
    return { removed, added: members.map((m) => m[1]) };
  }

  /**
   * Applies the service list's changes to the watched services: a service that came or whose
   * tags changed is read, one that went (or no longer has the filter's tags) is removed. True
   * when a change was found (a catalog move the tags explain).
   */
  private applyCatalogChanges(changes: PieceChanges<CatalogMembers>): boolean {
    const gone = new Set<string>();
    for (const members of changes.removed) for (const [name] of members) gone.add(name);
    let explained = false;
    for (const members of changes.added) {
      for (const [name, tags] of members) {
        gone.delete(name);
        if (!this.isWatched(tags)) {
          if (this.catalog.has(name)) gone.add(name);
          continue;
        }
        const old = this.catalog.get(name);
        // In place before the read starts (a read checks that its service is still watched).
        this.catalog.set(name, tags);
        if (old === undefined || !sameTags(old, tags)) {
          explained = true;
          this.queue?.urgent(name);
        }
      }
    }
    for (const name of gone) {
      if (!this.catalog.delete(name)) continue;
      explained = true;
      this.serviceNodes.delete(name);
      if (this.setEntry(name, null)) this.markChanged();
    }
    return explained;
  }

  /**
   * A new answer of the health watch (the checks that are not passing), diffed check by check
   * with the last. A change is applied to the entry of its service without reading it when that
   * is provably what a read would show (applicable): the last read of the service listed the
   * instance (node and service ID) and that check on it, and no read of the service is in
   * flight (its answer may predate this one). The instance's health is then worked out again
   * from its checks by the rule a read uses (reratedInstance), and the changed entry published
   * as a read's is (setEntry, markChanged). Anything else reads the service as before:
   * - an instance or check the last read did not list (a new registration shows its critical
   *   check first; a check added to a known instance);
   * - a check that left the answer (it passes now, or it went with its instance: Consul removes
   *   an instance's checks with it) unless another check of the instance is still in the answer;
   *   without that proof, only a read tells a recovery from a deregistration;
   * - a node check (serfHealth, _node_maintenance) on a service with an instance on that node
   *   that the rule above does not cover; it is applied to a service only when it covers every
   *   instance of the service on that node;
   * - every change in a fresh answer (after an index reset), as before.
   * A service with one change to read is read whole and none of its changes are applied.
   */
  private onHealth(checks: readonly HealthCheck[], fresh: boolean): void {
    const next = nonPassingChecks(checks);
    const changes = checkChanges(this.nonPassing, next);
    this.nonPassing = next;
    this.listedInstances = null;
    if (changes.length === 0) return;
    const reads = new Set<string>();
    const pending: PendingStatus[] = [];
    let nodeChanges: CheckChange[] | null = null;
    for (const change of changes) {
      if (change.service === '') {
        (nodeChanges ??= []).push(change);
        continue;
      }
      if (!this.catalog.has(change.service)) continue;
      if (fresh || !this.applicable(change.service, change, pending)) reads.add(change.service);
    }
    if (nodeChanges !== null) {
      for (const [name, on] of this.serviceNodes) {
        for (const change of nodeChanges) {
          if (on.has(change.node) && (fresh || !this.applicable(name, change, pending))) reads.add(name);
        }
      }
    }
    let touched: Set<string> | null = null;
    for (const p of pending) {
      if (reads.has(p.service)) continue;
      p.checks.statuses[p.at] = p.status;
      this.checksApplied += 1;
      (touched ??= new Set()).add(p.service);
    }
    // The reads first: applied changes are then published with them, when the queue runs empty
    // (one publish for the answer, as when every change was read), or at once when none is read.
    for (const name of reads) this.queue!.urgent(name);
    let changed = false;
    if (touched !== null) for (const name of touched) if (this.rerate(name)) changed = true;
    if (changed) this.markChanged();
  }

  /**
   * Whether `change` can be applied to service `name` without a read (see onHealth); when it
   * can, the status to set on each instance it concerns is added to `pending` (some may be added
   * before an instance that fails the rule: the caller then reads the service and drops them).
   */
  private applicable(name: string, change: CheckChange, pending: PendingStatus[]): boolean {
    if (this.readsInFlight.has(name)) return false;
    const instances = this.instanceChecks.get(name);
    if (instances === undefined || instances.length !== this.entries.get(name)?.instances.length) return false;
    if (change.serviceId !== '') {
      const i = instanceIndex(instances, change.node, change.serviceId);
      return i !== -1 && this.pend(name, instances[i]!, change, pending);
    }
    let found = false;
    for (const instance of instances) {
      if (instance.node !== change.node) continue;
      if (!this.pend(name, instance, change, pending)) return false;
      found = true;
    }
    return found;
  }

  /**
   * Adds the status `change` sets on `instance` to `pending`; false when the instance's last read
   * did not list the check, or the change would bring the instance back towards rotation without
   * proof that it is still registered. A change for the worse needs no proof (an instance that is
   * gone is out either way until a read or a scan removes it). A change for the better does: a
   * service check the new answer lists is that proof for its instance (Consul removes an
   * instance's checks with it); otherwise (a check that left the answer, or a node check, which
   * outlives the node's instances) another service check of the instance must still be listed.
   */
  private pend(name: string, instance: InstanceChecks, change: CheckChange, pending: PendingStatus[]): boolean {
    const at = instance.checkIds.indexOf(change.checkId);
    if (at === -1) return false;
    const listedItself = change.serviceId !== '' && change.status !== 'passing';
    if (!listedItself && statusRank(change.status) < statusRank(instance.statuses[at]!)) {
      this.listedInstances ??= instancesListed(this.nonPassing);
      if (!this.listedInstances.has(instanceKey(instance.node, instance.serviceId))) return false;
    }
    pending.push({ service: name, checks: instance, at, status: change.status });
    return true;
  }

  /** Works out again the health of service `name`'s instances from their checks; true when its entry changed. */
  private rerate(name: string): boolean {
    const entry = this.entries.get(name);
    const checks = this.instanceChecks.get(name);
    if (entry === undefined || checks === undefined) return false;
    let instances: ServiceInstance[] | null = null;
    for (let i = 0; i < entry.instances.length; i++) {
      const before = entry.instances[i]!;
      const after = reratedInstance(before, checks[i]!);
      if (after !== before) (instances ??= entry.instances.slice())[i] = after;
    }
    if (instances === null) return false;
    return this.setEntry(name, { name: entry.name, tags: entry.tags, instances });
  }

  /**
   * `maySweep`: a scan that finds no registration change schedules a sweep. `late`: the scan is
   * due registrationScanInterval from now rather than as soon as the budget allows; a later call
   * that is due sooner brings it forward.
   */
  private scheduleRegistrationScan(maySweep: boolean, late = false): void {
    if (this.closed) return;
    this.scanMaySweep ||= maySweep;
    if (this.scanning) {
      this.scanAgain = true;
      return;
    }
    const now = Date.now();
    const dueAt = late ? now + this.config.registrationScanInterval : Math.max(now, this.lastScanAt + this.config.registrationScanInterval);
    if (this.scanTimer) {
      if (this.scanDueAt <= dueAt) return;
      clearTimeout(this.scanTimer);
    }
    this.scanDueAt = dueAt;
    const delay = dueAt - now;
    this.scanTimer = setTimeout(() => {
      this.scanTimer = null;
      void this.scanRegistrations();
    }, delay);
  }

  /**
   * One full state/any read: the services whose set of checks changed are read. The answer
   * (every check of the datacenter, megabytes) is compared with the last scan's piece by piece,
   * only changed checks parsed, with a turn of the event loop every few thousand checks, so a
   * scan never holds requests up for long (scanChanges).
   */
  private async scanRegistrations(): Promise<void> {
    this.scanning = true;
    this.scanAgain = false;
    const maySweep = this.scanMaySweep;
    this.scanMaySweep = false;
    this.lastScanAt = Date.now();
    this.registrationScans += 1;
    try {
      const res = await this.client!.readText('/v1/health/state/any', []);
      if (this.closed) return;
      const changed = await this.scanChanges(res.body);
      if (this.closed) return;
      for (const name of changed) if (this.catalog.has(name)) this.queue!.urgent(name);
      this.scanFailures = 0;
      this.noteSuccess('scan');
      // No service gained or lost a checked instance: the catalog change is one no check shows.
      if (changed.length === 0 && maySweep) this.scheduleSweep();
    } catch (err) {
      if (this.closed) return;
      this.scanFailures += 1;
      this.noteFailure('scan', err instanceof ConsulRequestError ? err : new ConsulRequestError('unreachable', (err as Error).message));
      this.lastScanAt = Date.now() + backoffDelay(this.scanFailures, this.backoff) - this.config.registrationScanInterval;
      this.scanAgain = true;
      this.scanMaySweep ||= maySweep;
    } finally {
      this.scanning = false;
      if (this.scanAgain && !this.closed) {
        this.scanAgain = false;
        this.scheduleRegistrationScan(false);
      }
    }
  }

  /**
   * The services that gained or lost a checked instance since the last scan. Only the checks
   * whose text changed are parsed (json-piece-index.ts, with a turn of the event loop every few
   * thousand checks); an answer that cannot be cut into pieces is parsed whole, in slices
   * (sliced-json-array.ts), so a scan never holds requests up for long.
   */
  private async scanChanges(text: string): Promise<string[]> {
    const changes = (await this.scanPieces.updateInSlices(text)) ?? (await this.scanWhole(text));
    return changedRegistrations(changes.removed, changes.added);
  }

  private async scanWhole(text: string): Promise<PieceChanges<CheckRegistration>> {
    const origin = this.connection!.origin;
    const pieces: [string, CheckRegistration][] = [];
    try {
      await parseArrayInSlices(text, (elements) => {
        const parsed = healthStateSchema.safeParse(elements);
        if (!parsed.success) {
          const issue = parsed.error.issues[0];
          throw new ConsulRequestError('garbage', `Consul at ${origin} sent an unexpected body for /v1/health/state/any: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''} (within a slice of ${elements.length} checks)`.trim());
        }
        for (const c of parsed.data) pieces.push([JSON.stringify(c), checkRegistration(c)]);
      });
    } catch (err) {
      if (err instanceof ConsulRequestError) throw err;
      throw new ConsulRequestError('garbage', `Consul at ${origin} sent a body that is not a JSON array for /v1/health/state/any (${text.length} bytes): ${(err as Error).message}`);
    }
    const removed = [...this.scanPieces.values()];
    this.scanPieces.replace(pieces);
    return { removed, added: pieces.map((p) => p[1]) };
  }

  private scheduleSweep(): void {
    if (this.closed || this.config.sweepInterval === 0 || this.sweepTimer) return;
    const delay = Math.max(0, this.lastSweepAt + this.config.sweepInterval - Date.now());
    this.logger.debug({ inMs: delay }, 'Consul catalog changed in a way neither tags nor checks explain; a sweep is due');
    this.sweepTimer = setTimeout(() => {
      this.sweepTimer = null;
      this.lastSweepAt = Date.now();
      this.sweeps += 1;
      this.logger.debug({ services: this.catalog.size }, 'sweeping: re-reading every watched service at background priority');
      this.queue!.background(this.catalog.keys());
    }, delay);
  }

  /** Reads one service through the queue and applies the answer. */
  private async readOne(name: string): Promise<void> {
    if (this.closed || !this.catalog.has(name)) return;
    this.serviceReads += 1;
    this.readsInFlight.set(name, (this.readsInFlight.get(name) ?? 0) + 1);
    try {
      await this.readAndApply(name);
    } finally {
      const n = this.readsInFlight.get(name) ?? 1;
      if (n <= 1) this.readsInFlight.delete(name);
      else this.readsInFlight.set(name, n - 1);
    }
  }

  /** The read of readOne and what follows it (readOne counts it in flight). */
  private async readAndApply(name: string): Promise<void> {
    try {
      const res = await this.client!.read(`/v1/health/service/${encodeURIComponent(name)}`, this.tagQuery, healthServiceSchema);
      if (this.closed || !this.catalog.has(name)) return;
      if (this.apply(name, res.body)) this.markChanged();
      if (this.readFailures > 0) {
        this.readFailures = 0;
        this.noteSuccess('reads');
      }
    } catch (err) {
      if (this.closed) return;
      this.readFailures += 1;
      this.noteFailure('reads', err instanceof ConsulRequestError ? err : new ConsulRequestError('unreachable', (err as Error).message));
      const timer = setTimeout(() => {
        this.retryTimers.delete(timer);
        this.queue?.urgent(name);
      }, backoffDelay(this.readFailures, this.backoff));
      this.retryTimers.add(timer);
    }
  }

  /** Stores one service's answer; true when it differs from what was known. */
  private apply(name: string, body: readonly HealthEntry[]): boolean {
    const read = readService(name, body);
    const before = this.entries.get(name);
    this.serviceNodes.set(name, nodesOf(body));
    if (read === null) return this.setEntry(name, null);
    // Kept even when the entry is the same (a check that changed without changing the health):
    // the instances are then the same, in the same order.
    this.instanceChecks.set(name, read.checks);
    if (before !== undefined && sameService(before, read.entry)) return false;
    return this.setEntry(name, read.entry);
  }

  /** Sets (or with null removes) a service's entry, to be published; true when something changed. */
  private setEntry(name: string, entry: ServiceEntry | null): boolean {
    if (entry === null) {
      this.instanceChecks.delete(name);
      if (!this.entries.delete(name)) return false;
    } else {
      this.entries.set(name, entry);
    }
    this.unpublishedNames.add(name);
    return true;
  }

  /**
   * Start-up read of every service, `connections - 2` at a time with no rate limit (nothing
   * routes yet): as fast as Consul answers, within the connection bound. A read that fails for a
   * reason a retry may cure (429 rate limited, 5xx, timeout, reset) is retried by its worker
   * after a backoff, which also slows that worker down while Consul pushes back, so one
   * refusal among thousands of reads does not start the whole view again; after
   * START_READ_ATTEMPTS failures of one read, or a refused token, the first load fails.
   */
  private async readAll(names: readonly string[]): Promise<{ errors: ConsulRequestError[] }> {
    const errors: ConsulRequestError[] = [];
    let next = 0;
    const worker = async () => {
      while (errors.length === 0 && !this.closed) {
        const name = names[next++];
        if (name === undefined) return;
        for (let attempt = 1; ; attempt++) {
          try {
            this.serviceReads += 1;
            const res = await this.client!.read(`/v1/health/service/${encodeURIComponent(name)}`, this.tagQuery, healthServiceSchema);
            this.apply(name, res.body);
            break;
          } catch (err) {
            const error = err instanceof ConsulRequestError ? err : new ConsulRequestError('unreachable', (err as Error).message);
            if (error.kind === 'acl' || attempt >= START_READ_ATTEMPTS || this.closed) {
              errors.push(error);
              return;
            }
            // Counted here when retried; a read that fails the load is counted by the caller.
            this.syncErrors += 1;
            await sleep(backoffDelay(attempt, this.backoff));
          }
        }
      }
    };
    const workers = Math.max(1, Math.min(this.config.connections - 2, names.length));
    await Promise.all(Array.from({ length: workers }, worker));
    return { errors };
  }

  private markChanged(): void {
    this.unpublished = true;
    if (this.queue === null || this.queue.idle) {
      this.publishNow();
      return;
    }
    // Reads are still queued (a sweep, a burst): publish what is known within a bound.
    this.publishTimer ??= setTimeout(() => this.publishNow(), PUBLISH_MAX_DELAY_MS);
  }

  private publishNow(): void {
    if (this.publishTimer) clearTimeout(this.publishTimer);
    this.publishTimer = null;
    if (!this.unpublished || this.closed) return;
    this.unpublished = false;
    this.publish(false);
  }

  /**
   * Swaps in a new snapshot (unchanged services keep their object) and tells subscribers.
   * Services are listed by name. After the first, a snapshot is the previous one with the
   * changed services replaced (PersistentSortedMap: the cost follows the changes, not the
   * number of services) and carries their names as its delta, so subscribers that applied the
   * previous snapshot look at those services only.
   */
  private publish(initial: boolean): void {
    const previous = this.snapshot;
    let services: PersistentSortedMap<ServiceEntry>;
    const names: string[] = [];
    if (initial || this.published === null) {
      services = PersistentSortedMap.from(this.entries);
    } else {
      const changes = new Map<string, ServiceEntry | undefined>();
      for (const name of this.unpublishedNames) {
        const entry = this.entries.get(name);
        if (entry === this.published.get(name)) continue;
        changes.set(name, entry);
        names.push(name);
      }
      services = this.published.withChanges(changes);
    }
    this.unpublishedNames.clear();
    this.published = services;
    this.snapshot = initial ? { services } : { services, delta: { previous: new WeakRef(previous), names } };
    // Failures are logged and shown by the view itself (status().persistedView.error).
    if (this.view !== null) void this.view.save(this.snapshot);
    if (initial) return;
    // Debug, not info: under churn this is one line per publish, many a second.
    this.logger.debug({ services: services.size, changed: names.length }, 'Consul services changed');
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

const NO_TAGS: readonly string[] = [];

/** A check status to set on a known instance (onHealth): `checks.statuses[at] = status`. */
interface PendingStatus {
  readonly service: string;
  readonly checks: InstanceChecks;
  readonly at: number;
  readonly status: CheckStatus;
}

/** Services of one piece of the service list, with their tags as Consul listed them. */
type CatalogMembers = readonly (readonly [string, readonly string[]])[];

/** One piece of /v1/catalog/services (members without the braces); throws when it is not one. */
function decodeCatalogMembers(piece: string): CatalogMembers {
  const json: unknown = JSON.parse(`{${piece}}`);
  const parsed = catalogServicesSchema.safeParse(json);
  if (!parsed.success) throw new Error('not a piece of a service list');
  const out: [string, readonly string[]][] = [];
  for (const name in parsed.data) out.push([name, parsed.data[name] ?? NO_TAGS]);
  return out;
}

/** One element of /v1/health/state/any as the check it registers; throws when it is not a check. */
function decodeCheckRegistration(piece: string): CheckRegistration {
  const check: unknown = JSON.parse(piece);
  const parsed = healthStateSchema.safeParse([check]);
  if (!parsed.success) throw new Error('not a check');
  return checkRegistration(check as HealthCheck);
}

/**
 * Whether two tag lists hold the same tags. Consul builds each service's list from a Go map, so
 * the order may differ from one answer to the next: compared in order first (no allocation),
 * then as sorted copies.
 */
/** How far a check status takes its instance out of rotation: passing 0, warning 1, critical and maintenance 2. */
function statusRank(status: CheckStatus): number {
  return status === 'passing' ? 0 : status === 'warning' ? 1 : 2;
}

function sameTags(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  if (i === a.length) return true;
  const x = a.slice(i).sort();
  const y = b.slice(i).sort();
  return x.every((t, k) => t === y[k]);
}

/** Whether a failed start-up read may succeed when tried again (Consul unreachable or failing, not a refused token). */
function isRetryable(err: unknown): boolean {
  return err instanceof ConsulRequestError && err.kind !== 'acl';
}

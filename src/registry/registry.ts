import type { RegistrySnapshot } from './service-instance.js';

export interface RegistryStatus {
  /** "file" or "consul". */
  readonly source: string;
  /** Where the data comes from (a path or an address). */
  readonly location: string;
  /** True once a first good snapshot has been loaded. */
  readonly synced: boolean;
  /** Epoch ms of the last good sync, or null. */
  readonly lastSyncAt: number | null;
  /** The most recent error, cleared by the next good sync. */
  readonly lastError: string | null;
  /** Failed syncs since the source started (exported as switchyard_registry_sync_errors_total). */
  readonly syncErrors?: number;
  /**
   * Epoch ms since when the source has been failing, so the data may be out of date (the
   * last good data keeps serving); null while the source answers. Sources that cannot go
   * stale leave it out.
   */
  readonly staleSince?: number | null;
  /** Consul sources: how reads are answered and what they cost. */
  readonly consul?: ConsulReadStatus;
  /** Sources that keep their last good view in a file (registry.persistView). */
  readonly persistedView?: PersistedViewStatus;
}

/** The persisted registry view: where it is, whether routing serves from it now, and its problems. */
export interface PersistedViewStatus {
  readonly file: string;
  /** True while routing serves from the view loaded at start-up (the registry not reached yet): the data is stale. */
  readonly serving: boolean;
  /** Epoch ms when the view served was saved, else of the last save since start; null if none. */
  readonly savedAt: number | null;
  /** Why the view could not be loaded (until a save replaces it) or the last save failed; null when fine. */
  readonly error: string | null;
}

/** The Consul read path as the registry sees it (admin API /api/v1/registry and metrics). */
export interface ConsulReadStatus {
  /** Configured read mode: stale, default or consistent. */
  readonly consistency: string;
  /** X-Consul-KnownLeader of the last answer (null before the first). */
  readonly knownLeader: boolean | null;
  /** X-Consul-LastContact of the last answer, in ms (0 when the leader answered). */
  readonly lastContactMs: number | null;
  /** X-Consul-Effective-Consistency of the last answer, when Consul sends it. */
  readonly effectiveConsistency: string | null;
  /** Stale answers older than maxStale that were read again from the leader. */
  readonly staleRetries: number;
  /** Requests sent to Consul and response bytes received since start. */
  readonly requests: number;
  readonly bytes: number;
  /** Reads of single services, full /v1/health/state/any scans and sweeps since start. */
  readonly serviceReads: number;
  /** Check status changes the health watch showed that were applied to a known instance without a service read. */
  readonly checksApplied: number;
  readonly registrationScans: number;
  readonly sweeps: number;
  /** True while an unexplained catalog change waits for the next sweep slot. */
  readonly sweepPending: boolean;
}

export type RegistryListener = (snapshot: RegistrySnapshot) => void;

/**
 * A source of service instances. Implementations keep the last good snapshot when the
 * source fails: a failing registry removes nothing.
 */
export interface Registry {
  /** Loads the first snapshot. Rejects when nothing usable can be loaded. */
  start(): Promise<void>;
  current(): RegistrySnapshot;
  /** Called with each new snapshot whose content differs from the previous one. */
  subscribe(listener: RegistryListener): () => void;
  status(): RegistryStatus;
  close(): Promise<void>;
}

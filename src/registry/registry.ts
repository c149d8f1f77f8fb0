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
  /**
   * Epoch ms since when the source has been failing, so the data may be out of date (the
   * last good data keeps serving); null while the source answers. Sources that cannot go
   * stale leave it out.
   */
  readonly staleSince?: number | null;
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

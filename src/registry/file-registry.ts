import { watch, type FSWatcher } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { basename, dirname } from 'node:path';
import type { Logger } from '../observability/logger.js';
import type { Registry, RegistryListener, RegistryStatus } from './registry.js';
import { EMPTY_SNAPSHOT, type RegistrySnapshot } from './service-instance.js';
import { parseServicesFile } from './services-file.js';
import { sameService, sameSnapshot } from './snapshot-equality.js';

export interface FileRegistryOptions {
  path: string;
  watch: boolean;
  /** Quiet time after the last change event before the file is read again. */
  debounceMs: number;
  logger: Logger;
}

/**
 * The embedded registry: a YAML or JSON file of services and instances. The directory is
 * watched (editors replace files, so the file itself may get a new inode); a broken edit
 * is logged with its exact error and the previous good snapshot keeps serving.
 */
export class FileRegistry implements Registry {
  private snapshot: RegistrySnapshot = EMPTY_SNAPSHOT;
  private readonly listeners = new Set<RegistryListener>();
  private watcher: FSWatcher | null = null;
  private debounceTimer: NodeJS.Timeout | null = null;
  private lastSyncAt: number | null = null;
  private lastError: string | null = null;
  private syncErrors = 0;
  private reading: Promise<void> = Promise.resolve();

  constructor(private readonly options: FileRegistryOptions) {}

  async start(): Promise<void> {
    this.snapshot = parseServicesFile(this.options.path, await this.readText());
    this.lastSyncAt = Date.now();
    if (this.options.watch) this.startWatching();
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
      source: 'file',
      location: this.options.path,
      synced: this.lastSyncAt !== null,
      lastSyncAt: this.lastSyncAt,
      lastError: this.lastError,
      syncErrors: this.syncErrors,
    };
  }

  /** Reads the file now (also what the watcher calls). Resolves when the read is applied or rejected. */
  reload(): Promise<void> {
    this.reading = this.reading.then(() => this.readAndApply());
    return this.reading;
  }

  async close(): Promise<void> {
    this.watcher?.close();
    this.watcher = null;
    if (this.debounceTimer) clearTimeout(this.debounceTimer);
    await this.reading;
  }

  private startWatching(): void {
    const file = basename(this.options.path);
    this.watcher = watch(dirname(this.options.path), { persistent: false }, (_event, name) => {
      if (name !== null && name !== file) return;
      if (this.debounceTimer) clearTimeout(this.debounceTimer);
      this.debounceTimer = setTimeout(() => {
        this.debounceTimer = null;
        void this.reload();
      }, this.options.debounceMs);
    });
    this.watcher.on('error', (err) => {
      this.options.logger.error({ err, path: this.options.path }, 'services file watcher failed; changes will not be picked up until restart');
    });
  }

  private async readAndApply(): Promise<void> {
    let next: RegistrySnapshot;
    try {
      next = parseServicesFile(this.options.path, await this.readText());
    } catch (err) {
      const message = (err as Error).message;
      if (message !== this.lastError) {
        this.options.logger.error({ path: this.options.path, error: message }, 'services file rejected; the previous services keep serving');
      }
      this.lastError = message;
      this.syncErrors++;
      return;
    }
    this.lastError = null;
    this.lastSyncAt = Date.now();
    if (sameSnapshot(this.snapshot, next)) return;
    // Unchanged services keep their entry object, so subscribers can tell what changed by identity.
    const previous = this.snapshot.services;
    const services = new Map([...next.services].map(([name, entry]) => {
      const old = previous.get(name);
      return [name, old !== undefined && sameService(old, entry) ? old : entry] as const;
    }));
    this.snapshot = { services };
    this.options.logger.info({ path: this.options.path, services: services.size }, 'services file applied');
    for (const listener of this.listeners) listener(this.snapshot);
  }

  private async readText(): Promise<string> {
    try {
      return await readFile(this.options.path, 'utf8');
    } catch (err) {
      throw new Error(`${this.options.path}: cannot read the services file: ${(err as Error).message}`);
    }
  }
}

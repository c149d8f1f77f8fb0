import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { z } from 'zod';
import type { RegistrySnapshot, ServiceEntry } from './service-instance.js';

/** The persisted view's path: "<config name>.registry-view.json" in the state file's folder. */
export function persistedViewPath(stateFile: string, configFile: string): string {
  return join(dirname(stateFile), `${basename(configFile, extname(configFile))}.registry-view.json`);
}

const instanceSchema = z.strictObject({
  id: z.string().min(1),
  service: z.string().min(1),
  address: z.string().min(1),
  port: z.number().int().min(1).max(65_535),
  weight: z.number().positive(),
  tags: z.array(z.string()),
  meta: z.record(z.string(), z.string()),
  health: z.enum(['passing', 'warning', 'critical']),
});

const viewSchema = z.strictObject({
  version: z.literal(1),
  savedAt: z.iso.datetime(),
  /** Which registry the view was read from (address, datacenter, tag filter): a view of another is not used. */
  scope: z.string(),
  services: z.array(z.strictObject({ name: z.string().min(1), tags: z.array(z.string()), instances: z.array(instanceSchema) })),
});

/** A persisted view that cannot be used: `message` names the file and what is wrong with it. */
export class PersistedViewUnusable extends Error {
  override readonly name = 'PersistedViewUnusable';
}

export interface LoadedView {
  snapshot: RegistrySnapshot;
  /** Epoch ms when the view was saved. */
  savedAt: number;
}

/**
 * The last good registry view, kept in a file so that a router starting while its registry
 * cannot be reached still has routes and endpoints (registry.persistView). Saves replace the
 * file atomically (write to a temporary file, then rename); one save runs at a time and a
 * save asked for meanwhile writes only the newest view.
 */
export class PersistedView {
  private writing: Promise<void> | null = null;
  private next: RegistrySnapshot | null = null;
  /** Epoch ms of the last successful save, or null. */
  lastSavedAt: number | null = null;
  /** Why the last save failed, or null when it worked (or none was made). */
  lastSaveError: string | null = null;

  constructor(
    readonly path: string,
    /** Names the registry the view belongs to (a view saved for another scope is refused). */
    private readonly scope: string,
    /** Called with each failed save (the router keeps serving; only a restart would miss the view). */
    private readonly onSaveError: (err: Error) => void,
  ) {}

  /** The stored view, or null when there is no file. Throws PersistedViewUnusable for a file that cannot be used. */
  async load(): Promise<LoadedView | null> {
    let text: string;
    try {
      text = await readFile(this.path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new PersistedViewUnusable(`cannot read the persisted registry view ${this.path}: ${(err as Error).message}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (err) {
      throw new PersistedViewUnusable(`the persisted registry view ${this.path} is not valid JSON (${(err as Error).message}); remove it, the next good registry read writes it again`);
    }
    const parsed = viewSchema.safeParse(json);
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      const where = issue.path.length > 0 ? issue.path.join('.') : '(top level)';
      throw new PersistedViewUnusable(`the persisted registry view ${this.path} is not a registry view: ${where}: ${issue.message}; remove it, the next good registry read writes it again`);
    }
    const view = parsed.data;
    if (view.scope !== this.scope) {
      throw new PersistedViewUnusable(`the persisted registry view ${this.path} was saved for another registry (${view.scope}, not ${this.scope}); it is not used and the next good read replaces it`);
    }
    const services = new Map<string, ServiceEntry>();
    for (const s of view.services) services.set(s.name, s);
    return { snapshot: { services }, savedAt: Date.parse(view.savedAt) };
  }

  /** Saves `snapshot` (after the save in progress, if any); resolves once it is written or failed. */
  save(snapshot: RegistrySnapshot): Promise<void> {
    this.next = snapshot;
    this.writing ??= this.drain();
    return this.writing;
  }

  private async drain(): Promise<void> {
    try {
      for (let snapshot = this.next; snapshot !== null; snapshot = this.next) {
        this.next = null;
        try {
          await this.write(snapshot);
          this.lastSavedAt = Date.now();
          this.lastSaveError = null;
        } catch (err) {
          this.lastSaveError = `cannot save the registry view to ${this.path}: ${(err as Error).message}`;
          this.onSaveError(err as Error);
        }
      }
    } finally {
      this.writing = null;
    }
  }

  private async write(snapshot: RegistrySnapshot): Promise<void> {
    const view = { version: 1, savedAt: new Date().toISOString(), scope: this.scope, services: [...snapshot.services.values()] };
    await mkdir(dirname(this.path), { recursive: true });
    const tmp = `${this.path}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(view)}\n`, { mode: 0o600 });
    await rename(tmp, this.path);
  }
}

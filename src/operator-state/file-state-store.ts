import { randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { EMPTY_OPERATOR_STATE, decodeOperatorState, encodeOperatorState, type OperatorState } from './operator-state.js';
import type { OperatorStateStore } from './operator-state-store.js';

/**
 * Operator state in a JSON file (admin.stateFile, else in $STATE_DIRECTORY or beside the config
 * file: stateFilePath). Each save writes a
 * temporary file in the same folder and renames it over the state file, so a crash mid-write
 * leaves either the old or the new state, never half of one; cluster workers that save the
 * same mutation each write their own temporary file. Nobody else is expected to write the file
 * while the router runs, so it is not watched.
 */
export class FileStateStore implements OperatorStateStore {
  readonly kind = 'file';

  constructor(readonly location: string) {}

  async load(): Promise<OperatorState> {
    let text: string;
    try {
      text = await readFile(this.location, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return EMPTY_OPERATOR_STATE;
      throw new Error(`cannot read the operator state file ${this.location}: ${(err as Error).message}`);
    }
    return decodeOperatorState(text, this.location);
  }

  async save(state: OperatorState): Promise<void> {
    const temp = this.tempPath();
    try {
      await writeFile(temp, encodeOperatorState(state), { mode: 0o600, flush: true });
      await rename(temp, this.location);
    } catch (err) {
      await rm(temp, { force: true });
      throw this.unwritable(err as Error);
    }
  }

  /** Writes and removes a temporary file where save writes one: a folder that is missing or read-only fails here. */
  async probe(): Promise<void> {
    const temp = this.tempPath();
    try {
      await writeFile(temp, '', { mode: 0o600 });
    } catch (err) {
      throw this.unwritable(err as Error);
    } finally {
      await rm(temp, { force: true });
    }
  }

  private tempPath(): string {
    return `${this.location}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
  }

  private unwritable(err: Error): Error {
    return new Error(
      `cannot write the operator state file ${this.location}: ${err.message}; check that its folder exists and is writable, or choose another place (admin.stateFile, or the STATE_DIRECTORY environment variable)`,
    );
  }

  watch(): void {
    // The file has one writer: this router (or its workers, which all apply every mutation).
  }

  async close(): Promise<void> {}
}

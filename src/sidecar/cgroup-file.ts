import { readFile, writeFile } from 'node:fs/promises';

/**
 * Reading and writing cgroup interface files. Every read is asynchronous and happens off
 * the request path (at scrape, status or exit time). A file this kernel does not have
 * reads as null: each counter is optional in the usage report.
 */

export async function readCgroupText(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** A file holding one number ("max" reads as null). */
export async function readCgroupNumber(file: string): Promise<number | null> {
  const text = await readCgroupText(file);
  if (text === null) return null;
  const value = text.trim();
  if (value === 'max') return null;
  const n = Number(value);
  return Number.isFinite(n) ? n : null;
}

/** Parses "key value" lines (memory.events, cpu.stat, memory.oom_control, ...). */
export function parseKeyedValues(text: string): Map<string, number> {
  const values = new Map<string, number>();
  for (const line of text.split('\n')) {
    const space = line.indexOf(' ');
    if (space <= 0) continue;
    const n = Number(line.slice(space + 1).trim());
    if (Number.isFinite(n)) values.set(line.slice(0, space), n);
  }
  return values;
}

/** One value of a "key value" file; null when the file or the key is missing. */
export async function readCgroupKey(file: string, key: string): Promise<number | null> {
  const text = await readCgroupText(file);
  return text === null ? null : (parseKeyedValues(text).get(key) ?? null);
}

/** Pids listed in a cgroup.procs file (empty when the group is gone). */
export async function readCgroupPids(procsFile: string): Promise<number[]> {
  const text = await readCgroupText(procsFile);
  if (text === null) return [];
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}

/** Writes one interface file; the error names the file and the value. */
export async function writeCgroupFile(file: string, value: string): Promise<void> {
  try {
    await writeFile(file, value);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw Object.assign(new Error(`cannot write "${value}" to ${file}: ${e.code ?? e.message}`), { code: e.code });
  }
}

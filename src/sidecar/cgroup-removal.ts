import { access, mkdir, rmdir } from 'node:fs/promises';
import { readCgroupPids } from './cgroup-file.js';

/** How long removal waits for killed processes to leave a group before giving up. */
const EMPTY_WAIT_MS = 3_000;
const POLL_MS = 20;

/**
 * SIGKILLs every process listed in the groups' cgroup.procs (they are all the instance's:
 * the app and what it forked, which inherited its group). Returns how many were signalled.
 */
export async function killGroupProcesses(procsFiles: readonly string[]): Promise<number> {
  // A process is listed once per hierarchy (v1): signal each pid once.
  const pids = new Set<number>();
  for (const file of procsFiles) for (const pid of await readCgroupPids(file)) pids.add(pid);
  let killed = 0;
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
      killed++;
    } catch (err) {
      // ESRCH: it exited between the read and the kill, which is what we want.
      if ((err as NodeJS.ErrnoException).code !== 'ESRCH') throw err;
    }
  }
  return killed;
}

/** Waits until no process is left in any of the groups (bounded); returns whether they emptied. */
export async function waitGroupsEmpty(procsFiles: readonly string[]): Promise<boolean> {
  const deadline = Date.now() + EMPTY_WAIT_MS;
  for (;;) {
    let left = 0;
    for (const file of procsFiles) left += (await readCgroupPids(file)).length;
    if (left === 0) return true;
    if (Date.now() > deadline) return false;
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

/**
 * Removes a group directory (rmdir only: a cgroup is removed by rmdir of its directory,
 * never by deleting its files). A group just emptied can still be busy for a moment, so
 * EBUSY is retried within the same bound. A missing group counts as removed.
 */
export async function removeGroupDir(dir: string): Promise<void> {
  const deadline = Date.now() + EMPTY_WAIT_MS;
  for (;;) {
    try {
      await rmdir(dir);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return;
      if (code !== 'EBUSY' || Date.now() > deadline) throw new Error(`cannot remove cgroup ${dir}: ${code ?? (err as Error).message}`);
      await new Promise((r) => setTimeout(r, POLL_MS));
    }
  }
}

/**
 * Creates a group directory; returns true when it created it (false: it already existed).
 * Errors name the cause and the fix.
 */
export async function createGroupDir(dir: string, version: 'v1' | 'v2'): Promise<boolean> {
  try {
    await mkdir(dir);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') return false;
    throw new Error(`cannot create cgroup ${dir}: ${groupWriteFix(code, version)}`);
  }
}

/** What to do about an error creating or writing a group, by errno. */
export function groupWriteFix(code: string | undefined, version: 'v1' | 'v2'): string {
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return version === 'v2'
        ? 'permission denied: run the sidecar as root, or delegate its cgroup to the sidecar\'s user (systemd: Delegate=yes)'
        : 'permission denied: run the sidecar as root (cgroup v1 is not delegated to other users)';
    case 'EROFS':
      return 'the cgroup filesystem is read-only (typical in a container): mount it read-write, or run without limits';
    case 'ENOENT':
      return 'the parent group does not exist (is the controller mounted?)';
    default:
      return code ?? 'unknown error';
  }
}

/**
 * Removes a group other sidecars may also use (the shared `switchyard` parent): a group
 * that still has children is in use and stays. Returns whether it was removed.
 */
export async function removeSharedGroupDir(dir: string): Promise<boolean> {
  try {
    await rmdir(dir);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EBUSY' || code === 'ENOTEMPTY' || code === 'ENOENT') return false;
    throw new Error(`cannot remove cgroup ${dir}: ${code ?? (err as Error).message}`);
  }
}

/** Whether an interface file exists (optional files depend on kernel version and config). */
export async function fileExists(file: string): Promise<boolean> {
  try {
    await access(file);
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    throw err;
  }
}

import { join } from 'node:path';
import { readCgroupKey, readCgroupNumber, writeCgroupFile } from './cgroup-file.js';
import { groupDirectory, type CgroupMounts, type ProcessCgroups } from './cgroup-mounts.js';
import { createGroupDir, fileExists, groupWriteFix, killGroupProcesses, removeGroupDir, removeSharedGroupDir, waitGroupsEmpty } from './cgroup-removal.js';
import { CgroupUnavailableError, cpuQuotaUs, CPU_PERIOD_US, withLimitsApplied, type CgroupDriver, type CgroupLimits, type CgroupUsage, type InstanceCgroup } from './instance-cgroup.js';

/** v1 controllers the sidecar uses: memory (limit, usage, OOM), cpu (quota, throttling), cpuacct (CPU time), pids. */
const V1_CONTROLLERS = ['memory', 'cpu', 'cpuacct', 'pids'] as const;
type V1Controller = (typeof V1_CONTROLLERS)[number];

/** Limit → controller that enforces it. */
export function requiredV1Controllers(limits: CgroupLimits): V1Controller[] {
  const needed: V1Controller[] = [];
  if (limits.memoryMax !== undefined) needed.push('memory');
  if (limits.cpuMax !== undefined) needed.push('cpu');
  if (limits.pidsMax !== undefined) needed.push('pids');
  return needed;
}

/** Kernel's "no limit" for memory.limit_in_bytes is a page-rounded 2^63-1; anything this big means none. */
const V1_NO_MEMORY_LIMIT = 2 ** 62;

/**
 * cgroup v1: one directory per controller hierarchy (co-mounted controllers such as
 * cpu,cpuacct share one). In each hierarchy the sidecar's parent is
 * `<its own group>/switchyard/<service>-<pid>`, so limits already placed on the sidecar
 * still bound its apps; instance groups are `instance-N` below it.
 */
export class CgroupV1Driver implements CgroupDriver {
  readonly version = 'v1' as const;

  private constructor(
    /** controller → the sidecar's parent group directory in that controller's hierarchy. */
    private readonly parentDirs: Map<V1Controller, string>,
    /** `switchyard` groups this sidecar created (removed at close unless another sidecar uses them). */
    private readonly createdTop: string[],
  ) {}

  get parents(): string[] {
    return [...new Set(this.parentDirs.values())];
  }

  get controllers(): string[] {
    return [...this.parentDirs.keys()];
  }

  /**
   * Creates the parent groups. Controllers a limit needs must work (else CgroupUnavailableError
   * with the fix); the others (for metrics only) are used where they work and skipped otherwise.
   */
  static async open(mounts: CgroupMounts, own: ProcessCgroups, ownerName: string, limits: CgroupLimits): Promise<CgroupV1Driver> {
    const required = new Set(requiredV1Controllers(limits));
    for (const controller of required) {
      if (!mounts.v1.has(controller)) {
        throw new CgroupUnavailableError(
          `the cgroup v1 "${controller}" controller is not mounted: mount it (mount -t cgroup -o ${controller} cgroup /sys/fs/cgroup/${controller}) or use a cgroup v2 host with "${controller}" delegated`,
        );
      }
    }
    const parentDirs = new Map<V1Controller, string>();
    const createdTop: string[] = [];
    const byHierarchy = new Map<string, string>();
    for (const controller of V1_CONTROLLERS) {
      const mount = mounts.v1.get(controller);
      if (mount === undefined) continue;
      const hierarchy = groupDirectory(mount, own.v1.get(controller) ?? '/');
      const existing = byHierarchy.get(hierarchy);
      if (existing !== undefined) {
        parentDirs.set(controller, existing);
        continue;
      }
      const top = join(hierarchy, 'switchyard');
      const parent = join(top, ownerName);
      try {
        if (await createGroupDir(top, 'v1')) createdTop.push(top);
        await createGroupDir(parent, 'v1');
      } catch (err) {
        if (required.has(controller)) throw new CgroupUnavailableError(`cgroup v1 "${controller}": ${(err as Error).message}`);
        continue;
      }
      byHierarchy.set(hierarchy, parent);
      parentDirs.set(controller, parent);
    }
    return new CgroupV1Driver(parentDirs, createdTop);
  }

  async create(instance: number, limits: CgroupLimits): Promise<InstanceCgroup> {
    const dirs = new Map<V1Controller, string>();
    for (const [controller, parent] of this.parentDirs) dirs.set(controller, join(parent, `instance-${instance}`));
    const group = new CgroupV1Group(instance, dirs, limits);
    for (const dir of new Set(dirs.values())) await createGroupDir(dir, 'v1');
    return withLimitsApplied(group, instance);
  }

  async close(): Promise<void> {
    for (const parent of this.parents) await removeGroupDir(parent);
    // The shared "switchyard" group only if this sidecar created it and no other sidecar uses it.
    for (const top of this.createdTop) await removeSharedGroupDir(top);
  }
}

class CgroupV1Group implements InstanceCgroup {
  readonly paths: string[];
  readonly procsFiles: string[];

  constructor(
    readonly instance: number,
    private readonly dirs: Map<V1Controller, string>,
    readonly limits: CgroupLimits,
  ) {
    this.paths = [...new Set(dirs.values())];
    this.procsFiles = this.paths.map((d) => join(d, 'cgroup.procs'));
  }

  private file(controller: V1Controller, name: string): string | null {
    const dir = this.dirs.get(controller);
    return dir === undefined ? null : join(dir, name);
  }

  async applyLimits(): Promise<void> {
    const { memoryMax, cpuMax, pidsMax } = this.limits;
    try {
      if (memoryMax !== undefined) {
        await writeCgroupFile(this.file('memory', 'memory.limit_in_bytes')!, String(memoryMax));
        // Memory+swap equal to memory: the group cannot swap (the file exists when the kernel accounts swap).
        const memsw = this.file('memory', 'memory.memsw.limit_in_bytes')!;
        if (await fileExists(memsw)) await writeCgroupFile(memsw, String(memoryMax));
        await writeCgroupFile(this.file('memory', 'memory.swappiness')!, '0');
      }
      if (cpuMax !== undefined) {
        await writeCgroupFile(this.file('cpu', 'cpu.cfs_period_us')!, String(CPU_PERIOD_US));
        await writeCgroupFile(this.file('cpu', 'cpu.cfs_quota_us')!, String(cpuQuotaUs(cpuMax)));
      }
      if (pidsMax !== undefined) await writeCgroupFile(this.file('pids', 'pids.max')!, String(pidsMax));
    } catch (err) {
      throw new Error(`${(err as Error).message} (${groupWriteFix((err as NodeJS.ErrnoException).code, 'v1')})`);
    }
  }

  async usage(): Promise<CgroupUsage> {
    const read = (c: V1Controller, name: string) => {
      const f = this.file(c, name);
      return f === null ? Promise.resolve(null) : readCgroupNumber(f);
    };
    const key = (c: V1Controller, name: string, k: string) => {
      const f = this.file(c, name);
      return f === null ? Promise.resolve(null) : readCgroupKey(f, k);
    };
    const [memory, peak, limit, cpuNs, throttledNs, pids, oomKills] = await Promise.all([
      read('memory', 'memory.usage_in_bytes'),
      read('memory', 'memory.max_usage_in_bytes'),
      read('memory', 'memory.limit_in_bytes'),
      read('cpuacct', 'cpuacct.usage'),
      key('cpu', 'cpu.stat', 'throttled_time'),
      read('pids', 'pids.current'),
      key('memory', 'memory.oom_control', 'oom_kill'),
    ]);
    return {
      memoryBytes: memory,
      memoryPeakBytes: peak,
      memoryLimitBytes: limit === null || limit >= V1_NO_MEMORY_LIMIT ? null : limit,
      cpuSeconds: cpuNs === null ? null : cpuNs / 1e9,
      cpuThrottledSeconds: throttledNs === null ? null : throttledNs / 1e9,
      pids,
      oomKills,
    };
  }

  killAll(): Promise<number> {
    return killGroupProcesses(this.procsFiles);
  }

  async remove(): Promise<void> {
    await this.killAll();
    await waitGroupsEmpty(this.procsFiles);
    for (const dir of this.paths) await removeGroupDir(dir);
  }
}

import { join } from 'node:path';
import { readCgroupKey, readCgroupNumber, readCgroupText, writeCgroupFile } from './cgroup-file.js';
import { createGroupDir, fileExists, groupWriteFix, killGroupProcesses, removeGroupDir, removeSharedGroupDir, waitGroupsEmpty } from './cgroup-removal.js';
import { CgroupUnavailableError, cpuQuotaUs, CPU_PERIOD_US, withLimitsApplied, type CgroupDriver, type CgroupLimits, type CgroupUsage, type InstanceCgroup } from './instance-cgroup.js';

/** v2 controllers the sidecar enables for its groups (CPU time and throttling come from cpu.stat). */
const V2_CONTROLLERS = ['memory', 'cpu', 'pids'] as const;

export function requiredV2Controllers(limits: CgroupLimits): string[] {
  const needed: string[] = [];
  if (limits.memoryMax !== undefined) needed.push('memory');
  if (limits.cpuMax !== undefined) needed.push('cpu');
  if (limits.pidsMax !== undefined) needed.push('pids');
  return needed;
}

/** Controllers a v2 group has (cgroup.controllers) and passes to its children (cgroup.subtree_control). */
export interface V2GroupControllers {
  available: ReadonlySet<string>;
  delegated: ReadonlySet<string>;
}

export async function readV2Controllers(groupDir: string): Promise<V2GroupControllers> {
  const words = async (name: string) => new Set(((await readCgroupText(join(groupDir, name))) ?? '').split(/\s+/).filter(Boolean));
  return { available: await words('cgroup.controllers'), delegated: await words('cgroup.subtree_control') };
}

/**
 * Why a v2 group cannot give its child groups the needed controllers, with the fix; null
 * when it can. A controller missing from the group's cgroup.controllers is not in the
 * unified hierarchy at all (bound to a v1 mount, or not enabled above); one that is there
 * but not in cgroup.subtree_control is not delegated, and a non-root group with processes
 * of its own cannot enable it ("no internal processes").
 */
export function v2DelegationProblem(groupDir: string, controllers: V2GroupControllers, needed: readonly string[]): string | null {
  const absent = needed.filter((c) => !controllers.available.has(c));
  if (absent.length > 0) {
    return (
      `cgroup v2: ${absent.map((c) => `"${c}"`).join(', ')} not available in the unified hierarchy at ${groupDir} ` +
      `(its cgroup.controllers lists ${controllers.available.size > 0 ? [...controllers.available].join(' ') : 'none'}): ` +
      'the controller is mounted as cgroup v1 or not enabled by a parent group; boot with systemd.unified_cgroup_hierarchy=1 for v2, or let the sidecar use v1'
    );
  }
  const missing = needed.filter((c) => !controllers.delegated.has(c));
  if (missing.length === 0) return null;
  const plus = missing.map((c) => `+${c}`).join(' ');
  return (
    `cgroup v2: ${missing.map((c) => `"${c}"`).join(', ')} not delegated by the sidecar's group ${groupDir}: ` +
    `enable ${missing.length > 1 ? 'them' : 'it'} with echo "${plus}" > ${join(groupDir, 'cgroup.subtree_control')} ` +
    '(the group must have no processes of its own; under systemd run the sidecar with Delegate=yes in a sub-group)'
  );
}

/**
 * cgroup v2 (unified): one tree. The sidecar's parent is `<its own group>/switchyard/
 * <service>-<pid>`; the controllers its own group delegates are enabled down to the
 * instance groups `instance-N`. The sidecar never writes to its own group or above it.
 */
export class CgroupV2Driver implements CgroupDriver {
  readonly version = 'v2' as const;

  private constructor(
    private readonly parent: string,
    readonly controllers: string[],
    private readonly createdTop: string | null,
  ) {}

  get parents(): string[] {
    return [this.parent];
  }

  static async open(ownDir: string, ownerName: string, limits: CgroupLimits): Promise<CgroupV2Driver> {
    const own = await readV2Controllers(ownDir);
    const problem = v2DelegationProblem(ownDir, own, requiredV2Controllers(limits));
    if (problem !== null) throw new CgroupUnavailableError(problem);
    const controllers = V2_CONTROLLERS.filter((c) => own.delegated.has(c));
    const enable = controllers.map((c) => `+${c}`).join(' ');
    const top = join(ownDir, 'switchyard');
    const parent = join(top, ownerName);
    let createdTop: string | null = null;
    try {
      if (await createGroupDir(top, 'v2')) createdTop = top;
      if (enable !== '') await writeCgroupFile(join(top, 'cgroup.subtree_control'), enable);
      await createGroupDir(parent, 'v2');
      if (enable !== '') await writeCgroupFile(join(parent, 'cgroup.subtree_control'), enable);
    } catch (err) {
      throw new CgroupUnavailableError(`cgroup v2: ${(err as Error).message}${(err as NodeJS.ErrnoException).code ? ` (${groupWriteFix((err as NodeJS.ErrnoException).code, 'v2')})` : ''}`);
    }
    return new CgroupV2Driver(parent, controllers, createdTop);
  }

  async create(instance: number, limits: CgroupLimits): Promise<InstanceCgroup> {
    const dir = join(this.parent, `instance-${instance}`);
    await createGroupDir(dir, 'v2');
    const group = new CgroupV2Group(instance, dir, limits);
    return withLimitsApplied(group, instance);
  }

  async close(): Promise<void> {
    await removeGroupDir(this.parent);
    if (this.createdTop !== null) await removeSharedGroupDir(this.createdTop);
  }
}

class CgroupV2Group implements InstanceCgroup {
  readonly paths: string[];
  readonly procsFiles: string[];

  constructor(
    readonly instance: number,
    private readonly dir: string,
    readonly limits: CgroupLimits,
  ) {
    this.paths = [dir];
    this.procsFiles = [join(dir, 'cgroup.procs')];
  }

  async applyLimits(): Promise<void> {
    const { memoryMax, cpuMax, pidsMax } = this.limits;
    try {
      if (memoryMax !== undefined) {
        await writeCgroupFile(join(this.dir, 'memory.max'), String(memoryMax));
        // memory.swap.max exists when the kernel accounts swap; 0 = the group cannot swap.
        const swap = join(this.dir, 'memory.swap.max');
        if (await fileExists(swap)) await writeCgroupFile(swap, '0');
      }
      if (cpuMax !== undefined) await writeCgroupFile(join(this.dir, 'cpu.max'), `${cpuQuotaUs(cpuMax)} ${CPU_PERIOD_US}`);
      if (pidsMax !== undefined) await writeCgroupFile(join(this.dir, 'pids.max'), String(pidsMax));
    } catch (err) {
      throw new Error(`${(err as Error).message} (${groupWriteFix((err as NodeJS.ErrnoException).code, 'v2')})`);
    }
  }

  async usage(): Promise<CgroupUsage> {
    const f = (name: string) => join(this.dir, name);
    const [memory, peak, limit, cpuUs, throttledUs, pids, oomKills] = await Promise.all([
      readCgroupNumber(f('memory.current')),
      readCgroupNumber(f('memory.peak')),
      readCgroupNumber(f('memory.max')),
      readCgroupKey(f('cpu.stat'), 'usage_usec'),
      readCgroupKey(f('cpu.stat'), 'throttled_usec'),
      readCgroupNumber(f('pids.current')),
      readCgroupKey(f('memory.events'), 'oom_kill'),
    ]);
    return {
      memoryBytes: memory,
      memoryPeakBytes: peak,
      memoryLimitBytes: limit,
      cpuSeconds: cpuUs === null ? null : cpuUs / 1e6,
      cpuThrottledSeconds: throttledUs === null ? null : throttledUs / 1e6,
      pids,
      oomKills,
    };
  }

  async killAll(): Promise<number> {
    const kill = join(this.dir, 'cgroup.kill');
    // cgroup.kill (Linux 5.14+) kills the whole group atomically, including processes forking meanwhile.
    if (await fileExists(kill)) {
      const pids = (await readCgroupText(this.procsFiles[0]!))?.split('\n').filter(Boolean).length ?? 0;
      if (pids > 0) await writeCgroupFile(kill, '1');
      return pids;
    }
    return killGroupProcesses(this.procsFiles);
  }

  async remove(): Promise<void> {
    await this.killAll();
    await waitGroupsEmpty(this.procsFiles);
    await removeGroupDir(this.dir);
  }
}

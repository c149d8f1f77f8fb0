/** Hard limits for one app instance, applied by its cgroup. Absent = no limit. */
export interface CgroupLimits {
  /** Memory (bytes) the instance and everything it forks may use; swap is off for the group. */
  memoryMax?: number;
  /** CPUs the instance may use (0.5 = half of one CPU), enforced as quota per period. */
  cpuMax?: number;
  /** Processes and threads the instance may have at once. */
  pidsMax?: number;
}

/** What the group's own counters say; null where this hierarchy does not have the file. */
export interface CgroupUsage {
  memoryBytes: number | null;
  /** Highest memory use since the group was created. */
  memoryPeakBytes: number | null;
  memoryLimitBytes: number | null;
  /** CPU time of every process in the group, ever. */
  cpuSeconds: number | null;
  /** Time the group was held back by its CPU quota. */
  cpuThrottledSeconds: number | null;
  pids: number | null;
  /** Processes the kernel killed because the group hit its memory limit. */
  oomKills: number | null;
}

/**
 * One app instance's control group, created by the sidecar under its own parent group and
 * kept across the instance's restarts (so counters are per instance, not per process).
 */
export interface InstanceCgroup {
  readonly instance: number;
  /** The group's path in each hierarchy used, for logs and status. */
  readonly paths: readonly string[];
  /** `cgroup.procs` files a process writes its pid into to join the group (one per hierarchy). */
  readonly procsFiles: readonly string[];
  readonly limits: CgroupLimits;
  usage(): Promise<CgroupUsage>;
  /** SIGKILLs every process still in the group (what an exited instance left behind); returns how many. */
  killAll(): Promise<number>;
  /** Kills what is left, then removes the group from every hierarchy. */
  remove(): Promise<void>;
}

/** Creates instance groups with one cgroup version; owns the sidecar's parent group. */
export interface CgroupDriver {
  readonly version: 'v1' | 'v2';
  /** The sidecar's parent group (`.../switchyard/<service>-<pid>`) in each hierarchy used. */
  readonly parents: readonly string[];
  /** Controllers in use, e.g. memory, cpu, pids. */
  readonly controllers: readonly string[];
  create(instance: number, limits: CgroupLimits): Promise<InstanceCgroup>;
  /** Removes the parent groups the driver created (after every instance group is removed). */
  close(): Promise<void>;
}

/** A limit was asked for and cannot be applied; the message names the cause and the fix. */
export class CgroupUnavailableError extends Error {
  override readonly name = 'CgroupUnavailableError';
}

/** CFS period used for CPU limits (the kernel default, 100 ms). */
export const CPU_PERIOD_US = 100_000;

/** CPU quota per period for a CPU count (e.g. 0.5 → 50 000 µs of every 100 000 µs). */
export function cpuQuotaUs(cpuMax: number): number {
  return Math.max(1_000, Math.round(cpuMax * CPU_PERIOD_US));
}

/**
 * Applies a new group's limits; a group whose limits cannot be applied is removed again and
 * reported as CgroupUnavailableError (what both drivers' create() end with).
 */
export async function withLimitsApplied<G extends InstanceCgroup & { applyLimits(): Promise<void> }>(group: G, instance: number): Promise<G> {
  try {
    await group.applyLimits();
  } catch (err) {
    await group.remove();
    throw new CgroupUnavailableError(`cannot apply limits to instance ${instance}'s cgroup: ${(err as Error).message}`);
  }
  return group;
}

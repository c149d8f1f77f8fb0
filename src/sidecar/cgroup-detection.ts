import { readFile } from 'node:fs/promises';
import type { Logger } from '../observability/logger.js';
import { groupDirectory, parseMountInfo, parseProcCgroup } from './cgroup-mounts.js';
import { requiredV1Controllers, CgroupV1Driver } from './cgroup-v1.js';
import { readV2Controllers, requiredV2Controllers, v2DelegationProblem, CgroupV2Driver } from './cgroup-v2.js';
import { CgroupUnavailableError, type CgroupDriver, type CgroupLimits } from './instance-cgroup.js';

export type CgroupVersionChoice = 'auto' | 'v2' | 'v1';

/** Where detection reads the process's view of cgroups (files of /proc/self by default). */
export interface CgroupProcFiles {
  mountInfo: string;
  procCgroup: string;
}

const PROC_SELF: CgroupProcFiles = { mountInfo: '/proc/self/mountinfo', procCgroup: '/proc/self/cgroup' };

/**
 * Picks the cgroup version for the limits asked and creates the sidecar's parent group.
 * `auto`: v2 when the unified hierarchy delegates every controller the limits need to the
 * sidecar's group, else v1 when those controllers are mounted there. Logs one line saying
 * which is used; throws CgroupUnavailableError naming the fix when neither can apply them.
 */
export async function openCgroupDriver(choice: CgroupVersionChoice, limits: CgroupLimits, ownerName: string, logger: Logger, files: CgroupProcFiles = PROC_SELF): Promise<CgroupDriver> {
  let mountText: string;
  let cgroupText: string;
  try {
    [mountText, cgroupText] = await Promise.all([readFile(files.mountInfo, 'utf8'), readFile(files.procCgroup, 'utf8')]);
  } catch (err) {
    throw new CgroupUnavailableError(
      `cgroup limits need Linux cgroups (${(err as NodeJS.ErrnoException).code ?? (err as Error).message} reading ${files.mountInfo}): remove memoryMax/cpuMax/pidsMax (--memory-max, --cpu-max, --pids-max) and use app.memory.rssLimit instead`,
    );
  }
  const mounts = parseMountInfo(mountText);
  const own = parseProcCgroup(cgroupText);

  let v2Problem: string;
  if (mounts.unified === null) {
    v2Problem = 'cgroup v2 is not mounted';
  } else {
    const ownDir = groupDirectory(mounts.unified, own.unified ?? '/');
    v2Problem = v2DelegationProblem(ownDir, await readV2Controllers(ownDir), requiredV2Controllers(limits)) ?? '';
    if (v2Problem === '' && choice !== 'v1') {
      const driver = await CgroupV2Driver.open(ownDir, ownerName, limits);
      logDriver(logger, driver, limits, null);
      return driver;
    }
  }
  if (choice === 'v2') throw new CgroupUnavailableError(`${v2Problem}; or set app.limits.cgroup to "auto" to use cgroup v1 where it is mounted`);

  const v1Missing = requiredV1Controllers(limits).filter((c) => !mounts.v1.has(c));
  if (v1Missing.length > 0) {
    throw new CgroupUnavailableError(
      `cannot apply ${describeLimits(limits)}: ${v2Problem}, and cgroup v1 has no ${v1Missing.map((c) => `"${c}"`).join(', ')} controller mounted. ` +
        'Fix: run on a host with cgroup v2 and the controllers delegated to the sidecar (systemd: Delegate=yes), or mount the v1 controllers; or remove the limits and use app.memory.rssLimit',
    );
  }
  const driver = await CgroupV1Driver.open(mounts, own, ownerName, limits);
  logDriver(logger, driver, limits, choice === 'v1' ? 'app.limits.cgroup is "v1"' : v2Problem);
  return driver;
}

function logDriver(logger: Logger, driver: CgroupDriver, limits: CgroupLimits, whyNotV2: string | null): void {
  logger.info(
    { cgroupVersion: driver.version, controllers: driver.controllers, parents: driver.parents, limits, ...(whyNotV2 ? { v2Unavailable: whyNotV2 } : {}) },
    `cgroups: using ${driver.version === 'v2' ? 'v2 (unified)' : 'v1'} for per-instance limits (${describeLimits(limits)}); groups under ${driver.parents.join(', ')}`,
  );
}

export function describeLimits(limits: CgroupLimits): string {
  const parts: string[] = [];
  if (limits.memoryMax !== undefined) parts.push(`memory ${Math.round((limits.memoryMax / 1048576) * 10) / 10} MiB`);
  if (limits.cpuMax !== undefined) parts.push(`cpu ${limits.cpuMax}`);
  if (limits.pidsMax !== undefined) parts.push(`pids ${limits.pidsMax}`);
  return parts.join(', ');
}


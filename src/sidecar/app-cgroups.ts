import type { SidecarConfig } from '../config/sidecar-schema.js';
import type { Logger } from '../observability/logger.js';
import { openCgroupDriver, type CgroupProcFiles } from './cgroup-detection.js';
import type { CgroupDriver, CgroupLimits, InstanceCgroup } from './instance-cgroup.js';

/** The limits set in `app.limits`, or null when none is (then no group is created). */
export function cgroupLimitsOf(app: SidecarConfig['app']): CgroupLimits | null {
  const { memoryMax, cpuMax, pidsMax } = app.limits;
  if (memoryMax === undefined && cpuMax === undefined && pidsMax === undefined) return null;
  return { ...(memoryMax !== undefined ? { memoryMax } : {}), ...(cpuMax !== undefined ? { cpuMax } : {}), ...(pidsMax !== undefined ? { pidsMax } : {}) };
}

/**
 * The app's cgroups: the sidecar's parent group `switchyard/<service>-<pid>` and one group
 * per instance under it, created before any instance starts and removed (with anything
 * left in them) after every instance has stopped. Only groups created here are written or
 * removed.
 */
export class AppCgroups {
  private constructor(
    readonly driver: CgroupDriver,
    readonly groups: readonly InstanceCgroup[],
    readonly limits: CgroupLimits,
    private readonly logger: Logger,
  ) {}

  /** Null when no limit is set; throws CgroupUnavailableError (with the fix) when they cannot be applied. */
  static async open(app: SidecarConfig['app'], service: string, logger: Logger, files?: CgroupProcFiles): Promise<AppCgroups | null> {
    const limits = cgroupLimitsOf(app);
    if (limits === null) return null;
    const driver = await openCgroupDriver(app.limits.cgroup, limits, `${service}-${process.pid}`, logger, files);
    const groups: InstanceCgroup[] = [];
    try {
      for (let i = 0; i < app.instances; i++) groups.push(await driver.create(i, limits));
    } catch (err) {
      await new AppCgroups(driver, groups, limits, logger).close();
      throw err;
    }
    return new AppCgroups(driver, groups, limits, logger);
  }

  /** Removes every instance group, then the parent; logs what it could not remove. */
  async close(): Promise<void> {
    const failures: string[] = [];
    for (const group of this.groups) {
      try {
        await group.remove();
      } catch (err) {
        failures.push((err as Error).message);
      }
    }
    try {
      await this.driver.close();
    } catch (err) {
      failures.push((err as Error).message);
    }
    if (failures.length > 0) this.logger.error({ failures }, 'some cgroups of the app could not be removed: remove them with rmdir once their processes are gone');
    else this.logger.info({ parents: this.driver.parents }, 'app cgroups removed');
  }
}

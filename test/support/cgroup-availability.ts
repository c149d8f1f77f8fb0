import { pino } from 'pino';
import { openCgroupDriver } from '../../src/sidecar/cgroup-detection.js';

/**
 * Why cgroup tests cannot run here (null when they can): tries, as the sidecar would, to
 * create a group with a memory, CPU and pids limit under this process's own groups, then
 * removes it. Not root, no controllers, a read-only cgroupfs or not Linux → the reason.
 */
export async function cgroupSkipReason(): Promise<string | null> {
  if (process.platform !== 'linux') return `cgroups need Linux (this is ${process.platform})`;
  const silent = pino({ level: 'silent' });
  try {
    const driver = await openCgroupDriver('auto', { memoryMax: 64 * 1024 * 1024, cpuMax: 1, pidsMax: 64 }, `cgroup-probe-${process.pid}`, silent);
    const group = await driver.create(0, { memoryMax: 64 * 1024 * 1024, cpuMax: 1, pidsMax: 64 });
    await group.remove();
    await driver.close();
    return null;
  } catch (err) {
    return `cgroups cannot be written here (${(err as Error).message})`;
  }
}

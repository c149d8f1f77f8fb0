import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { openCgroupDriver, type CgroupProcFiles } from '../../../src/sidecar/cgroup-detection.js';
import { CgroupUnavailableError } from '../../../src/sidecar/instance-cgroup.js';
import { captureLog } from '../../support/log-capture.js';

const MiB = 1024 * 1024;
const silent = pino({ level: 'silent' });

/**
 * A directory tree laid out like a cgroup2 mount (mkdir and small files), with proc files
 * pointing at it. It checks which files the v2 driver writes and how it reads counters;
 * only a real kernel enforces anything (see test/integration/sidecar/cgroup-limits.test.ts).
 */
async function fakeHost(layout: { mountInfo: string; procCgroup: string; files?: Record<string, string> }): Promise<{ root: string; files: CgroupProcFiles }> {
  const root = await mkdtemp(join(tmpdir(), 'switchyard-cgroupfs-'));
  for (const [path, content] of Object.entries(layout.files ?? {})) {
    await mkdir(join(root, path, '..'), { recursive: true });
    await writeFile(join(root, path), content);
  }
  await writeFile(join(root, 'mountinfo'), layout.mountInfo.replaceAll('$ROOT', root));
  await writeFile(join(root, 'self-cgroup'), layout.procCgroup);
  return { root, files: { mountInfo: join(root, 'mountinfo'), procCgroup: join(root, 'self-cgroup') } };
}

const roots: string[] = [];
afterEach(async () => {
  for (const r of roots.splice(0)) await rm(r, { recursive: true, force: true });
});

describe('cgroup detection', () => {
  it('uses v2 when the sidecar group delegates the controllers, writes the limits, and reads the counters', async () => {
    const own = 'fs/svc.slice/orders.service';
    const inst = `${own}/switchyard/orders-7/instance-0`;
    const host = await fakeHost({
      mountInfo: '35 24 0:30 / $ROOT/fs rw,nosuid - cgroup2 cgroup2 rw',
      procCgroup: '0::/svc.slice/orders.service\n',
      files: {
        [`${own}/cgroup.controllers`]: 'cpuset cpu io memory pids\n',
        [`${own}/cgroup.subtree_control`]: 'cpu memory pids\n',
        // The kernel creates these when the group is made; the fake has them in advance.
        [`${inst}/memory.swap.max`]: 'max\n',
        [`${inst}/memory.current`]: '12345678\n',
        [`${inst}/memory.peak`]: '23456789\n',
        [`${inst}/memory.events`]: 'low 0\nhigh 0\nmax 4\noom 1\noom_kill 1\n',
        [`${inst}/cpu.stat`]: 'usage_usec 2500000\nuser_usec 2000000\nsystem_usec 500000\nnr_periods 10\nnr_throttled 4\nthrottled_usec 750000\n',
        [`${inst}/pids.current`]: '9\n',
      },
    });
    roots.push(host.root);
    const log = captureLog('info');
    const limits = { memoryMax: 64 * MiB, cpuMax: 0.5, pidsMax: 32 };
    const driver = await openCgroupDriver('auto', limits, 'orders-7', log.logger, host.files);
    expect(driver.version).toBe('v2');
    expect(driver.controllers).toEqual(['memory', 'cpu', 'pids']);
    expect(driver.parents).toEqual([join(host.root, own, 'switchyard/orders-7')]);
    const line = log.find('cgroups: using v2 (unified)');
    expect(line).toHaveLength(1);
    expect(line[0]!.msg).toContain('memory 64 MiB, cpu 0.5, pids 32');

    const read = (p: string) => readFile(join(host.root, p), 'utf8');
    expect(await read(`${own}/switchyard/cgroup.subtree_control`)).toBe('+memory +cpu +pids');
    expect(await read(`${own}/switchyard/orders-7/cgroup.subtree_control`)).toBe('+memory +cpu +pids');
    // The sidecar's own group is never written.
    expect(await read(`${own}/cgroup.subtree_control`)).toBe('cpu memory pids\n');

    const group = await driver.create(0, limits);
    expect(group.procsFiles).toEqual([join(host.root, inst, 'cgroup.procs')]);
    expect(await read(`${inst}/memory.max`)).toBe(String(64 * MiB));
    expect(await read(`${inst}/memory.swap.max`)).toBe('0');
    expect(await read(`${inst}/cpu.max`)).toBe('50000 100000');
    expect(await read(`${inst}/pids.max`)).toBe('32');
    expect(await group.usage()).toEqual({
      memoryBytes: 12345678,
      memoryPeakBytes: 23456789,
      memoryLimitBytes: 64 * MiB,
      cpuSeconds: 2.5,
      cpuThrottledSeconds: 0.75,
      pids: 9,
      oomKills: 1,
    });
  });

  it('falls back to v1 and says why when v2 lacks the controllers; fails with the fix when neither has them', async () => {
    const host = await fakeHost({
      mountInfo: '27 26 0:25 / $ROOT/unified rw - cgroup2 cgroup2 rw\n30 26 0:28 / $ROOT/memory rw - cgroup cgroup rw,memory',
      procCgroup: '4:memory:/\n0::/\n',
      files: { 'unified/cgroup.controllers': '', 'unified/cgroup.subtree_control': '', 'memory/cgroup.procs': '' },
    });
    roots.push(host.root);
    const log = captureLog('info');
    const driver = await openCgroupDriver('auto', { memoryMax: 64 * MiB }, 'orders-7', log.logger, host.files);
    expect(driver.version).toBe('v1');
    expect(driver.parents).toEqual([join(host.root, 'memory/switchyard/orders-7')]);
    const line = log.find('cgroups: using v1')[0]!;
    expect(String(line.v2Unavailable)).toContain('"memory" not available in the unified hierarchy');

    // A CPU limit: v2 has no cpu controller and v1 has no cpu mount.
    const err = await openCgroupDriver('auto', { cpuMax: 1 }, 'orders-8', silent, host.files).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CgroupUnavailableError);
    expect((err as Error).message).toMatch(/^cannot apply cpu 1: cgroup v2: "cpu" not available .* and cgroup v1 has no "cpu" controller mounted\. Fix: /);
    expect((err as Error).message).toContain('or remove the limits and use app.memory.rssLimit');
  });

  it('names the echo into cgroup.subtree_control when a controller is present but not delegated, and refuses v1 fallback when v2 is required', async () => {
    const host = await fakeHost({
      mountInfo: '35 24 0:30 / $ROOT/fs rw - cgroup2 cgroup2 rw\n30 26 0:28 / $ROOT/memory rw - cgroup cgroup rw,memory',
      procCgroup: '0::/app\n',
      files: { 'fs/app/cgroup.controllers': 'cpu memory pids', 'fs/app/cgroup.subtree_control': 'cpu' },
    });
    roots.push(host.root);
    const err = await openCgroupDriver('v2', { memoryMax: 64 * MiB, pidsMax: 10 }, 'orders-7', silent, host.files).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CgroupUnavailableError);
    expect((err as Error).message).toContain(`"memory", "pids" not delegated by the sidecar's group ${join(host.root, 'fs/app')}`);
    expect((err as Error).message).toContain(`echo "+memory +pids" > ${join(host.root, 'fs/app/cgroup.subtree_control')}`);
    expect((err as Error).message).toContain('or set app.limits.cgroup to "auto"');
  });

  it('explains that limits need Linux cgroups when /proc cannot be read', async () => {
    const err = await openCgroupDriver('auto', { memoryMax: 64 * MiB }, 'x', silent, { mountInfo: '/nonexistent/mountinfo', procCgroup: '/nonexistent/cgroup' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CgroupUnavailableError);
    expect((err as Error).message).toContain('cgroup limits need Linux cgroups (ENOENT reading /nonexistent/mountinfo)');
    expect((err as Error).message).toContain('use app.memory.rssLimit instead');
  });
});

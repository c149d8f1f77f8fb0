import { execFile } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import type { SidecarStatus } from '../../../src/sidecar/sidecar.js';
import { cgroupSkipReason } from '../../support/cgroup-availability.js';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { parsePrometheusText, samples } from '../../support/prometheus-text.js';
import { eventually } from '../../support/proxy-harness.js';
import { freePorts, runSidecarCli, startSidecar, TEST_APP, type InProcessSidecar, type SidecarProcess } from '../../support/sidecar-harness.js';

const skipReason = await cgroupSkipReason();
if (skipReason !== null) console.warn(`skipping sidecar cgroup tests: ${skipReason}`);

const MiB = 1024 * 1024;

async function status(sc: InProcessSidecar): Promise<SidecarStatus> {
  return sc.sidecar.status();
}

async function metric(sc: InProcessSidecar, name: string): Promise<number | undefined> {
  const admin = sc.sidecar.adminAddress!;
  const text = (await fetchText(`http://127.0.0.1:${admin.port}/metrics`)).body;
  return samples(parsePrometheusText(text), name, { instance: '0' })[0]?.value;
}

/** True when the process is gone (or only a zombie waiting for its parent). */
function processGone(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

async function appUp(sc: InProcessSidecar): Promise<number> {
  let pid = 0;
  await eventually(async () => {
    const r = await fetchJson<{ pid: number }>(`http://127.0.0.1:${sc.appPorts[0]}/hello`).catch(() => null);
    pid = r?.json.pid ?? 0;
    return pid > 0;
  }, 20_000, 'app up');
  return pid;
}

describe.skipIf(skipReason !== null)('sidecar: per-instance cgroup limits (real processes, real cgroups)', () => {
  let sc: InProcessSidecar | null = null;
  afterEach(async () => {
    await sc?.close();
    sc = null;
  });

  it('kills a leaking app at its memory limit, recognises the OOM kill, counts it and restarts the app', async () => {
    sc = await startSidecar(null, { app: { limits: { memoryMax: '96MiB' } }, admin: { enabled: true, port: 0 } });
    const firstPid = await appUp(sc);
    expect(sc.log.find('cgroups: using')).toHaveLength(1);
    expect(await metric(sc, 'switchyard_sidecar_instance_oom_kills_total')).toBe(0);

    // 16 MiB at a time, resident: the group reaches 96 MiB within a few requests (bounded at 20).
    for (let i = 0; i < 20; i++) {
      const r = await fetchText(`http://127.0.0.1:${sc.appPorts[0]}/grow?mb=16`).catch(() => null);
      if (r === null) break;
    }
    await eventually(() => sc!.log.find('killed by the kernel at its memory limit').length === 1, 10_000, 'OOM kill logged');
    const oom = sc.log.find('killed by the kernel at its memory limit')[0]!;
    expect(oom).toMatchObject({ instance: 0, pid: firstPid, limitBytes: 96 * MiB, oomKills: 1 });
    expect(oom.peakBytes as number).toBeGreaterThan(80 * MiB);
    expect(oom.peakBytes as number).toBeLessThanOrEqual(96 * MiB);
    await eventually(() => sc!.log.find('app instance killed at its memory limit; restarting').length === 1, 10_000, 'restart logged');
    const restart = sc.log.find('app instance killed at its memory limit; restarting after backoff')[0]!;
    expect(restart).toMatchObject({ instance: 0, signal: 'SIGKILL', recentRestarts: 1 });

    const secondPid = await appUp(sc);
    expect(secondPid).not.toBe(firstPid);
    const st = await status(sc);
    expect(st.instances[0]).toMatchObject({ restarts: 1, oomKills: 1, running: true, lastExit: { signal: 'SIGKILL', oom: true } });
    expect(st.instances[0]!.cgroup!.usage).toMatchObject({ memoryLimitBytes: 96 * MiB, oomKills: 1 });
    expect(await metric(sc, 'switchyard_sidecar_instance_oom_kills_total')).toBe(1);
    expect(await metric(sc, 'switchyard_sidecar_instance_restarts_total')).toBe(1);
    expect(await metric(sc, 'switchyard_sidecar_instance_memory_limit_bytes')).toBe(96 * MiB);
    expect(await metric(sc, 'switchyard_sidecar_instance_memory_peak_bytes')).toBeGreaterThan(80 * MiB);
  });

  it('gives up under the crash-loop rules when every start is killed at the limit, and removes the groups', async () => {
    const hog = 'const a = []; for (;;) a.push(Buffer.alloc(1 << 20, 1));';
    sc = await startSidecar(null, { app: { command: [process.execPath, '-e', hog], limits: { memoryMax: '48MiB' }, restart: { initialBackoff: '20ms', maxBackoff: '100ms', crashLoopRestarts: 2 } } });
    const parents = (await status(sc)).cgroups!.parents;
    expect(await Promise.race([sc.sidecar.done, new Promise((r) => setTimeout(() => r('still running'), 20_000))])).toBe(1);
    expect(sc.log.find('killed by the kernel at its memory limit')).toHaveLength(3);
    expect(sc.log.find('app instance killed at its memory limit; restarting after backoff').map((l) => l.restartInMs)).toEqual([20, 40]);
    const gaveUp = sc.log.find('(crash loop)')[0]!;
    expect(gaveUp.msg).toContain('its last exit was an OOM kill: raise app.limits.memoryMax');
    for (const path of parents) expect(existsSync(path), path).toBe(false);
    sc = null;
  });

  it('holds a busy-looping app to its CPU share (CPU time / wall time, generous bound)', async () => {
    sc = await startSidecar(null, { app: { limits: { cpuMax: 0.1 } }, admin: { enabled: true, port: 0 } });
    await appUp(sc);
    const before = (await status(sc)).instances[0]!.cgroup!.usage;
    const spin = await fetchJson<{ cpuSeconds: number; wallSeconds: number }>(`http://127.0.0.1:${sc.appPorts[0]}/spin?ms=3000`);
    const after = (await status(sc)).instances[0]!.cgroup!.usage;
    const groupRatio = (after.cpuSeconds! - before.cpuSeconds!) / spin.json.wallSeconds;
    const appRatio = spin.json.cpuSeconds / spin.json.wallSeconds;
    // The quota is 10% of one CPU. Twice that leaves room for period granularity and the app's
    // other threads; an unlimited loop takes a whole CPU when it can get one (and even on a
    // busy shared machine far more than this: bench/sidecar-cgroup-cpu.ts).
    expect(groupRatio).toBeLessThan(0.2);
    expect(appRatio).toBeLessThan(0.2);
    expect(groupRatio).toBeGreaterThan(0);
    // Throttling is what only a quota causes: the loop was held back, not merely short of CPU.
    expect(after.cpuThrottledSeconds!).toBeGreaterThan(before.cpuThrottledSeconds!);
    expect(await metric(sc, 'switchyard_sidecar_instance_cpu_throttled_seconds_total')).toBeGreaterThan(0);
    expect(await metric(sc, 'switchyard_sidecar_instance_cpu_seconds_total')).toBeGreaterThan(0);
    expect(await metric(sc, 'switchyard_sidecar_instance_cpu_limit_cpus')).toBe(0.1);
  });

  it('stops a fork bomb at pids.max: the app gets fewer children than it asked for', async () => {
    sc = await startSidecar(null, { app: { limits: { pidsMax: 40 } }, admin: { enabled: true, port: 0 } });
    await appUp(sc);
    // Bounded: at most 200 sleeping children, one at a time, stopping at the first refusal.
    const r = await fetchJson<{ started: number; error: string | null; pids: number[] }>(`http://127.0.0.1:${sc.appPorts[0]}/spawn?n=200`);
    expect(r.json.error).toBe('EAGAIN');
    expect(r.json.started).toBeGreaterThan(0);
    // Node itself holds several of the 40 (its threads count too).
    expect(r.json.started).toBeLessThan(40);
    const usage = (await status(sc)).instances[0]!.cgroup!.usage;
    expect(usage.pids!).toBeLessThanOrEqual(40);
    expect(await metric(sc, 'switchyard_sidecar_instance_pids_limit')).toBe(40);

    // Shutdown kills what the app left in its group and removes every group the sidecar made.
    const paths = (await status(sc)).instances[0]!.cgroup!.paths;
    const parents = (await status(sc)).cgroups!.parents;
    await sc.close();
    sc = null;
    for (const path of [...paths, ...parents]) expect(existsSync(path), path).toBe(false);
    for (const pid of r.json.pids) expect(processGone(pid), `child ${pid}`).toBe(true);
  });

  it('removes every group after shutdown, with several instances and all three limits', async () => {
    sc = await startSidecar(null, { app: { instances: 2, limits: { memoryMax: '128MiB', cpuMax: 0.5, pidsMax: 64 } } });
    await appUp(sc);
    const st = await status(sc);
    expect(st.cgroups).toMatchObject({ limits: { memoryMax: 128 * MiB, cpuMax: 0.5, pidsMax: 64 } });
    const paths = st.instances.flatMap((i) => i.cgroup!.paths);
    expect(paths.length).toBeGreaterThanOrEqual(2);
    for (const path of paths) expect(existsSync(path), path).toBe(true);
    // Each instance's process is in its own group (listed in that group's cgroup.procs).
    await eventually(async () => (await status(sc!)).instances.every((i) => i.pid !== null), 10_000, 'pids known');
    for (const instance of (await status(sc)).instances) {
      for (const path of instance.cgroup!.paths) expect(readFileSync(`${path}/cgroup.procs`, 'utf8').split('\n')).toContain(String(instance.pid));
    }
    await sc.close();
    sc = null;
    for (const path of [...paths, ...st.cgroups!.parents]) expect(existsSync(path), path).toBe(false);
  });
});

describe.skipIf(skipReason !== null)('switchyard sidecar with --memory-max, --cpu-max, --pids-max (process)', () => {
  let proc: SidecarProcess | null = null;
  afterEach(async () => {
    if (proc && proc.child.exitCode === null) {
      proc.child.kill('SIGKILL');
      await proc.exited;
    }
    proc = null;
  });

  it('logs once which cgroup version applies the limits, and leaves no group after SIGTERM', async () => {
    const [port, appPort, adminPort] = await freePorts(3);
    proc = runSidecarCli([
      '--service', 'orders', '--port', String(port), '--app-port', String(appPort), '--address', '127.0.0.1', '--no-consul',
      '--drain-delay', '0', '--health-interval', '50ms', '--memory-max', '128MiB', '--cpu-max', '0.5', '--pids-max', '64',
      '--admin-port', String(adminPort), '--', process.execPath, TEST_APP,
    ]);
    await eventually(async () => (await fetchText(`http://127.0.0.1:${port}/hello`).catch(() => null))?.status === 200, 20_000, 'app answering through the sidecar');
    const lines = proc.find('cgroups: using');
    expect(lines).toHaveLength(1);
    expect(lines[0]!.msg).toMatch(/^cgroups: using (v2 \(unified\)|v1) for per-instance limits \(memory 128 MiB, cpu 0\.5, pids 64\); groups under /);
    const st = (await fetchJson<SidecarStatus>(`http://127.0.0.1:${adminPort}/status`)).json;
    expect(st.instances[0]!.cgroup!.usage.memoryLimitBytes).toBe(128 * MiB);
    const paths = [...st.instances[0]!.cgroup!.paths, ...st.cgroups!.parents];
    for (const path of paths) expect(existsSync(path), path).toBe(true);

    proc.child.kill('SIGTERM');
    expect(await proc.exited).toBe(0);
    expect(proc.find('app cgroups removed')).toHaveLength(1);
    for (const path of paths) expect(existsSync(path), path).toBe(false);
  });
});

// Root can drop to an unprivileged user (setpriv) to show what a non-root sidecar is told.
const canDropToNobody = skipReason === null && process.getuid?.() === 0 && existsSync('/usr/bin/setpriv');

describe.skipIf(!canDropToNobody)('switchyard sidecar with limits, not root', () => {
  it('refuses to start and names the fix', async () => {
    const [port, appPort] = await freePorts(2);
    const args = ['--reuid=65534', '--regid=65534', '--clear-groups', process.execPath, '--import', 'tsx', 'src/cli/switchyard.ts', 'sidecar',
      '--service', 'orders', '--port', String(port), '--app-port', String(appPort), '--no-consul', '--memory-max', '64MiB', '--', process.execPath, TEST_APP];
    const result = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
      execFile('/usr/bin/setpriv', args, { timeout: 20_000 }, (err, _stdout, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? null) : 0, stderr }));
    });
    expect(result.code).toBe(1);
    expect(result.stderr).toMatch(/^switchyard sidecar: cannot start: .*permission denied: run the sidecar as root/);
  });
});

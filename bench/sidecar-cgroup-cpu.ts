/**
 * `npx tsx bench/sidecar-cgroup-cpu.ts`: how closely a sidecar CPU limit (`app.limits.cpuMax`)
 * holds a busy-looping app. For each limit the sidecar runs the test app in its cgroup, the
 * app spins for --spin-ms, and the group's CPU time over the wall time is printed, with the
 * throttled time. Needs root (or delegated cgroups); prints why and exits 0 where it cannot run.
 *
 * Options: --spin-ms <ms> (default 3000), --limits 0.25,0.5,1 (CPUs; "none" = no limit)
 */
import { parseArgs } from 'node:util';
import { createProcessLog } from '../src/observability/logger.js';
import { configSchema } from '../src/config/schema.js';
import { Sidecar } from '../src/sidecar/sidecar.js';
import type { SidecarRunConfig } from '../src/sidecar/sidecar-options.js';
import { cgroupSkipReason } from '../test/support/cgroup-availability.js';
import { fetchJson } from '../test/support/http-client.js';
import { freePorts, TEST_APP } from '../test/support/sidecar-harness.js';

const { values } = parseArgs({ options: { 'spin-ms': { type: 'string', default: '3000' }, limits: { type: 'string', default: '0.25,0.5,1,none' } } });
const spinMs = Number(values['spin-ms']);

const skip = await cgroupSkipReason();
if (skip !== null) {
  console.log(`not run: ${skip}`);
  process.exit(0);
}

console.log(`spin ${spinMs} ms per limit; ratio = CPU seconds of the instance's cgroup / wall seconds of the spin`);
console.log('| cpuMax | ratio | app-measured ratio | throttled s |');
console.log('|---|---|---|---|');
for (const limit of values.limits!.split(',')) {
  const cpuMax = limit === 'none' ? undefined : Number(limit);
  const [port, appPort] = await freePorts(2);
  // With no CPU limit a pids limit keeps the group (and its CPU counter) without holding the CPU.
  const limits = cpuMax === undefined ? { pidsMax: 1000 } : { cpuMax };
  const config = configSchema.parse({
    sidecar: { service: 'bench', port, inbound: { address: '127.0.0.1' }, consul: { enabled: false }, shutdown: { drainDelay: 0 }, app: { command: [process.execPath, TEST_APP], port: appPort, limits } },
  }) as SidecarRunConfig;
  const sidecar = await Sidecar.start(config, { log: createProcessLog({ level: 'warn' }) });
  for (let i = 0; i < 200; i++) {
    if ((await fetchJson(`http://127.0.0.1:${appPort}/health`).catch(() => null))?.status === 200) break;
    await new Promise((r) => setTimeout(r, 50));
  }
  const before = (await sidecar.status()).instances[0]!.cgroup!.usage;
  const spin = await fetchJson<{ cpuSeconds: number; wallSeconds: number }>(`http://127.0.0.1:${appPort}/spin?ms=${spinMs}`);
  const after = (await sidecar.status()).instances[0]!.cgroup!.usage;
  const ratio = (after.cpuSeconds! - before.cpuSeconds!) / spin.json.wallSeconds;
  const throttled = (after.cpuThrottledSeconds ?? 0) - (before.cpuThrottledSeconds ?? 0);
  console.log(`| ${limit} | ${ratio.toFixed(3)} | ${(spin.json.cpuSeconds / spin.json.wallSeconds).toFixed(3)} | ${throttled.toFixed(2)} |`);
  await sidecar.stop('bench done');
}

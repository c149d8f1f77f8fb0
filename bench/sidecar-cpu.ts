/**
 * `npx tsx bench/sidecar-cpu.ts`: CPU time the `switchyard sidecar` process itself spends per
 * inbound request (user + system of its own threads, from /proc; the app's processes are not
 * counted), with the access log on (the default) and off (`logging.accessLog: false`; the
 * request metrics are recorded either way). Variants are measured in interleaved rounds and the
 * median is reported, with the load average after each measurement: compare the ratio within one
 * run, not figures across runs.
 *
 * Options: --requests <n> (default 20000), --warmup <n> (default 2000), --connections <n>
 * (default 16), --rounds <n> (default 2).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { treeThreadCpuSeconds } from './lib/process-cpu.js';
import { median } from './lib/median.js';
import { fetchText } from '../test/support/http-client.js';
import { eventually } from '../test/support/proxy-harness.js';
import { freePorts, TEST_APP } from '../test/support/sidecar-harness.js';

const { values } = parseArgs({
  options: {
    requests: { type: 'string', default: '20000' },
    warmup: { type: 'string', default: '2000' },
    connections: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '2' },
  },
});
const requests = Number(values.requests);
const warmup = Number(values.warmup);
const connections = Number(values.connections);
const rounds = Number(values.rounds);

const VARIANTS = [
  { name: 'access log on', accessLog: true },
  { name: 'access log off', accessLog: false },
] as const;

async function startSidecar(accessLog: boolean): Promise<{ child: ChildProcess; url: string }> {
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-sidecar-cpu-'));
  const [port, appPort] = await freePorts(2);
  const file = join(dir, 'sidecar.yaml');
  await writeFile(
    file,
    [
      'logging:',
      '  level: warn',
      `  accessLog: ${accessLog}`,
      'sidecar:',
      '  service: orders',
      `  port: ${port}`,
      '  inbound: { address: 127.0.0.1, maxConcurrent: 1000, queue: 1000 }',
      '  consul: { enabled: false }',
      '  shutdown: { drainDelay: 0, drainTimeout: 2s }',
      '  app:',
      `    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(TEST_APP)}]`,
      `    port: ${appPort}`,
      '',
    ].join('\n'),
  );
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/switchyard.ts', 'sidecar', file], { stdio: 'ignore' });
  const url = `http://127.0.0.1:${port}`;
  await eventually(async () => (await fetchText(`${url}/hello`).catch(() => ({ status: 0 }))).status === 200, 60_000, 'sidecar serving');
  return { child, url };
}

async function load(url: string, amount: number): Promise<{ total: number; bad: number }> {
  const r = await autocannon({ url: `${url}/hello`, connections, amount });
  return { total: r.requests.total, bad: r.non2xx + r.errors + r.timeouts };
}

async function ownCpuSeconds(pid: number): Promise<number> {
  let total = 0;
  for (const [key, seconds] of await treeThreadCpuSeconds(pid)) if (key.startsWith(`${pid}/`)) total += seconds;
  return total;
}

async function measure(accessLog: boolean): Promise<{ usPerRequest: number; errors: number; load1: number }> {
  const { child, url } = await startSidecar(accessLog);
  try {
    await load(url, warmup);
    const before = await ownCpuSeconds(child.pid!);
    const result = await load(url, requests);
    const after = await ownCpuSeconds(child.pid!);
    return { usPerRequest: ((after - before) / result.total) * 1e6, errors: result.bad, load1: loadavg()[0]! };
  } finally {
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  }
}

const figures = new Map<string, number[]>(VARIANTS.map((v) => [v.name, []]));
const loads: number[] = [];
for (let round = 0; round < rounds; round++) {
  for (let i = 0; i < VARIANTS.length; i++) {
    const v = VARIANTS[(i + round) % VARIANTS.length]!;
    const m = await measure(v.accessLog);
    if (m.errors > 0) throw new Error(`${v.name}: ${m.errors} requests failed`);
    figures.get(v.name)!.push(m.usPerRequest);
    loads.push(m.load1);
    process.stdout.write(`round ${round + 1}, ${v.name}: ${m.usPerRequest.toFixed(1)} µs CPU per request (load1 ${m.load1.toFixed(2)})\n`);
  }
}
const on = median(figures.get('access log on')!);
const off = median(figures.get('access log off')!);
process.stdout.write(
  `\nsidecar process CPU per inbound request (GET /hello, ${requests} requests, ${connections} connections, median of ${rounds}):\n` +
    `  access log on:  ${on.toFixed(1)} µs\n  access log off: ${off.toFixed(1)} µs\n  on / off: ${(on / off).toFixed(3)}\n` +
    `  1-minute load average after each measurement: ${loads.map((l) => l.toFixed(2)).join(', ')}\n`,
);

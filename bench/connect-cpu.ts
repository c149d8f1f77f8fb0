/**
 * `npm run bench:connect`: CPU per request of one service-mesh hop (Consul Connect mTLS between
 * two Switchyard sidecars) beside the same hop in plain HTTP, in one run.
 *
 *   client ──► web sidecar ──(mTLS | plain HTTP)──► api sidecar ──► api app
 *
 * Two sidecar processes (`switchyard sidecar`) register with a Consul emulator (in this
 * process: certificates, intentions, catalog); "web" has "api" as a Connect upstream on a local
 * port (the mTLS hop) and an egress listener, through which `/api-plain/...` reaches api's
 * plain inbound port (the plain hop). Both paths cross the same two proxies; only the middle
 * hop differs. The CPU counted is the two sidecar processes' own (user + system from
 * /proc/<pid>/stat; not the apps, the load generator or the emulator), over a fixed number of
 * requests on kept-alive connections, the targets alternating round by round.
 *
 * Options: --requests <n> (default 20000) --warmup <n> (default 3000) --connections <n>
 * (default 8) --rounds <n> (default 2). Prints a markdown table with `uptime` load.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import autocannon from 'autocannon';
import { ConsulEmulator } from '../test/support/consul-emulator.js';
import { freePorts } from '../test/support/free-port.js';
import { TEST_APP } from '../test/support/sidecar-harness.js';
import { describeMachine } from './lib/machine.js';
import { median } from './lib/median.js';
import { processCpuSeconds } from './lib/process-cpu.js';

const { values } = parseArgs({ options: { requests: { type: 'string', default: '20000' }, warmup: { type: 'string', default: '3000' }, connections: { type: 'string', default: '8' }, rounds: { type: 'string', default: '2' } } });
const requests = Number(values.requests);
const warmup = Number(values.warmup);
const connections = Number(values.connections);
const rounds = Number(values.rounds);

function sidecarYaml(service: string, port: number, appPort: number, consul: string, extra: string): string {
  return `logging:\n  level: warn\nsidecar:\n  service: ${service}\n  port: ${port}\n  inbound:\n    address: 127.0.0.1\n    maxConcurrent: 256\n    queue: 1024\n  consul:\n    address: ${consul}\n  shutdown:\n    drainDelay: 0\n    drainTimeout: 2s\n  app:\n    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(TEST_APP)}]\n    port: ${appPort}\n    healthCheck: { interval: 200ms }\n${extra}`;
}

function startSidecar(file: string): ChildProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/switchyard.ts', 'sidecar', '--config', file], { stdio: ['ignore', 'ignore', 'inherit'] });
  return child;
}

async function waitFor(url: string, what: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    try {
      const res = await fetch(url);
      await res.arrayBuffer();
      if (res.status === 200) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what} (${url})`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

function load(url: string, amount: number): Promise<{ ok: number; errors: number; non2xx: number }> {
  return Promise.resolve(autocannon({ url, connections, amount })).then((r) => ({ ok: r['2xx'], errors: r.errors + r.timeouts, non2xx: r.non2xx }));
}

const dir = await mkdtemp(join(tmpdir(), 'switchyard-connect-bench-'));
const emulator = await ConsulEmulator.start({ runChecks: false });
emulator.recordRequests = false;
const [apiPort, apiApp, apiConnect, webPort, webApp, webConnect, webEgress, webUpstream] = await freePorts(8);
const children: ChildProcess[] = [];
try {
  await writeFile(join(dir, 'api.yaml'), sidecarYaml('api', apiPort!, apiApp!, emulator.address, `  connect:\n    enabled: true\n    port: ${apiConnect}\n`));
  await writeFile(
    join(dir, 'web.yaml'),
    sidecarYaml('web', webPort!, webApp!, emulator.address, `  egress:\n    enabled: true\n    port: ${webEgress}\n  connect:\n    enabled: true\n    port: ${webConnect}\n    upstreams:\n      - { service: api, localBindPort: ${webUpstream} }\n`),
  );
  const api = startSidecar(join(dir, 'api.yaml'));
  const web = startSidecar(join(dir, 'web.yaml'));
  children.push(api, web);
  // The plain hop: api's plain inbound port under another name, so egress reaches it without TLS.
  emulator.register({ ID: 'api-plain', Name: 'api-plain', Address: '127.0.0.1', Port: apiPort! });
  const targets = [
    { name: 'mTLS hop (Connect)', url: `http://127.0.0.1:${webUpstream}/hello` },
    { name: 'plain HTTP hop', url: `http://127.0.0.1:${webEgress}/api-plain/hello` },
  ];
  for (const t of targets) await waitFor(t.url, t.name);
  const results = new Map<string, { usPerRequest: number[]; load: number[] }>(targets.map((t) => [t.name, { usPerRequest: [], load: [] }]));
  for (let round = 0; round < rounds; round++) {
    for (const t of round % 2 === 0 ? targets : [...targets].reverse()) {
      await load(t.url, warmup);
      const before = (await processCpuSeconds(api.pid!)) + (await processCpuSeconds(web.pid!));
      const r = await load(t.url, requests);
      const after = (await processCpuSeconds(api.pid!)) + (await processCpuSeconds(web.pid!));
      if (r.errors > 0 || r.non2xx > 0) throw new Error(`${t.name}: ${r.errors} errors, ${r.non2xx} non-2xx`);
      const entry = results.get(t.name)!;
      entry.usPerRequest.push(((after - before) * 1e6) / r.ok);
      entry.load.push(Math.round(loadavg()[0]! * 100) / 100);
    }
  }
  const machine = describeMachine();
  const plain = median(results.get('plain HTTP hop')!.usPerRequest);
  const lines = [
    `CPU per request, two sidecars (web + api processes), ${requests} requests × ${rounds} rounds per path, ${connections} connections, GET /hello (small JSON)`,
    `Machine: ${machine.cpuModel}, ${machine.cores} cores, ${machine.os}, Node ${machine.node}; 1-min load at start ${machine.loadAverage}`,
    '',
    '| path | CPU µs/request (median) | rounds | ratio to plain | 1-min load after each round |',
    '|---|---|---|---|---|',
  ];
  for (const [name, r] of results) {
    const m = median(r.usPerRequest);
    lines.push(`| ${name} | ${m.toFixed(1)} | ${r.usPerRequest.map((x) => x.toFixed(1)).join(', ')} | ${(m / plain).toFixed(2)}x | ${r.load.join(', ')} |`);
  }
  console.log(lines.join('\n'));
} finally {
  for (const c of children) c.kill('SIGTERM');
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
  await emulator.close();
  await rm(dir, { recursive: true, force: true });
}

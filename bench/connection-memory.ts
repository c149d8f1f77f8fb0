/**
 * `npm run bench:connections`: Switchyard's resident memory (RSS) per idle keep-alive client
 * connection and per request in flight. Starts Switchyard with its defaults (keep-alive
 * timeout raised so idle connections stay open while measured) in front of an upstream in
 * this process, then:
 *   - opens 1,000 and then 5,000 client connections, each served one request and left idle;
 *   - holds 1,000 requests in flight (the upstream answers them only at the end).
 * Reports RSS at each step (read from /proc after a settle pause) and the difference per
 * connection / per request. Options: --idle <n,n> (default 1000,5000), --inflight <n> (1000).
 * The service's pool allows `inflight` upstream connections, so every held request has its own.
 */
import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { Agent, createServer, request, type ServerResponse } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { execFileSync } from 'node:child_process';
import { describeMachine } from './lib/machine.js';
import { switchyardTarget } from './lib/targets.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({ options: { idle: { type: 'string', default: '1000,5000' }, inflight: { type: 'string', default: '1000' }, engine: { type: 'string', default: 'llhttp' } } });
if (values.engine !== 'node' && values.engine !== 'llhttp') throw new Error(`--engine must be node or llhttp (proxy.engine.listener), not ${values.engine}`);
const idleSteps = values.idle.split(',').map(Number);
const inflight = Number(values.inflight);

const BODY = Buffer.alloc(1024, 'a');
const held: ServerResponse[] = [];
const upstream = createServer((req, res) => {
  if (req.url?.endsWith('/hold')) {
    held.push(res);
    return;
  }
  res.writeHead(200, { 'content-length': BODY.length });
  res.end(BODY);
});
upstream.keepAliveTimeout = 120_000;
await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', r));
const upstreamPort = (upstream.address() as AddressInfo).port;

async function rssMiB(pid: number): Promise<number> {
  await new Promise((r) => setTimeout(r, 1_500));
  const status = await readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

function get(agent: Agent, url: string): Promise<void> {
  return new Promise((resolvePromise, reject) => {
    const req = request(url, { agent }, (res) => {
      res.resume();
      res.on('end', resolvePromise);
    });
    req.on('error', reject);
    req.end();
  });
}

/** A client connection that has had one request answered and is left open, idle. */
function openIdleConnection(port: number): Promise<Socket> {
  return new Promise((resolvePromise, reject) => {
    const socket = connect(port, '127.0.0.1');
    let received = 0;
    socket.on('error', reject);
    socket.on('data', (chunk: Buffer) => {
      received += chunk.length;
      // Head (~250 bytes) plus the 1 KiB body: the response is complete.
      if (received >= BODY.length + 100) resolvePromise(socket);
    });
    socket.write('GET /bench/1k HTTP/1.1\r\nHost: bench\r\n\r\n');
  });
}

execFileSync('npx', ['tsc', '-p', 'tsconfig.build.json'], { cwd: root, stdio: 'inherit' });
const workDir = await mkdtemp(join(tmpdir(), 'switchyard-connmem-'));
const target = await switchyardTarget({ configFragment: { proxy: { engine: { listener: values.engine } }, limits: { keepAliveTimeout: '120s', maxConnections: 20_000 }, services: { bench: { connections: inflight + 10 } }, logging: { level: 'warn', accessLog: true } } }).start({
  root,
  workDir,
  upstreamPorts: [upstreamPort],
  probePath: '/bench/1k',
  switchyardNodeFlags: [],
});
if (typeof target === 'string') throw new Error(target);
const pid = target.process!.child.pid!;
const rows: string[] = [];
try {
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity, maxFreeSockets: 100_000, timeout: 120_000 });
  for (let i = 0; i < 200; i++) await get(agent, `${target.url}/bench/1k`);
  const base = await rssMiB(pid);
  process.stderr.write(`bench: warm, RSS ${base.toFixed(1)} MiB\n`);
  rows.push(`| after warm-up (1 connection) | ${base.toFixed(1)} | |`);
  let open = 1;
  const idle: Socket[] = [];
  const port = Number(new URL(target.url).port);
  let previous = base;
  for (const step of idleSteps) {
    const more = step - open;
    // Batches of 250 stay within the listen backlog.
    for (let opened = 0; opened < more; opened += 250) {
      const batch = Math.min(250, more - opened);
      idle.push(...(await Promise.all(Array.from({ length: batch }, () => openIdleConnection(port)))));
    }
    open = step;
    const rss = await rssMiB(pid);
    process.stderr.write(`bench: ${step} connections, RSS ${rss.toFixed(1)} MiB\n`);
    rows.push(`| ${step} idle keep-alive connections | ${rss.toFixed(1)} | ${(((rss - previous) * 1024) / more).toFixed(1)} KiB per added connection |`);
    previous = rss;
  }
  agent.destroy();
  for (const socket of idle) socket.destroy();
  await new Promise((r) => setTimeout(r, 2_000));
  const afterClose = await rssMiB(pid);
  rows.push(`| connections closed | ${afterClose.toFixed(1)} | |`);
  const holdAgent = new Agent({ keepAlive: true, maxSockets: Infinity });
  const pending = Array.from({ length: inflight }, () => get(holdAgent, `${target.url}/bench/hold`));
  while (held.length < inflight) await new Promise((r) => setTimeout(r, 50));
  const withInflight = await rssMiB(pid);
  rows.push(`| ${inflight} requests in flight (own connections) | ${withInflight.toFixed(1)} | ${(((withInflight - afterClose) * 1024) / inflight).toFixed(1)} KiB per request in flight, its client and upstream connection included |`);
  for (const res of held) {
    res.writeHead(200, { 'content-length': BODY.length });
    res.end(BODY);
  }
  await Promise.all(pending);
  holdAgent.destroy();
} finally {
  await target.stop();
  upstream.close();
  await rm(workDir, { recursive: true, force: true });
}
const m = describeMachine();
process.stdout.write(
  [`# Switchyard memory per connection (${new Date().toISOString()})`, '', `Machine: ${m.cpuModel}, ${m.cores} cores, Node ${m.node}; Switchyard defaults, access log on, listener engine ${values.engine}.`, '', '| state | RSS MiB | per unit |', '|---|---:|---|', ...rows, ''].join('\n'),
);
process.exit(0);

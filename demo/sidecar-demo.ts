/**
 * `npm run demo:sidecar`: a scripted walk through sidecar mode against the Consul emulator.
 * Starts `switchyard sidecar` (a real process) in front of two instances of a small Node app,
 * then shows registration, inbound balancing, egress to another service, a crash and its
 * restart as Consul sees it, and the shutdown order. The sidecar's JSON log is saved to a file.
 * Then the service mesh (Consul Connect, offline: the emulator runs a real CA): two sidecars,
 * web → api over mTLS through web's upstream port, a leaf rotation under way, and a deny
 * intention refusing web's identity at api's mTLS port.
 */
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { connect as tlsConnect } from 'node:tls';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConsulEmulator } from '../test/support/consul-emulator.js';
import { fetchJson, fetchText } from '../test/support/http-client.js';
import { eventually } from '../test/support/proxy-harness.js';
import { freePorts, TEST_APP } from '../test/support/sidecar-harness.js';
import { startUpstream } from '../test/support/test-upstream.js';

const say = (text: string) => process.stdout.write(`${text}\n`);

async function main(): Promise<void> {
  const consul = await ConsulEmulator.start();
  const inventory = await startUpstream('inventory-1');
  consul.register({ ID: 'inventory-1', Name: 'inventory', Address: '127.0.0.1', Port: inventory.port });
  const [port, egressPort, appPort] = await freePorts(4);
  const logFile = join(await mkdtemp(join(tmpdir(), 'switchyard-sidecar-demo-')), 'sidecar.log');
  const args = [
    '--import', 'tsx', 'src/cli/switchyard.ts', 'sidecar',
    '--service', 'orders', '--port', String(port), '--app-port', String(appPort), '--instances', '2', '--address', '127.0.0.1',
    '--consul', consul.address, '--tag', 'demo', '--meta', 'version=1.0.0', '--ttl', '3s',
    '--egress-port', String(egressPort), '--health-interval', '200ms', '--drain-delay', '500ms', '--tracing',
    '--', process.execPath, TEST_APP,
  ];
  say(`$ switchyard ${args.slice(3).join(' ')}\n  (JSON log: ${logFile})\n`);
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'inherit'] });
  child.stdout.pipe(createWriteStream(logFile));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));

  const passing = async () => (await fetchJson<unknown[]>(`${consul.url}/v1/health/service/orders?passing=true`)).json.length === 1;
  await eventually(passing, 20_000, 'orders passing in Consul');
  say('1. Registered with the agent (PUT /v1/agent/service/register):');
  say(`   ${JSON.stringify(consul.calls.find((c) => c.op === 'register')!.detail)}`);
  say('   Consul now lists orders as passing (TTL check fed by the sidecar\'s own health checks).\n');

  say(`2. Inbound http://127.0.0.1:${port} balances over the app instances on ${appPort} and ${appPort + 1}:`);
  for (let i = 0; i < 4; i++) {
    const r = await fetchJson<{ instance: string; port: number }>(`http://127.0.0.1:${port}/hello`);
    say(`   GET /hello → ${r.status} from instance ${r.json.instance} (port ${r.json.port})`);
  }

  const egress = `http://127.0.0.1:${egressPort}`;
  const viaApp = await fetchJson<{ status: number; body: string }>(`http://127.0.0.1:${port}/call?url=${encodeURIComponent(`${egress}/inventory/items/42`)}`);
  say(`\n3. The app calls ${egress}/inventory/items/42 (egress, service found in Consul):`);
  say(`   → ${viaApp.json.status}, inventory saw ${JSON.parse(viaApp.json.body).url}`);
  type Line = Record<string, unknown>;
  const accessLine = async (direction: string, path: (p: string) => boolean): Promise<Line> => {
    let found: Line | undefined;
    await eventually(async () => {
      const lines = (await readFile(logFile, 'utf8')).split('\n').filter(Boolean).map((l) => JSON.parse(l) as Line);
      found = lines.find((l) => l.component === 'access' && l.direction === direction && path(String(l.path)));
      return found !== undefined;
    }, 5_000, `${direction} access line`);
    return found!;
  };
  say('   Access-log lines, one per direction, with the trace id the app passed on (--tracing):');
  for (const line of [await accessLine('inbound', (p) => p.startsWith('/call?')), await accessLine('egress', (p) => p === '/inventory/items/42')]) {
    const { direction, method, path, status, route, service, upstream, traceId } = line;
    say(`   ${JSON.stringify({ direction, method, path: String(path).slice(0, 40), status, route, service, upstream, traceId })}`);
  }
  say('');

  const checksBefore = consul.calls.filter((c) => c.op === 'check').length;
  await fetchText(`http://127.0.0.1:${appPort}/crash`).catch(() => undefined);
  await eventually(async () => {
    const statuses = consul.calls.slice(0).filter((c) => c.op === 'check').slice(checksBefore).map((c) => (c.detail as { status: string }).status);
    return statuses.includes('passing') && statuses.some((s) => s !== 'passing');
  }, 20_000, 'check degraded then passing');
  const after = consul.calls.filter((c) => c.op === 'check').slice(checksBefore).map((c) => (c.detail as { status: string }).status);
  say('4. Instance 0 crashed; the sidecar restarted it with backoff. TTL updates sent meanwhile:');
  say(`   ${after.filter((s, i) => i === 0 || after[i - 1] !== s).join(' → ')}\n`);

  const inflight = fetchJson<{ released: string }>(`http://127.0.0.1:${port}/slow?id=last`);
  await eventually(async () => (await fetchJson<{ held: number }>(`http://127.0.0.1:${appPort}/held`)).json.held + (await fetchJson<{ held: number }>(`http://127.0.0.1:${appPort + 1}/held`)).json.held === 1, 10_000, 'request held');
  child.kill('SIGTERM');
  await eventually(() => consul.calls.some((c) => c.op === 'maintenance'), 10_000, 'maintenance');
  await fetchText(`http://127.0.0.1:${appPort}/release-all`);
  await fetchText(`http://127.0.0.1:${appPort + 1}/release-all`);
  const done = await inflight;
  const code = await exited;
  say('5. SIGTERM with one request in flight:');
  say(`   in-flight request → ${done.status} (${JSON.stringify(done.json)})`);
  say(`   agent calls in order: ${consul.calls.filter((c) => c.op !== 'check').map((c) => c.op).join(' → ')}`);
  say(`   sidecar exit code ${code}`);
  await inventory.close();
  await mesh(consul);
  await consul.close();
}

/** Part two: the service mesh between two sidecars. */
async function mesh(consul: ConsulEmulator): Promise<void> {
  const [apiPort, apiApp, apiConnect, apiAdmin, webPort, webApp, webConnect, webUpstream] = await freePorts(8);
  const dir = await mkdtemp(join(tmpdir(), 'switchyard-mesh-demo-'));
  const common = (service: string, port: number, app: number) =>
    `sidecar:\n  service: ${service}\n  port: ${port}\n  inbound: { address: 127.0.0.1 }\n  consul: { address: "${consul.address}" }\n  shutdown: { drainDelay: 0 }\n  app:\n    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(TEST_APP)}]\n    port: ${app}\n    healthCheck: { interval: 200ms }\n`;
  await writeFile(join(dir, 'api.yaml'), common('api', apiPort!, apiApp!) + `  admin: { enabled: true, port: ${apiAdmin} }\n  connect: { enabled: true, port: ${apiConnect}, authorizeCacheTtl: 100ms }\n`);
  await writeFile(join(dir, 'web.yaml'), common('web', webPort!, webApp!) + `  connect:\n    enabled: true\n    port: ${webConnect}\n    upstreams: [{ service: api, localBindPort: ${webUpstream} }]\n`);
  const children = ['api', 'web'].map((name) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/switchyard.ts', 'sidecar', '--config', join(dir, `${name}.yaml`)], { stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.pipe(createWriteStream(join(dir, `${name}.log`)));
    return child;
  });
  const upstream = `http://127.0.0.1:${webUpstream}`;
  await eventually(async () => (await fetchText(`${upstream}/hello`).catch(() => ({ status: 0 }))).status === 200, 30_000, 'web → api over Connect');
  say(`\n6. Service mesh (Consul Connect; logs in ${dir}): sidecars "web" and "api" registered as connect-proxies:`);
  for (const e of (await fetchJson<{ Service: { Service: string; Kind: string; Port: number; Proxy: { DestinationServiceName: string } } }[]>(`${consul.url}/v1/health/connect/api`)).json) {
    say(`   /v1/health/connect/api → ${e.Service.Service} (Kind ${e.Service.Kind}) on port ${e.Service.Port}, destination ${e.Service.Proxy.DestinationServiceName}`);
  }
  const viaApp = await fetchJson<{ status: number; body: string }>(`http://127.0.0.1:${webPort}/call?url=${encodeURIComponent(`${upstream}/hello`)}`);
  say(`   web's app → ${upstream}/hello (plain) → web sidecar ═mTLS═► api sidecar → api app: ${viaApp.json.status} ${viaApp.json.body}`);

  const before = consul.currentLeaf('api')!.SerialNumber;
  const after = (await consul.rotateLeaf('api')).SerialNumber;
  let ok = 0;
  for (let i = 0; i < 50; i++) if ((await fetchText(`${upstream}/hello`)).status === 200) ok++;
  say(`\n7. api's leaf rotated by the agent (serial ${before.slice(0, 11)}… → ${after.slice(0, 11)}…): ${ok}/50 calls succeeded meanwhile`);

  const webLeaf = await consul.connectCa.issueLeaf('web', 1);
  const roots = consul.connectCa.rootsResponse(1).Roots.map((r) => r.RootCert);
  const rawCall = () =>
    new Promise<string>((resolve) => {
      const socket = tlsConnect({ host: '127.0.0.1', port: apiConnect!, cert: webLeaf.CertPEM, key: webLeaf.PrivateKeyPEM, ca: roots, checkServerIdentity: () => undefined }, () => socket.write('GET /hello HTTP/1.1\r\nhost: api\r\nconnection: close\r\n\r\n'));
      let text = '';
      socket.on('data', (d: Buffer) => (text += d.toString()));
      socket.on('error', () => undefined);
      socket.on('close', () => resolve(text.split('\r\n')[0] || '(connection closed, no response)'));
    });
  say(`\n8. A new mTLS connection with web's identity to api's Connect port ${apiConnect}: ${await rawCall()}`);
  consul.setIntention('web', 'api', 'deny');
  await new Promise((r) => setTimeout(r, 300));
  say(`   after the intention web → api: deny: ${await rawCall()}`);
  const metrics = await fetchText(`http://127.0.0.1:${apiAdmin}/metrics`);
  say(`   api's ${metrics.body.split('\n').filter((l: string) => l.startsWith('switchyard_sidecar_connect_connections_total')).join(', ')}`);
  consul.deleteIntention('web', 'api');
  for (const child of children) child.kill('SIGTERM');
  await Promise.all(children.map((c) => new Promise((r) => (c.exitCode !== null ? r(null) : c.once('exit', r)))));
}

main().catch((err: unknown) => {
  process.stderr.write(`sidecar demo failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exit(1);
});

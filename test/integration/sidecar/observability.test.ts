import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConsulEmulator } from '../../support/consul-emulator.js';
import { fetchJson, fetchText } from '../../support/http-client.js';
import { parsePrometheusText, samples } from '../../support/prometheus-text.js';
import { eventually } from '../../support/proxy-harness.js';
import { freePorts, runSidecarCli, startSidecar, TEST_APP, type InProcessSidecar } from '../../support/sidecar-harness.js';
import { startUpstream, type EchoReply, type TestUpstream } from '../../support/test-upstream.js';

type Line = Record<string, unknown>;

function accessLines(lines: readonly Line[], direction?: 'inbound' | 'egress'): Line[] {
  return lines.filter((l) => l.component === 'access' && l.msg === 'request' && (direction === undefined || l.direction === direction));
}

/** The sum of switchyard_requests_total over methods and status classes for one route and service. */
function requestCount(metricsText: string, route: string, service: string): number {
  return samples(parsePrometheusText(metricsText), 'switchyard_requests_total', { route, service }).reduce((n, s) => n + s.value, 0);
}

describe('sidecar: access log, request metrics and trace context in both directions', () => {
  let emulator: ConsulEmulator | null = null;
  let sc: InProcessSidecar | null = null;
  const upstreams: TestUpstream[] = [];
  afterEach(async () => {
    await sc?.close();
    await emulator?.close();
    await Promise.all(upstreams.splice(0).map((u) => u.close()));
    sc = null;
    emulator = null;
  });

  it('writes the router access-log line with direction for inbound and egress, counts both in /metrics, and one trace id runs through app and egress', async () => {
    emulator = await ConsulEmulator.start();
    const inventory = await startUpstream('inventory-1');
    upstreams.push(inventory);
    emulator.register({ ID: 'inventory-1', Name: 'inventory', Address: '127.0.0.1', Port: inventory.port });
    sc = await startSidecar(emulator, { egress: { enabled: true, port: 0 }, admin: { enabled: true, port: 0 } }, { config: { tracing: { enabled: true } } });
    const egress = `http://127.0.0.1:${sc.sidecar.egressAddress!.port}`;
    const admin = `http://127.0.0.1:${sc.sidecar.adminAddress!.port}`;
    await eventually(async () => (await fetchText(`${sc!.url}/hello`)).status === 200, 10_000, 'app up');
    await eventually(async () => (await fetchText(`${egress}/inventory/ready`)).status === 200, 10_000, 'egress route to inventory');

    // The app calls inventory through egress, passing on the traceparent it was given.
    const viaApp = await fetchJson<{ status: number; body: string }>(`${sc.url}/call?url=${encodeURIComponent(`${egress}/inventory/from-app`)}`, { headers: { 'user-agent': 'observability-test' } });
    expect(viaApp.json.status).toBe(200);
    const reachedInventory = JSON.parse(viaApp.json.body) as EchoReply;

    await eventually(async () => accessLines(sc!.log.lines).some((l) => l.direction === 'egress' && l.path === '/inventory/from-app'), 5_000, 'egress access line');
    await eventually(async () => accessLines(sc!.log.lines).some((l) => l.direction === 'inbound' && String(l.path).startsWith('/call?')), 5_000, 'inbound access line');
    const inboundLine = accessLines(sc.log.lines, 'inbound').find((l) => String(l.path).startsWith('/call?'))!;
    const egressLine = accessLines(sc.log.lines, 'egress').find((l) => l.path === '/inventory/from-app')!;

    // The router's fields, plus direction.
    expect(inboundLine).toMatchObject({
      level: 'info',
      component: 'access',
      direction: 'inbound',
      method: 'GET',
      status: 200,
      route: 'inbound',
      service: 'orders',
      upstream: `127.0.0.1:${sc.appPorts[0]}`,
      upstreamStatus: 200,
      retries: 0,
      clientAddress: '127.0.0.1',
      userAgent: 'observability-test',
      protocol: 'HTTP/1.1',
      msg: 'request',
    });
    expect(typeof inboundLine.requestId).toBe('string');
    expect(typeof inboundLine.durationMs).toBe('number');
    expect(egressLine).toMatchObject({ component: 'access', direction: 'egress', method: 'GET', status: 200, route: 'inventory', service: 'inventory', upstream: `127.0.0.1:${inventory.port}`, msg: 'request' });

    // One trace: started by inbound, passed on by the app, kept by egress, received by inventory.
    expect(inboundLine.traceId).toMatch(/^[0-9a-f]{32}$/);
    expect(egressLine.traceId).toBe(inboundLine.traceId);
    expect(String(reachedInventory.headers.traceparent)).toContain(`-${String(inboundLine.traceId)}-`);

    // /metrics on the sidecar admin listener: the router's request families, route "inbound" and the service name.
    const metrics = (await fetchText(`${admin}/metrics`)).body;
    expect(requestCount(metrics, 'inbound', 'orders')).toBe(accessLines(sc.log.lines, 'inbound').length);
    expect(requestCount(metrics, 'inventory', 'inventory')).toBe(accessLines(sc.log.lines, 'egress').length);
    const all = parsePrometheusText(metrics);
    expect(samples(all, 'switchyard_requests_total', { route: 'inventory', service: 'inventory', method: 'GET', status_class: '2xx' })[0]?.value).toBeGreaterThan(0);
    expect(samples(all, 'switchyard_request_duration_seconds_count', { route: 'inbound', service: 'orders', method: 'GET', status_class: '2xx' })[0]?.value).toBe(
      accessLines(sc.log.lines, 'inbound').filter((l) => l.method === 'GET' && Number(l.status) < 300).length,
    );
    expect(samples(all, 'switchyard_service_endpoints_healthy', { service: 'orders' })[0]?.value).toBe(1);
    expect(samples(all, 'switchyard_service_endpoints', { service: 'inventory' })[0]?.value).toBe(1);
    // The sidecar's own families are still there.
    expect(samples(all, 'switchyard_sidecar_instance_restarts_total', { instance: '0' })[0]?.value).toBe(0);

    // A request the proxy answers itself is logged and counted too (no route on egress).
    const unknown = await fetchText(`${egress}/payments/x`);
    expect(unknown.status).toBe(404);
    await eventually(async () => accessLines(sc!.log.lines, 'egress').some((l) => l.path === '/payments/x'), 5_000, 'no_route access line');
    expect(accessLines(sc.log.lines, 'egress').find((l) => l.path === '/payments/x')).toMatchObject({ status: 404, route: null, error: 'no_route', direction: 'egress' });
    const after = parsePrometheusText((await fetchText(`${admin}/metrics`)).body);
    expect(samples(after, 'switchyard_proxy_errors_total', { code: 'no_route' })[0]?.value).toBe(1);
  });

  it('logging.accessLog false: no access lines, the metrics still count', async () => {
    sc = await startSidecar(null, { admin: { enabled: true, port: 0 } }, { config: { logging: { accessLog: false } } });
    const admin = `http://127.0.0.1:${sc.sidecar.adminAddress!.port}`;
    await eventually(async () => (await fetchText(`${sc!.url}/hello`)).status === 200, 10_000, 'app up');
    for (let i = 0; i < 3; i++) expect((await fetchText(`${sc.url}/hello`)).status).toBe(200);
    const metrics = (await fetchText(`${admin}/metrics`)).body;
    expect(requestCount(metrics, 'inbound', 'orders')).toBeGreaterThanOrEqual(4);
    // The access log flushes within 100 ms; give it well over that.
    await new Promise((r) => setTimeout(r, 300));
    expect(accessLines(sc.log.lines)).toHaveLength(0);
  });

  it('the switchyard sidecar command applies the logging section: level for the process log, access lines whatever the level', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-sidecar-logging-'));
    const [port, appPort] = await freePorts(2);
    const file = join(dir, 'sidecar.yaml');
    await writeFile(
      file,
      [
        'logging:',
        '  level: warn',
        '  accessLog: true',
        '  maxBuffer: 1MiB',
        'sidecar:',
        '  service: orders',
        `  port: ${port}`,
        '  inbound: { address: 127.0.0.1 }',
        '  consul: { enabled: false }',
        '  shutdown: { drainDelay: 0, drainTimeout: 2s }',
        '  app:',
        `    command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(TEST_APP)}]`,
        `    port: ${appPort}`,
        '    stopGrace: 2s',
        '    healthCheck: { interval: 50ms }',
        '',
      ].join('\n'),
    );
    const cli = runSidecarCli([file]);
    try {
      await eventually(async () => (await fetchText(`http://127.0.0.1:${port}/hello`).catch(() => ({ status: 0 }))).status === 200, 40_000, 'sidecar serving');
      await eventually(async () => cli.lines.some((l) => l.component === 'access' && l.path === '/hello' && l.status === 200), 5_000, 'access line of /hello');
    } finally {
      cli.child.kill('SIGTERM');
    }
    expect(await cli.exited).toBe(0);
    // Level warn: no info line of the process log (start, listening, health, shutdown), but access lines.
    const processLines = cli.lines.filter((l) => l.component !== 'access');
    expect(processLines.filter((l) => l.level === 'info' || l.level === 'debug')).toEqual([]);
    expect(accessLines(cli.lines, 'inbound').length).toBeGreaterThan(0);
    expect(accessLines(cli.lines, 'inbound')[0]).toMatchObject({ level: 'info', name: 'switchyard', direction: 'inbound', route: 'inbound', service: 'orders' });
    // A real process started through tsx: slow to start on a loaded machine.
  }, 90_000);
});

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { closeHttp2, http2Request, openHttp2 } from '../../support/http2-client.js';
import { eventually, startProxy, type ProxyHarness } from '../../support/proxy-harness.js';
import { runCli } from '../../support/router-process.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';

const TOKEN = 'cli-test-token-0123456789';

describe('switchyard CLI against a running router', () => {
  let up: TestUpstream;
  let proxy: ProxyHarness;
  let admin: string;

  beforeAll(async () => {
    up = await startUpstream('web');
    proxy = await startProxy({
      services: { web: [{ id: 'web-1', port: up.port }] },
      config: {
        listeners: [
          { name: 'test', address: '127.0.0.1', port: 0 },
          { name: 'grpc', address: '127.0.0.1', port: 0, protocols: ['http1', 'h2c'] },
        ],
        admin: { address: '127.0.0.1', port: 0, token: TOKEN },
        // The status test keeps an idle HTTP/2 connection open across two CLI runs, which can
        // take longer than the default 5 s idle timeout on a busy machine.
        limits: { keepAliveTimeout: '60s' },
        routes: [{ name: 'web-route', match: { path: '/web' }, service: 'web' }],
      },
    });
    admin = `http://127.0.0.1:${proxy.app.adminAddress!.port}`;
  });
  afterAll(async () => {
    await proxy.close();
    await up.close();
  });

  it('prints routes, services and endpoints as tables, or JSON with --json', async () => {
    const routes = await runCli(['routes', '--admin', admin]);
    expect(routes.code).toBe(0);
    expect(routes.stdout.split('\n')[0]).toMatch(/^ROUTE\s+HOST\s+PATH\s+METHODS\s+SERVICE\s+SOURCE\s+REQUESTS$/);
    expect(routes.stdout).toMatch(/web-route\s+\*\s+\/web\s+\*\s+web\s+config\s+0/);

    const services = await runCli(['services', '--admin', admin]);
    expect(services.stdout).toMatch(/web\s+1\s+1\s+weighted_round_robin\s+yes/);

    const endpoints = await runCli(['endpoints', 'web', '--admin', admin, '--json']);
    expect(endpoints.code).toBe(0);
    expect(JSON.parse(endpoints.stdout)).toEqual([expect.objectContaining({ id: 'web-1', endpoint: `127.0.0.1:${up.port}`, drained: false })]);
  });

  it('status shows each listener with its protocols and open (HTTP/2) connections', async () => {
    const grpcPort = proxy.app.addresses[1]!.port;
    const session = await openHttp2(`http://127.0.0.1:${grpcPort}`);
    try {
      expect((await http2Request(session, { ':path': '/web/x', ':authority': 'svc.test' })).status).toBe(200);
      await eventually(() => proxy.app.proxyListeners[1]!.http2Sessions === 1, 5_000, 'the HTTP/2 connection to be counted');
      const status = await runCli(['status', '--admin', admin]);
      expect(status.code).toBe(0);
      const lines = status.stdout.split('\n');
      expect(lines[0]).toMatch(/^switchyard \S+ · pid \d+ · ready · up since \S+ · /);
      const header = lines.findIndex((l) => l.startsWith('LISTENER'));
      expect(lines[header]).toMatch(/^LISTENER\s+ADDRESS\s+TLS\s+PROTOCOLS\s+CONNECTIONS\s+HTTP\/2$/);
      expect(lines[header + 1]).toMatch(new RegExp(`^test\\s+127\\.0\\.0\\.1:${proxy.port}\\s+no\\s+http1\\s+\\d+\\s+0$`));
      expect(lines[header + 2]).toMatch(new RegExp(`^grpc\\s+127\\.0\\.0\\.1:${grpcPort}\\s+no\\s+http1,h2c\\s+1\\s+1$`));
      const json = JSON.parse((await runCli(['status', '--admin', admin, '--json'])).stdout);
      expect(json.listeners).toEqual([
        { name: 'test', address: '127.0.0.1', port: proxy.port, tls: false, protocols: ['http1'], connections: expect.any(Number), http2Connections: 0 },
        { name: 'grpc', address: '127.0.0.1', port: grpcPort, tls: false, protocols: ['http1', 'h2c'], connections: 1, http2Connections: 1 },
      ]);
    } finally {
      await closeHttp2(session);
    }
  });

  it('drains, undrains and reloads with the token; without it the API refuses and the CLI says how to fix it', async () => {
    const refused = await runCli(['drain', 'web-1', '--admin', admin]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('HTTP 401');
    expect(refused.stderr).toContain('--token');

    const drained = await runCli(['drain', 'web-1', '--admin', admin, '--token', TOKEN]);
    expect(drained.code).toBe(0);
    expect(drained.stdout).toMatch(/drained 1 endpoint/);
    expect(proxy.app.clusters.get('web').endpoints[0]!.drained).toBe(true);

    const undrained = await runCli(['undrain', `127.0.0.1:${up.port}`, '--admin', admin], { SWITCHYARD_ADMIN_TOKEN: TOKEN });
    expect(undrained.code).toBe(0);
    expect(proxy.app.clusters.get('web').endpoints[0]!.drained).toBe(false);

    const reload = await runCli(['reload', '--admin', admin, '--token', TOKEN]);
    expect(reload.code).toBe(0);
    expect(reload.stdout.trim()).toBe('configuration reloaded');
  });

  it('explains usage errors and unreachable admin listeners', async () => {
    const help = await runCli(['--help']);
    expect(help.code).toBe(0);
    for (const cmd of ['status', 'routes', 'services', 'endpoints <service>', 'drain <endpoint>', 'undrain <endpoint>', 'reload', '--admin <address>', '--json']) expect(help.stdout).toContain(cmd);
    const missing = await runCli(['endpoints', '--admin', admin]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('name the service');
    const unknownService = await runCli(['endpoints', 'nope', '--admin', admin]);
    expect(unknownService.code).toBe(1);
    expect(unknownService.stderr).toContain('no service named "nope"');
    const down = await runCli(['routes', '--admin', 'http://127.0.0.1:1']);
    expect(down.code).toBe(1);
    expect(down.stderr).toContain('cannot reach the admin API at http://127.0.0.1:1');
  });
});

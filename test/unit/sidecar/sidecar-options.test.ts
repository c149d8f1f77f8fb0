import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/config-error.js';
import { parseSidecarArgs, SidecarUsageError } from '../../../src/sidecar/sidecar-options.js';

describe('switchyard sidecar arguments', () => {
  it('turns flags and the command after -- into the sidecar section, with defaults', async () => {
    const config = await parseSidecarArgs([
      '--service', 'orders', '--port', '8081', '--app-port', '3000', '--instances', '2',
      '--tag', 'v2', '--tag', 'urlprefix-/orders', '--meta', 'version=1.4', '--ttl', '5s', '--drain-delay', '0',
      '--max-old-space', '256MiB', '--egress-port', '9000',
      '--', 'node', 'app.js', '--flag-for-the-app',
    ]);
    const sc = config.sidecar;
    expect(sc.service).toBe('orders');
    expect(sc.port).toBe(8081);
    expect(sc.app).toMatchObject({ command: ['node', 'app.js', '--flag-for-the-app'], port: 3000, instances: 2, portEnv: 'PORT' });
    expect(sc.app.memory.maxOldSpace).toBe(256 * 1024 * 1024);
    expect(sc.consul.tags).toEqual(['v2', 'urlprefix-/orders']);
    expect(sc.consul.meta).toEqual({ version: '1.4' });
    expect(sc.consul.check).toMatchObject({ type: 'ttl', ttl: 5_000 });
    expect(sc.shutdown.drainDelay).toBe(0);
    expect(sc.egress).toEqual({ enabled: true, address: '127.0.0.1', port: 9000 });
    expect(sc.inbound).toEqual({ address: '0.0.0.0', maxConcurrent: 100, queue: 100, requestTimeout: 30_000 });
  });

  it('names the flag in errors', async () => {
    await expect(parseSidecarArgs(['--service', 'orders', '--port', '8081', '--app-port', '0', '--', 'node'])).rejects.toThrow(/^--app-port: /);
    await expect(parseSidecarArgs(['--service', 'orders', '--port', '8081', '--app-port', '3000', '--ttl', 'soon', '--', 'node'])).rejects.toThrow(/^--ttl: must be a duration/);
    await expect(parseSidecarArgs(['--port', '8081', '--app-port', '3000', '--', 'node'])).rejects.toThrow(/^--service: is required/);
    await expect(parseSidecarArgs(['--service', 'orders', '--port', '8081', '--app-port', '3000', '--meta', 'novalue', '--', 'node'])).rejects.toThrow('--meta: "novalue" must be key=value');
    await expect(parseSidecarArgs(['--service', 'orders', '--bogus', '--', 'node'])).rejects.toBeInstanceOf(SidecarUsageError);
  });

  it('reads the sidecar section of a config file, with file and line in errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-sidecar-'));
    const good = join(dir, 'good.yaml');
    await writeFile(good, 'sidecar:\n  service: orders\n  port: 8081\n  app:\n    command: [node, app.js]\n    port: 3000\n');
    expect((await parseSidecarArgs(['--config', good])).sidecar.app.command).toEqual(['node', 'app.js']);
    const bad = join(dir, 'bad.yaml');
    await writeFile(bad, 'sidecar:\n  service: orders\n  port: 8081\n  app:\n    command: [node, app.js]\n    port: 3000\n    instanses: 2\n');
    await expect(parseSidecarArgs(['--config', bad])).rejects.toThrow(`${bad}:7:5: sidecar.app.instanses: unknown field`);
    const none = join(dir, 'none.yaml');
    await writeFile(none, 'logging:\n  level: info\n');
    await expect(parseSidecarArgs(['--config', none])).rejects.toBeInstanceOf(ConfigError);
    await expect(parseSidecarArgs(['--config', good, '--port', '1'])).rejects.toThrow('--config cannot be combined with --port');
  });
});

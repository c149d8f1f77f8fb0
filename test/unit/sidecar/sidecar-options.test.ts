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
    expect(sc.egress).toEqual({ enabled: true, address: '127.0.0.1', port: 9000, protocols: ['http1', 'h2c'] });
    expect(sc.inbound).toEqual({ address: '0.0.0.0', maxConcurrent: 100, queue: 100, requestTimeout: 30_000 });
    expect(sc.app.protocol).toBe('http1');
    expect(sc.app.healthCheck).toMatchObject({ type: 'http', path: '/health', grpcService: '' });
    // The router's admin listener has 9901: the sidecar's default is another port.
    expect(sc.admin.port).toBe(9902);
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

  it('reads the Connect section and flags, and names the field of a bad Connect setting', async () => {
    const flags = await parseSidecarArgs(['--service', 'orders', '--port', '8081', '--app-port', '3000', '--connect-port', '21000', '--', 'node', 'app.js']);
    expect(flags.sidecar.connect).toMatchObject({ enabled: true, port: 21000, address: '0.0.0.0', upstreams: [], authorizeCacheTtl: 1000 });
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-sidecar-'));
    const head = 'sidecar:\n  service: orders\n  port: 8081\n  app:\n    command: [node, app.js]\n    port: 3000\n';
    const write = async (name: string, text: string) => {
      const file = join(dir, name);
      await writeFile(file, head + text);
      return file;
    };
    const good = await write('good.yaml', '  connect:\n    enabled: true\n    upstreams:\n      - service: billing\n        localBindPort: 9191\n');
    expect((await parseSidecarArgs([good])).sidecar.connect.upstreams).toEqual([{ service: 'billing', localBindPort: 9191, localBindAddress: '127.0.0.1' }]);
    const noPort = await write('no-port.yaml', '  connect:\n    enabled: true\n    upstreams:\n      - service: billing\n');
    await expect(parseSidecarArgs([noPort])).rejects.toThrow(`${noPort}:10:9: sidecar.connect.upstreams[0].localBindPort: is required`);
    const twice = await write('twice.yaml', '  connect:\n    enabled: true\n    upstreams:\n      - { service: billing, localBindPort: 9191 }\n      - { service: ledger, localBindPort: 9191 }\n');
    await expect(parseSidecarArgs([twice])).rejects.toThrow('two upstreams share a localBindAddress:localBindPort');
    const sameService = await write('same.yaml', '  connect:\n    enabled: true\n    upstreams:\n      - { service: billing, localBindPort: 9191 }\n      - { service: billing, localBindPort: 9192 }\n');
    await expect(parseSidecarArgs([sameService])).rejects.toThrow('lists a service twice');
    const noConsul = await write('no-consul.yaml', '  consul:\n    enabled: false\n  connect:\n    enabled: true\n');
    await expect(parseSidecarArgs([noConsul])).rejects.toThrow(`${noConsul}:10:14: sidecar.connect.enabled: the service mesh needs the Consul agent`);
    const samePort = await write('same-port.yaml', '  connect:\n    enabled: true\n    port: 8081\n');
    await expect(parseSidecarArgs([samePort])).rejects.toThrow('sidecar.connect.port: is the inbound port 8081');
    const badTtl = await write('bad-ttl.yaml', '  connect:\n    authorizeCacheTtl: soon\n');
    await expect(parseSidecarArgs([badTtl])).rejects.toThrow(/sidecar\.connect\.authorizeCacheTtl/);
  });

  it('takes the config file as its one argument too, as start does', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-sidecar-'));
    const good = join(dir, 'good.yaml');
    await writeFile(good, 'sidecar:\n  service: orders\n  port: 8081\n  app:\n    command: [node, app.js]\n    port: 3000\n');
    expect((await parseSidecarArgs([good])).sidecar).toEqual((await parseSidecarArgs(['--config', good])).sidecar);
    await expect(parseSidecarArgs([good, '--config', good])).rejects.toThrow(`give the configuration file once, as the argument ("${good}") or with --config ("${good}")`);
    await expect(parseSidecarArgs([good, '--port', '1'])).rejects.toThrow('--config cannot be combined with --port');
    await expect(parseSidecarArgs(['node', 'app.js'])).rejects.toThrow('unexpected arguments "node" "app.js": give one configuration file, or flags with the app command after "--"');
    await expect(parseSidecarArgs([join(dir, 'missing.yaml')])).rejects.toBeInstanceOf(ConfigError);
  });

  it('reads the cgroup limit and admin flags, and names the flag when a value is bad', async () => {
    const base = ['--service', 'orders', '--port', '8081', '--app-port', '3000'];
    const config = await parseSidecarArgs([...base, '--memory-max', '256MiB', '--cpu-max', '0.5', '--pids-max', '64', '--cgroup', 'v1', '--admin-port', '9901', '--', 'node', 'app.js']);
    expect(config.sidecar.app.limits).toEqual({ memoryMax: 256 * 1024 * 1024, cpuMax: 0.5, pidsMax: 64, cgroup: 'v1' });
    expect(config.sidecar.admin).toEqual({ enabled: true, address: '127.0.0.1', port: 9901 });
    const defaults = await parseSidecarArgs([...base, '--', 'node']);
    expect(defaults.sidecar.app.limits).toEqual({ cgroup: 'auto' });
    expect(defaults.sidecar.admin.enabled).toBe(false);

    const bad = (flags: string[]) => parseSidecarArgs([...base, ...flags, '--', 'node']);
    await expect(bad(['--memory-max', 'lots'])).rejects.toThrow(/^--memory-max: must be a size such as/);
    await expect(bad(['--memory-max', '1MiB'])).rejects.toThrow('--memory-max: must be at least 4MiB');
    await expect(bad(['--cpu-max', '0'])).rejects.toThrow('--cpu-max: must be at least 0.01 CPUs');
    await expect(bad(['--cpu-max', 'half'])).rejects.toThrow('--cpu-max: must be a number of CPUs such as 0.5 or 2');
    await expect(bad(['--pids-max', '0'])).rejects.toThrow('--pids-max: must be at least 1');
    await expect(bad(['--cpu-max', '2000'])).rejects.toThrow('--cpu-max: must be at most 1024 CPUs');
    await expect(bad(['--pids-max', '1.5'])).rejects.toThrow(/^--pids-max: /);
    await expect(bad(['--pids-max', 'many'])).rejects.toThrow('--pids-max: must be a whole number of processes such as 64');
    await expect(bad(['--cgroup', 'v3'])).rejects.toThrow('--cgroup: must be "auto", "v2" or "v1"');
    await expect(bad(['--admin-port', '70000'])).rejects.toThrow(/^--admin-port: /);

    // The same fields in a file: errors carry file:line:col and the field path.
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-sidecar-'));
    const file = join(dir, 'limits.yaml');
    await writeFile(file, 'sidecar:\n  service: orders\n  port: 8081\n  app:\n    command: [node, app.js]\n    port: 3000\n    limits:\n      memoryMax: 256MiB\n      cpuMax: 0\n');
    await expect(parseSidecarArgs(['--config', file])).rejects.toThrow(`${file}:9:15: sidecar.app.limits.cpuMax: must be at least 0.01 CPUs`);
  });

  it('reads the protocol and gRPC health flags, and names the flag when a combination is refused', async () => {
    const base = ['--service', 'orders', '--port', '8081', '--app-port', '3000'];
    const config = await parseSidecarArgs([...base, '--app-protocol', 'grpc', '--health-type', 'grpc', '--health-grpc-service', 'orders.v1', '--inbound-protocol', 'http1', '--inbound-protocol', 'h2c', '--', 'node', 'app.js']);
    expect(config.sidecar.app.protocol).toBe('grpc');
    expect(config.sidecar.app.healthCheck).toMatchObject({ type: 'grpc', grpcService: 'orders.v1' });
    expect(config.sidecar.inbound.protocols).toEqual(['http1', 'h2c']);
    expect(config.tracing.enabled).toBe(false);
    expect((await parseSidecarArgs([...base, '--tracing', '--', 'node'])).tracing.enabled).toBe(true);

    const bad = (flags: string[]) => parseSidecarArgs([...base, ...flags, '--', 'node']);
    await expect(bad(['--app-protocol', 'http3'])).rejects.toThrow('--app-protocol: must be "http1", "h2c" or "grpc"');
    await expect(bad(['--health-type', 'tcp'])).rejects.toThrow('--health-type: must be "http" or "grpc"');
    await expect(bad(['--health-type', 'grpc'])).rejects.toThrow('--health-type: grpc checks the app over HTTP/2: set app.protocol to grpc (or h2c), or use type http');
    await expect(bad(['--app-protocol', 'grpc', '--health-type', 'grpc', '--health-path', '/health'])).rejects.toThrow(/^--health-path: applies to type http only/);
    await expect(bad(['--health-grpc-service', 'x'])).rejects.toThrow('--health-grpc-service: applies to type grpc only (this check is type http)');
    await expect(bad(['--inbound-protocol', 'h2'])).rejects.toThrow('--inbound-protocol: h2 needs tls (HTTP/2 over TLS); for cleartext HTTP/2 use h2c');
    await expect(bad(['--inbound-protocol', 'h2c', '--inbound-protocol', 'h2c'])).rejects.toThrow('--inbound-protocol: lists a protocol twice');
    await expect(bad(['--app-protocol', 'grpc', '--health-type', 'grpc', '--check', 'http'])).rejects.toThrow('--check: http needs an HTTP health path, and app.healthCheck.type is grpc: use ttl');
  });

  it('names file, line and field for the protocol, TLS and health fields of a config file; resolves certificate paths from its folder', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-sidecar-'));
    const head = 'sidecar:\n  service: orders\n  port: 8081\n';
    const cases: [string, string][] = [
      [`${head}  app:\n    command: [node, app.js]\n    port: 3000\n    protocol: http3\n`, ':7:15: sidecar.app.protocol: must be one of "http1", "h2c", "grpc"'],
      [`${head}  app:\n    command: [node, app.js]\n    port: 3000\n    protocol: grpc\n    healthCheck:\n      type: grpc\n      path: /health\n`, ':10:13: sidecar.app.healthCheck.path: applies to type http only'],
      [`${head}  app:\n    command: [node, app.js]\n    port: 3000\n    healthCheck:\n      type: grpc\n`, ':8:13: sidecar.app.healthCheck.type: grpc checks the app over HTTP/2'],
      [`${head}  app: { command: [node], port: 3000 }\n  inbound:\n    protocols: [http1, h2]\n`, ':6:16: sidecar.inbound.protocols: h2 needs tls'],
      [`${head}  app: { command: [node], port: 3000 }\n  inbound:\n    tls: { cert: c.pem }\n`, ':6:10: sidecar.inbound.tls.key: is required'],
      [`${head}  app: { command: [node], port: 3000 }\n  inbound:\n    tls: { cert: c.pem, key: k.pem }\n    protocols: [h2c]\n`, ':7:16: sidecar.inbound.protocols: h2c is cleartext HTTP/2 and cannot be combined with tls'],
      [`${head}  app: { command: [node], port: 3000 }\n  egress:\n    protocols: [h2]\n`, ':6:17: sidecar.egress.protocols[0]: must be one of "http1", "h2c"'],
      [`${head}  app: { command: [node], port: 3000 }\n  inbound:\n    tls: { cert: c.pem, key: k.pem }\n  consul:\n    check: { type: http }\n`, ':8:20: sidecar.consul.check.type: http checks the inbound port in cleartext, and inbound.tls is set: use ttl'],
    ];
    for (const [i, [text, expected]] of cases.entries()) {
      const file = join(dir, `bad-${i}.yaml`);
      await writeFile(file, text);
      await expect(parseSidecarArgs(['--config', file]), text).rejects.toThrow(`${file}${expected}`);
    }

    const good = join(dir, 'tls.yaml');
    await writeFile(good, `${head}  app: { command: [node], port: 3000, protocol: h2c }\n  inbound:\n    tls: { cert: certs/c.pem, key: /abs/k.pem }\n`);
    const config = await parseSidecarArgs(['--config', good]);
    expect(config.sidecar.inbound.tls).toMatchObject({ cert: join(dir, 'certs/c.pem'), key: '/abs/k.pem' });
    expect(config.sidecar.app.protocol).toBe('h2c');
  });
});

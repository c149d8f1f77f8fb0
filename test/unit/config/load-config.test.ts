import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig, parseConfigText } from '../../../src/config/load-config.js';
import { configProblems } from '../../support/config-problems.js';

const problems = (text: string) => configProblems('config/test.yaml', text);

describe('configuration validation', () => {
  it('accepts the shipped default config', async () => {
    const { config } = await loadConfig('config/default.yaml');
    expect(config.listeners[0]).toMatchObject({ address: '127.0.0.1', port: 8080 });
    expect(config.routes.map((r) => r.name)).toEqual(['demo']);
    expect(config.demo?.ports).toEqual([9101, 9102]);
  });

  it('fills every default for an empty file', () => {
    const config = parseConfigText('empty.yaml', '');
    expect(config.listeners).toEqual([{ address: '0.0.0.0', port: 8080, redirectToHttps: false }]);
    expect(config.admin).toEqual({ enabled: true, address: '127.0.0.1', port: 9901 });
    expect(config.registry).toEqual({ type: 'file', path: 'services.yaml', watch: true, debounce: 200 });
    expect(config.timeouts).toEqual({ headers: 30_000, bodyIdle: 60_000, total: 0, perTry: 0 });
    expect(config.limits).toEqual({
      maxHeaderSize: 16_384,
      maxHeaderCount: 100,
      maxBodySize: 10 * 1024 * 1024,
      maxConnections: 10_000,
      maxUpgrades: 1_000,
      headersTimeout: 10_000,
      requestTimeout: 300_000,
      keepAliveTimeout: 5_000,
      http2: { maxConcurrentStreams: 128, initialWindowSize: 256 * 1024, maxSessionMemory: 16 * 1024 * 1024, prematureResetLimit: 100 },
    });
    expect(config.demo).toBeUndefined();
  });

  it('parses durations, sizes and normalises prefixes and hosts', () => {
    const config = parseConfigText(
      'ok.yaml',
      `
timeouts: { headers: 1.5s, bodyIdle: 250 }
limits: { maxHeaderSize: 32KiB, keepAliveTimeout: 2m }
routes:
  - name: r
    match: { host: API.Example.com, path: /api/, methods: [get, post] }
    service: s
`,
    );
    expect(config.timeouts).toEqual({ headers: 1500, bodyIdle: 250, total: 0, perTry: 0 });
    expect(config.limits.maxHeaderSize).toBe(32 * 1024);
    expect(config.limits.keepAliveTimeout).toBe(120_000);
    expect(config.routes[0]!.match).toEqual({ host: 'api.example.com', path: '/api', methods: ['GET', 'POST'] });
  });

  it('names file, line, column and field for a path that does not start with "/"', () => {
    expect(problems('routes:\n  - name: a\n    service: s\n  - name: b\n    service: s\n  - name: c\n    match:\n      path: api\n    service: s\n')).toEqual([
      'config/test.yaml:8:13: routes[2].match.path: must start with "/"',
    ]);
  });

  it('rejects unknown fields at any depth', () => {
    expect(problems('listners: []\n')).toEqual(['config/test.yaml:1:1: listners: unknown field (check its spelling against the configuration reference)']);
    expect(problems('routes:\n  - name: a\n    service: s\n    mtach: { path: / }\n')).toEqual([
      'config/test.yaml:4:5: routes[0].mtach: unknown field (check its spelling against the configuration reference)',
    ]);
    expect(problems('limits:\n  maxHeaderSise: 1\n')).toEqual(['config/test.yaml:2:3: limits.maxHeaderSise: unknown field (check its spelling against the configuration reference)']);
  });

  it('reports wrong types with what was found', () => {
    expect(problems('listeners:\n  - port: "8080"\n')).toEqual(['config/test.yaml:2:11: listeners[0].port: must be a number (got string "8080")']);
    expect(problems('routes: {}\n')).toEqual(['config/test.yaml:1:9: routes: must be a list (got a mapping)']);
  });

  it('reports missing required fields at their parent', () => {
    expect(problems('routes:\n  - name: a\n    match: { path: /a }\n')).toEqual([
      'config/test.yaml:2:5: routes[0].service: set exactly one of "service" (one service) or "backends" (a weighted split between services)',
    ]);
  });

  it('reports bad durations, sizes, ports and enums', () => {
    expect(problems('timeouts:\n  headers: 5 sec\n')).toEqual([
      'config/test.yaml:2:12: timeouts.headers: must be a duration such as "250ms", "5s", "1m" or a number of milliseconds (got "5 sec")',
    ]);
    expect(problems('limits:\n  maxHeaderSize: lots\n')).toEqual(['config/test.yaml:2:18: limits.maxHeaderSize: must be a size such as "16KiB", "10MiB" or a number of bytes (got "lots")']);
    expect(problems('listeners:\n  - port: 70000\n')[0]).toMatch(/^config\/test\.yaml:2:11: listeners\[0\]\.port: .*65535/);
    expect(problems('services:\n  s:\n    balancer: fastest\n')).toEqual(['config/test.yaml:3:15: services.s.balancer: must be one of "weighted_round_robin", "least_request", "random", "consistent_hash"']);
    expect(problems('registry:\n  type: zookeeper\n')).toEqual(['config/test.yaml:2:9: registry.type: must be one of: "file", "consul"']);
  });

  it('rejects bad hosts, header names and methods', () => {
    expect(problems('routes:\n  - name: a\n    service: s\n    match: { host: "bad host" }\n')).toEqual([
      'config/test.yaml:4:20: routes[0].match.host: must be a host name such as "api.example.com" or a wildcard such as "*.example.com"',
    ]);
    expect(problems('routes:\n  - name: a\n    service: s\n    match: { headers: { "bad header": x } }\n')[0]).toContain('routes[0].match.headers.bad header: must be a valid HTTP header name');
    expect(problems('routes:\n  - name: a\n    service: s\n    match: { methods: ["GE T"] }\n')[0]).toContain('routes[0].match.methods[0]: must be an HTTP method such as "GET"');
  });

  it('checks relations between fields once the fields themselves are valid', () => {
    expect(problems('routes:\n  - name: a\n    service: s\n    stripPrefix: true\n    rewritePrefix: /x\n  - name: a\n    service: t\n')).toEqual([
      'config/test.yaml:5:20: routes[0].rewritePrefix: cannot be combined with stripPrefix: true (stripPrefix is rewritePrefix "/")',
      'config/test.yaml:6:11: routes[1].name: duplicate route name "a" (also routes[0])',
    ]);
    expect(problems('listeners:\n  - port: 8080\n  - port: 8080\n')).toEqual(['config/test.yaml:3:11: listeners[1].port: duplicate listener 0.0.0.0:8080 (also listeners[0])']);
    // A timer set for longer than 2^31 - 1 ms fires at once in Node: such durations are refused.
    expect(problems('timeouts:\n  total: 600h\n')).toEqual(['config/test.yaml:2:10: timeouts.total: must be at most 596h (2147483647ms, the longest timer Node.js can set); got "600h"']);
  });

  it('reports YAML syntax errors with their position', () => {
    const [line] = problems('routes:\n  - name: x\n    match: {path: /\n');
    expect(line).toMatch(/^config\/test\.yaml:4:1: YAML syntax error: /);
    expect(problems('routes:\n  - name: a\n    name: b\n')).toEqual(['config/test.yaml:3:5: YAML syntax error: Map keys must be unique']);
    expect(problems('- a\n- b\n')).toEqual(['config/test.yaml:1:1: must be a YAML mapping of settings at the top level']);
  });

  it('lists the deprecated fields a file uses, and none for a current one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-cfg-'));
    await writeFile(join(dir, 'old.yaml'), 'services:\n  a: { tls: { servername: a.internal } }\n  b: { tls: { serverName: b.internal } }\n');
    const { config, deprecated } = await loadConfig(join(dir, 'old.yaml'));
    expect(deprecated).toEqual([
      { field: 'services.a.tls.servername', replacement: 'services.a.tls.serverName', message: 'services.a.tls.servername is deprecated: rename it to serverName (same value) (services.a.tls.serverName)' },
    ]);
    expect(config.services.a!.tls!.servername).toBe('a.internal');
    expect((await loadConfig('config/default.yaml')).deprecated).toEqual([]);
  });

  it('says when the file cannot be read', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-cfg-'));
    await expect(loadConfig(join(dir, 'missing.yaml'))).rejects.toThrow(/missing\.yaml: cannot read the configuration file: ENOENT/);
    await writeFile(join(dir, 'bad.yaml'), 'routes: 3\n');
    await expect(loadConfig(join(dir, 'bad.yaml'))).rejects.toThrow(/bad\.yaml:1:9: routes: must be a list \(got number 3\)/);
  });
});

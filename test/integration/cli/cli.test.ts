import { spawn, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConsulEmulator } from '../../support/consul-emulator.js';
import { fetchJson } from '../../support/http-client.js';

const CLI = ['--import', 'tsx', 'src/cli/switchyard.ts'];

function run(args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/** Starts `switchyard start <config>` and resolves with the first listener URL from its banner. */
async function startCli(config: string): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawn(process.execPath, [...CLI, 'start', config], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stdout!.resume();
  const url = await new Promise<string>((resolve, reject) => {
    child.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
      const m = /listener \S+: (http:\/\/\S+)/.exec(stderr);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`switchyard exited with ${code}: ${stderr}`)));
  });
  return { child, url, stderr: () => stderr };
}

describe('switchyard command', () => {
  it('check: accepts a valid config', async () => {
    const r = await run(['check', 'config/default.yaml']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const root = process.cwd();
    expect(r.stdout).toBe(
      [
        'config/default.yaml: OK',
        '  listeners: 1 (0 with TLS certificates), routes: 1',
        `  registry: file ${join(root, 'config/services.yaml')} (1 service(s), 2 instance(s))`,
        `  operator state: file ${join(root, 'config/default.state.json')} (loads; its folder is writable)`,
        '',
      ].join('\n'),
    );
  });

  it('check: rejects a bad config with file, line and field, exit code 1', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-'));
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'routes:\n  - name: a\n    service: s\n    match: { path: nope }\n');
    const r = await run(['check', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`${file}:4:20: routes[0].match.path: must start with "/"\n`);
  });

  it('check: accepts deprecated field spellings and warns with the field to use instead', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-'));
    const file = join(dir, 'old.yaml');
    // check runs the whole load path: the registry and the state store must be reachable.
    const consul = await ConsulEmulator.start();
    await writeFile(file, `services:\n  api:\n    tls: { servername: api.internal }\nregistry: { type: consul, address: '${consul.address}', tls: { insecureSkipVerify: true } }\n`);
    const r = await run(['check', file]).finally(() => consul.stop());
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe(
      `${file}: warning: services.api.tls.servername is deprecated: rename it to serverName (same value) (services.api.tls.serverName)\n` +
        `${file}: warning: registry.tls.insecureSkipVerify is deprecated: write verify: false instead of insecureSkipVerify: true (and drop insecureSkipVerify: false) (registry.tls.verify)\n`,
    );
  });

  it('schema: prints the JSON Schema committed as config/switchyard.schema.json, whole (over 64 KiB through a pipe)', async () => {
    const r = await run(['schema']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const committed = await readFile('config/switchyard.schema.json', 'utf8');
    expect(committed.length).toBeGreaterThan(64 * 1024);
    expect(r.stdout).toBe(committed);
    const schema = JSON.parse(r.stdout) as { $schema: string; properties: { timeouts: { properties: { headers: { description: string; default: string } } } } };
    expect(schema.$schema).toBe('https://json-schema.org/draft/2020-12/schema');
    expect(schema.properties.timeouts.properties.headers).toMatchObject({ default: '30s', description: expect.stringContaining('response headers') });
  });

  it('schema: refuses arguments, saying how to write the schema to a file', async () => {
    const r = await run(['schema', 'out.json']);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(
      'switchyard: schema takes no arguments; unexpected argument "out.json"; to write the schema to a file, redirect the output: switchyard schema > switchyard.schema.json\nRun "switchyard help" for the commands and options.\n',
    );
  });

  it('no command: the usage on standard error, exit code 2; an unknown command is named, exit code 2', async () => {
    const [none, bad] = await Promise.all([run([]), run(['frobnicate'])]);
    expect(none.code).toBe(2);
    expect(none.stdout).toBe('');
    expect(none.stderr).toMatch(/^Usage: switchyard <command> \[options\]\n/);
    expect(bad.code).toBe(2);
    expect(bad.stdout).toBe('');
    expect(bad.stderr).toBe('switchyard: unknown command "frobnicate"\nRun "switchyard help" for the commands and options.\n');
  });

  it('start: the default config serves the demo, alternating between its two instances, and exits 0 on SIGTERM', async () => {
    const { child, url, stderr } = await startCli('config/default.yaml');
    try {
      expect(stderr()).toContain('Try: curl -i http://127.0.0.1:8080/');
      const first = await fetchJson<{ instance: string }>(`${url}/`);
      const second = await fetchJson<{ instance: string }>(`${url}/`);
      const third = await fetchJson<{ instance: string }>(`${url}/`);
      expect(first.status).toBe(200);
      expect(new Set([first.json.instance, second.json.instance])).toEqual(new Set(['demo-1', 'demo-2']));
      expect(third.json.instance).toBe(first.json.instance);
    } finally {
      child.kill('SIGTERM');
    }
    const [code] = (await once(child, 'exit')) as [number | null];
    expect(code).toBe(0);
  });

  it('start: names the listener and the fix when its port is taken, exit code 1', async () => {
    const blocker = createNetServer();
    await new Promise<void>((r) => blocker.listen(0, '127.0.0.1', () => r()));
    const port = (blocker.address() as AddressInfo).port;
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-'));
    const file = join(dir, 'taken.yaml');
    await writeFile(join(dir, 'services.yaml'), 'services: {}\n');
    await writeFile(file, `listeners:\n  - name: edge\n    address: 127.0.0.1\n    port: ${port}\nadmin: { enabled: false }\n`);
    try {
      const r = await run(['start', file]);
      expect(r.code).toBe(1);
      expect(r.stderr).toContain(`listener "edge" cannot listen on 127.0.0.1:${port}: the port is already in use. Free the port or change the listener's port in the config.`);
    } finally {
      blocker.close();
    }
  });

  it('start: refuses a bad config with its error and exit code 1', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-'));
    const file = join(dir, 'bad.yaml');
    await writeFile(file, 'listeners:\n  - port: http\n');
    const r = await run(['start', file]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`${file}:2:11: listeners[0].port: must be a number (got string "http")`);
  });
});

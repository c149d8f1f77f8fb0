import { chmod, chown, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { createSelfSigned } from '../../support/certificates.js';
import { fetchJson } from '../../support/http-client.js';
import { servicesYaml } from '../../support/proxy-harness.js';
import { runCli, startRouterProcess } from '../../support/router-process.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';

/**
 * `switchyard check` runs start's load path without binding a port: where start fails, check
 * fails with the same message (ending in a newline) and exit code 1. A read-only configuration
 * folder does not stop drains when $STATE_DIRECTORY (systemd's StateDirectory=) is writable.
 */

const NO_ENV = { SWITCHYARD_ADMIN_TOKEN: '', SWITCHYARD_CONFIG: '', STATE_DIRECTORY: '' };
// Each case starts two node processes (tsx): slow on a busy two-core machine.
const SLOW = 120_000;

/** A router config: one listener, the admin listener, services.yaml beside it, one route to "web". */
function edgeConfig(extra: Record<string, unknown> = {}): string {
  return stringify({
    listeners: [{ name: 'edge', address: '127.0.0.1', port: 0 }],
    admin: { address: '127.0.0.1', port: 0 },
    registry: { type: 'file', path: 'services.yaml', watch: false },
    routes: [{ name: 'web', match: { path: '/' }, service: 'web' }],
    ...extra,
  });
}

describe('switchyard check fails where start fails, with the same message', () => {
  let dir: string;
  let up: TestUpstream;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'switchyard-check-'));
    up = await startUpstream('web');
    await writeFile(join(dir, 'services.yaml'), servicesYaml({ web: [{ id: 'web-a', port: up.port }] }));
  });
  afterAll(async () => {
    await up?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  async function config(name: string, extra: Record<string, unknown>): Promise<string> {
    const file = join(dir, name);
    await writeFile(file, edgeConfig(extra));
    return file;
  }

  /** Runs check and start on `file`: both must fail with exit 1 and the same standard error. */
  async function bothFail(file: string): Promise<string> {
    const check = await runCli(['check', file], NO_ENV);
    const start = await runCli(['start', file], NO_ENV);
    expect(start.code, start.stderr).toBe(1);
    expect(check.code, check.stderr).toBe(1);
    expect(check.stdout).toBe('');
    expect(check.stderr).toBe(start.stderr);
    expect(check.stderr.endsWith('\n')).toBe(true);
    expect(check.stderr).not.toContain('    at ');
    return check.stderr;
  }

  it(
    'a services file that is missing',
    async () => {
      const file = await config('no-services.yaml', { registry: { type: 'file', path: 'absent.yaml', watch: false } });
      expect(await bothFail(file)).toContain(join(dir, 'absent.yaml'));
    },
    SLOW,
  );

  it(
    'a listener certificate whose key is another certificate\'s',
    async () => {
      const one = await createSelfSigned(dir, 'one', 'one.test', ['DNS:one.test']);
      const two = await createSelfSigned(dir, 'two', 'two.test', ['DNS:two.test']);
      const file = await config('mismatch.yaml', { listeners: [{ name: 'tls', address: '127.0.0.1', port: 0, tls: { cert: one.cert, key: two.key } }] });
      const message = await bothFail(file);
      expect(message).toBe(`switchyard: cannot start: TLS certificate ${one.cert} with key ${two.key} cannot be used: ${message.split('cannot be used: ')[1]!.trimEnd()}\n`);
    },
    SLOW,
  );

  it(
    'a certificate file that is not PEM',
    async () => {
      await writeFile(join(dir, 'garbage.pem'), 'not a certificate\n');
      const key = (await createSelfSigned(dir, 'three', 'three.test', ['DNS:three.test'])).key;
      const file = await config('garbage.yaml', { listeners: [{ name: 'tls', address: '127.0.0.1', port: 0, tls: { cert: 'garbage.pem', key } }] });
      expect(await bothFail(file)).toContain(join(dir, 'garbage.pem'));
    },
    SLOW,
  );

  it(
    'a state folder that cannot be written: check fails naming it and the settings that move it',
    async () => {
      const file = await config('stateless.yaml', { admin: { address: '127.0.0.1', port: 0, stateFile: 'missing-folder/edge.state.json' } });
      const check = await runCli(['check', file], NO_ENV);
      expect(check.code).toBe(1);
      expect(check.stderr).toBe(
        `switchyard: cannot start: cannot write the operator state file ${join(dir, 'missing-folder/edge.state.json')}: ${check.stderr.split('edge.state.json: ')[1]!.split('; check')[0]}; check that its folder exists and is writable, or choose another place (admin.stateFile, or the STATE_DIRECTORY environment variable)\n`,
      );
      expect(check.stderr).toContain('ENOENT');
    },
    SLOW,
  );

  it(
    'a good configuration: what check found, on standard output, exit 0',
    async () => {
      const file = await config('good.yaml', {});
      const check = await runCli(['check', '--config', file], { ...NO_ENV, STATE_DIRECTORY: dir });
      expect(check.code, check.stderr).toBe(0);
      expect(check.stdout).toBe(
        [
          `${file}: OK`,
          '  listeners: 1 (0 with TLS certificates), routes: 1',
          `  registry: file ${join(dir, 'services.yaml')} (1 service(s), 1 instance(s))`,
          `  operator state: file ${join(dir, 'good.state.json')} (loads; its folder is writable)`,
          '',
        ].join('\n'),
      );
    },
    SLOW,
  );
});

/**
 * Whether a user other than root may run this Node binary: every folder on its path searchable
 * by others. Not so for a Node installed under root's home (CI's Node 22 and 24 runs).
 */
function nodeRunnableByOthers(): boolean {
  let path = process.execPath;
  for (;;) {
    if ((statSync(path).mode & 0o001) === 0) return false;
    const parent = dirname(path);
    if (parent === path) return true;
    path = parent;
  }
}

describe('a read-only configuration folder under systemd (StateDirectory)', () => {
  // Needs root (to run the router as "nobody") and a Node binary "nobody" can run.
  const runnable = process.getuid?.() === 0 && nodeRunnableByOthers();

  it.skipIf(!runnable)(
    'drains are saved in $STATE_DIRECTORY and survive a restart (run as an unprivileged user)',
    async () => {
      // Root writes anywhere: the router runs as "nobody", as systemd's DynamicUser would.
      const NOBODY = 65534;
      const base = await mkdtemp(join(tmpdir(), 'switchyard-ro-'));
      await chmod(base, 0o755);
      const etc = join(base, 'etc');
      const state = join(base, 'state');
      await mkdir(etc);
      await mkdir(state);
      const a = await startUpstream('a');
      const b = await startUpstream('b');
      try {
        await writeFile(join(etc, 'services.yaml'), servicesYaml({ web: [{ id: 'web-a', port: a.port }, { id: 'web-b', port: b.port }] }));
        const file = join(etc, 'edge.yaml');
        await writeFile(file, edgeConfig());
        await chmod(etc, 0o555);
        await chown(state, NOBODY, NOBODY);
        await chmod(state, 0o700);
        const env = { ...process.env, ...NO_ENV, STATE_DIRECTORY: state };
        let router = await startRouterProcess(file, env, { uid: NOBODY, gid: NOBODY });
        try {
          const drain = await fetchJson<any>(`${router.adminUrl}/api/v1/endpoints/drain`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ endpoint: 'web-b' }) });
          expect(drain.status, JSON.stringify(drain.json)).toBe(200);
          const stored = JSON.parse(await readFile(join(state, 'edge.state.json'), 'utf8'));
          expect(stored.drains).toEqual([{ service: 'web', endpoint: `127.0.0.1:${b.port}` }]);
          expect(await router.stop('SIGTERM')).toBe(0);
          router = await startRouterProcess(file, env, { uid: NOBODY, gid: NOBODY });
          const web = (await fetchJson<any>(`${router.adminUrl}/api/v1/services/web`)).json;
          expect(web.endpoints.find((e: any) => e.id === 'web-b')).toMatchObject({ drained: true });
          const status = (await fetchJson<any>(`${router.adminUrl}/api/v1/status`)).json;
          expect(status.operatorState).toMatchObject({ store: 'file', location: join(state, 'edge.state.json'), lastError: null });
        } finally {
          await router.stop('SIGTERM');
        }
      } finally {
        await Promise.all([a.close(), b.close()]);
        await chmod(etc, 0o755);
        await rm(base, { recursive: true, force: true });
      }
    },
    SLOW,
  );
});

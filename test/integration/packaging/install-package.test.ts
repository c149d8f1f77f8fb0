import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { servicesYaml } from '../../support/proxy-harness.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';

/**
 * What ships: deploy/install-package.sh (the container recipe runs the same script) packs this
 * tree and installs the tarball offline into an empty prefix with --omit=dev. The installed
 * `switchyard` then runs from that prefix alone (no tsx, no source tree, no devDependency) and
 * proxies a request on 127.0.0.1.
 */

const ROOT = fileURLToPath(new URL('../../..', import.meta.url));
const run = promisify(execFile);
const PACKAGE = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as { version: string; devDependencies: Record<string, string>; dependencies: Record<string, string> };
// Packing builds dist/ (tsc) and installing copies the bundle: minutes on a busy two-core machine.
const INSTALL_TIMEOUT = 15 * 60_000;

/** An environment with the running node on PATH and nothing that would load tsx or the source tree's modules. */
function plainEnv(): NodeJS.ProcessEnv {
  return { PATH: `${dirname(process.execPath)}:/usr/local/bin:/usr/bin:/bin`, HOME: process.env.HOME ?? '/root', npm_config_cache: process.env.npm_config_cache };
}

describe('the npm package, installed offline into an empty prefix', () => {
  let work: string;
  let prefix: string;
  let packDir: string;
  let tarball: string;
  let up: TestUpstream;
  let installOutput: string;

  beforeAll(async () => {
    work = await mkdtemp(join(tmpdir(), 'switchyard-package-'));
    prefix = join(work, 'prefix');
    packDir = join(work, 'pack');
    const r = await run('bash', [join(ROOT, 'deploy/install-package.sh'), prefix, packDir], { cwd: work, env: { ...plainEnv(), npm_config_cache: process.env.npm_config_cache ?? join(process.env.HOME ?? '/root', '.npm') }, maxBuffer: 16 << 20 });
    installOutput = r.stdout + r.stderr;
    tarball = join(packDir, `switchyard-${PACKAGE.version}.tgz`);
    up = await startUpstream('web');
  }, INSTALL_TIMEOUT);

  afterAll(async () => {
    await up?.close();
    if (work) await rm(work, { recursive: true, force: true });
  });

  it('the tarball holds dist/ and the bin, its runtime dependencies bundled, no source, tests or devDependency', async () => {
    const { stdout } = await run('tar', ['-tzf', tarball], { maxBuffer: 16 << 20 });
    const files = stdout.split('\n');
    for (const f of ['package/package.json', 'package/dist/cli/switchyard.js', 'package/dist/main.js', 'package/deploy/systemd/switchyard.service']) {
      expect(files, f).toContain(f);
    }
    expect(files.filter((f) => f.startsWith('package/src/') || f.startsWith('package/test/'))).toEqual([]);
    const bundled = new Set(files.filter((f) => f.startsWith('package/node_modules/')).map((f) => f.split('/').slice(2, f.split('/')[2]!.startsWith('@') ? 4 : 3).join('/')));
    for (const dep of Object.keys(PACKAGE.dependencies)) expect(bundled, dep).toContain(dep);
    for (const dev of Object.keys(PACKAGE.devDependencies)) expect(bundled, dev).not.toContain(dev);
  });

  it('installs without a devDependency, and the bin answers --version', async () => {
    expect(installOutput).toContain(`installed switchyard ${PACKAGE.version} at ${prefix}`);
    const installed = join(prefix, 'lib/node_modules/switchyard');
    const modules = await readdir(join(installed, 'node_modules'));
    for (const dev of Object.keys(PACKAGE.devDependencies)) expect(modules, dev).not.toContain(dev.split('/')[0]);
    const { stdout } = await run(join(prefix, 'bin/switchyard'), ['--version'], { cwd: work, env: plainEnv() });
    expect(stdout).toBe(`switchyard ${PACKAGE.version}\n`);
  });

  it('deploy/systemd/switchyard.service passes systemd-analyze verify against the installed bin', async (ctx) => {
    const analyze = await run('sh', ['-c', 'command -v systemd-analyze']).catch(() => null);
    if (analyze === null) {
      ctx.skip(true, 'systemd-analyze is not installed (apt-get install systemd provides it)');
      return;
    }
    // The unit as shipped, with its install prefix /opt/switchyard pointed at this install.
    const unit = (await readFile(join(ROOT, 'deploy/systemd/switchyard.service'), 'utf8')).replaceAll('/opt/switchyard', prefix);
    const unitDir = await mkdtemp(join(work, 'unit-'));
    await writeFile(join(unitDir, 'switchyard.service'), unit);
    const r = await run('systemd-analyze', ['verify', join(unitDir, 'switchyard.service')], { env: { ...process.env, SYSTEMD_LOG_LEVEL: 'notice' } }).catch((err: { code: number; stdout: string; stderr: string }) => err);
    expect(r.stderr, 'systemd-analyze verify').toBe('');
    expect('code' in r ? r.code : 0).toBe(0);
  });

  it('the installed switchyard checks a config, starts from an empty folder and proxies a request on 127.0.0.1', async () => {
    const site = await mkdtemp(join(work, 'site-'));
    await writeFile(join(site, 'services.yaml'), servicesYaml({ web: [{ id: 'web-a', port: up.port }] }));
    const config = join(site, 'switchyard.yaml');
    await writeFile(
      config,
      stringify({
        listeners: [{ name: 'edge', address: '127.0.0.1', port: 0 }],
        admin: { address: '127.0.0.1', port: 0 },
        registry: { type: 'file', path: 'services.yaml', watch: false },
        routes: [{ name: 'web', match: { path: '/' }, service: 'web' }],
      }),
    );
    const bin = join(prefix, 'bin/switchyard');
    const check = await run(bin, ['check', config], { cwd: site, env: plainEnv() });
    expect(check.stdout).toContain(`${config}: OK`);

    const child = spawn(bin, ['start', '--config', config], { cwd: site, env: { ...plainEnv(), STATE_DIRECTORY: site }, stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    child.stderr.on('data', (c: Buffer) => (err += c.toString('utf8')));
    const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
    try {
      const url = await new Promise<string>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the installed switchyard did not start within 60s:\n${err}`)), 60_000);
        const look = () => {
          const m = /listener edge: (http:\/\/127\.0\.0\.1:\d+)/.exec(err);
          if (m) {
            clearTimeout(timer);
            resolve(m[1]!);
          }
        };
        child.stderr.on('data', look);
        void exited.then((code) => reject(new Error(`the installed switchyard exited with ${code}:\n${err}`)));
      });
      expect(err).toContain(`Switchyard ${PACKAGE.version} is routing`);
      const res = await fetch(`${url}/hello`);
      expect(res.status).toBe(200);
      const body = (await res.json()) as { instance: string; url: string };
      expect(body.instance).toBe('web');
      expect(body.url).toBe('/hello');
    } finally {
      child.kill('SIGTERM');
    }
    expect(await exited).toBe(0);
  });
});

import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { freePort } from '../../support/free-port.js';
import { servicesYaml } from '../../support/proxy-harness.js';
import { runCli, startRouterProcess, type RouterProcess } from '../../support/router-process.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';

/** The command line as a person types it: versions, help, usage errors, where the admin address comes from. */

const HELP_HINT = 'Run "switchyard help" for the commands and options.\n';
const VERSION: string = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')).version;
const TOKEN = 'command-line-test-token-0123';
/** No token from the environment the tests run in. */
const NO_TOKEN = { SWITCHYARD_ADMIN_TOKEN: '', SWITCHYARD_CONFIG: '' };

describe('switchyard command line, as a process', () => {
  // Each case of the argument handling is in test/unit/cli/command-line.test.ts (in-process);
  // these run the executable to show what reaches the terminal: streams, exit codes, no stack trace.
  it('--version prints the version from package.json on standard output, exit 0', async () => {
    const r = await runCli(['--version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`switchyard ${VERSION}\n`);
    expect(r.stderr).toBe('');
  });

  it('help sidecar prints the sidecar usage on standard output, exit 0', async () => {
    const r = await runCli(['help', 'sidecar']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^Usage: switchyard sidecar /);
  });

  it('--admin without a port: one line naming the accepted forms, exit 2, no stack trace', async () => {
    const r = await runCli(['status', '--admin', '127.0.0.1'], NO_TOKEN);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`switchyard: --admin "127.0.0.1" has no port: give host:port (e.g. 127.0.0.1:9901) or a URL (e.g. http://127.0.0.1:9901)\n${HELP_HINT}`);
  });
});

describe('switchyard command line against a running router', () => {
  let up: TestUpstream;
  let dir: string;
  let configFile: string;
  let adminPort: number;
  let router: RouterProcess;

  beforeAll(async () => {
    up = await startUpstream('web');
    dir = await mkdtemp(join(tmpdir(), 'switchyard-cli-'));
    await writeFile(join(dir, 'services.yaml'), servicesYaml({ web: [{ id: 'web-a', port: up.port }] }));
    adminPort = await freePort();
    configFile = join(dir, 'edge.yaml');
    await writeFile(
      configFile,
      stringify({
        listeners: [{ name: 'test', address: '127.0.0.1', port: 0 }],
        // 0.0.0.0: the admin commands reach it on 127.0.0.1.
        admin: { address: '0.0.0.0', port: adminPort, token: TOKEN },
        registry: { type: 'file', path: 'services.yaml', watch: false },
        routes: [{ name: 'web', match: { path: '/' }, service: 'web' }],
      }),
    );
    // The --config form of start (the argument form is what every other test uses).
    router = await startRouterProcess(configFile, process.env, { configFlag: true });
  });
  afterAll(async () => {
    await router?.stop('SIGTERM');
    await up?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('start --config <file> starts like start <file>; the banner names the version', () => {
    expect(router.stderr()).toContain(`Switchyard ${VERSION} is routing (config ${configFile})\n`);
  });

  it('--admin takes host:port (http assumed) as well as a URL', async () => {
    const [hostPort, url] = await Promise.all([runCli(['routes', '--admin', `127.0.0.1:${adminPort}`], NO_TOKEN), runCli(['routes', '--admin', `http://127.0.0.1:${adminPort}/`], NO_TOKEN)]);
    for (const r of [hostPort, url]) {
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^ROUTE\s+HOST\s+PATH/);
    }
    expect(hostPort.stdout).toBe(url.stdout);
  });

  it('admin commands read the admin address and token from --config or $SWITCHYARD_CONFIG', async () => {
    const status = await runCli(['status', '--config', configFile], NO_TOKEN);
    expect(status.code, status.stderr).toBe(0);
    expect(status.stdout).toContain(`switchyard ${VERSION} · pid ${router.child.pid} · ready`);
    // drain needs the token: it came from the config's admin.token.
    const drain = await runCli(['drain', 'web-a', '--config', configFile], NO_TOKEN);
    expect(drain.code, drain.stderr).toBe(0);
    expect(drain.stdout).toContain('drained 1 endpoint(s)');
    const undrain = await runCli(['undrain', 'web-a'], { ...NO_TOKEN, SWITCHYARD_CONFIG: configFile });
    expect(undrain.code, undrain.stderr).toBe(0);
    expect(undrain.stdout).toContain('undrained 1 endpoint(s)');
    // Three CLI processes in turn: room for start-up on a busy machine (no timing asserted).
  }, 90_000);

  it('an address typed with --admin is not paired with a config file token unless --config is given', async () => {
    const alone = await runCli(['drain', 'web-a', '--admin', `127.0.0.1:${adminPort}`], { ...NO_TOKEN, SWITCHYARD_CONFIG: configFile });
    expect(alone.code).toBe(1);
    expect(alone.stderr).toContain('HTTP 401');
    expect(alone.stderr).toContain('(pass --token or set SWITCHYARD_ADMIN_TOKEN)');
    const paired = await runCli(['undrain', 'web-a', '--admin', `127.0.0.1:${adminPort}`, '--config', configFile], NO_TOKEN);
    expect(paired.code, paired.stderr).toBe(0);
  });

  it('a config whose admin listener cannot be reached, or is off, is named in the error', async () => {
    const off = join(dir, 'off.yaml');
    await writeFile(off, stringify({ admin: { enabled: false }, registry: { type: 'file', path: 'services.yaml' } }));
    const down = join(dir, 'down.yaml');
    const closedPort = await freePort();
    await writeFile(down, stringify({ admin: { port: closedPort }, registry: { type: 'file', path: 'services.yaml' } }));
    const missing = join(dir, 'missing.yaml');
    const [offRun, downRun, missingRun] = await Promise.all([runCli(['status', '--config', off], NO_TOKEN), runCli(['status', '--config', down], NO_TOKEN), runCli(['status', '--config', missing], NO_TOKEN)]);
    expect(offRun.code).toBe(1);
    expect(offRun.stderr).toBe(`switchyard status: the admin listener is off in ${off} (admin.enabled: false): there is no admin API to talk to; give its address with --admin if another router has one\n`);
    expect(downRun.code).toBe(1);
    expect(downRun.stderr).toContain(`switchyard status: cannot reach the admin API at http://127.0.0.1:${closedPort} (the address of ${down}): connect ECONNREFUSED`);
    expect(missingRun.code).toBe(1);
    expect(missingRun.stderr).toContain(`${missing}: cannot read the configuration file: ENOENT`);
  });
});

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { runCommandLine } from '../../../src/cli/command-line.js';
import { freePort } from '../../support/free-port.js';
import { startProxy, type ProxyHarness } from '../../support/proxy-harness.js';

/**
 * Admin commands given `--config` take their token from that file: the commands that only read
 * (status, routes, services, endpoints) its admin.readToken when it has one, the others its
 * admin.token. In process, against a real router whose reads need a token; the reader's config
 * file has the router's read token and another admin token, so each answer shows which was sent.
 */

const READ_TOKEN = 'read-token-for-the-cli-0123';
const ADMIN_TOKEN = 'admin-token-for-the-cli-0123';
/** No token or config from the environment the tests run in. */
const NO_ENV = { SWITCHYARD_ADMIN_TOKEN: '', SWITCHYARD_CONFIG: '' };

async function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCommandLine(args, NO_ENV, { out: (t) => (stdout += t), err: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

describe('admin commands with --config: reads send admin.readToken, mutations admin.token', () => {
  let h: ProxyHarness;
  /** The reader's config file: the router's admin address and read token, an admin token the router does not know. */
  let reader: string;

  beforeAll(async () => {
    const port = await freePort();
    h = await startProxy({
      config: { admin: { address: '127.0.0.1', port, token: ADMIN_TOKEN, readToken: READ_TOKEN }, routes: [{ name: 'web', match: { path: '/' }, service: 'web' }] },
      services: { web: [{ id: 'web-a', port: 9 }] },
    });
    reader = join(h.dir, 'reader.yaml');
    await writeFile(reader, stringify({ admin: { address: '127.0.0.1', port, token: 'not-the-routers-admin-token', readToken: READ_TOKEN }, registry: { type: 'file', path: 'services.yaml' } }));
  });
  afterAll(async () => {
    await h?.close();
  });

  it('reads use admin.readToken: status, routes, services and endpoints answer', async () => {
    const results = await Promise.all([cli(['status', '--config', reader]), cli(['routes', '--config', reader]), cli(['services', '--config', reader]), cli(['endpoints', 'web', '--config', reader])]);
    for (const r of results) expect(r.code, r.stderr).toBe(0);
    expect(results[1]!.stdout).toMatch(/^ROUTE\s+HOST\s+PATH/);
    expect(results[3]!.stdout).toContain('web-a');
  });

  it('without the read token the same read is refused (the API needs it)', async () => {
    const r = await cli(['routes', '--admin', `127.0.0.1:${h.app.adminAddress!.port}`]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('HTTP 401');
  });

  it('a mutation sends admin.token, not the read token: refused (401, not the read token\'s 403); the router\'s own config drains', async () => {
    const r = await cli(['drain', 'web-a', '--config', reader]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('HTTP 401');
    expect(r.stderr).not.toContain(READ_TOKEN);
    const withToken = await cli(['drain', 'web-a', '--config', h.configFile]);
    expect(withToken.code, withToken.stderr).toBe(0);
    expect(withToken.stdout).toContain('drained 1 endpoint(s)');
  });
});

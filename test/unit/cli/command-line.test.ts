import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { runCommandLine } from '../../../src/cli/command-line.js';

/** The command line as a person types it: versions, help, usage errors (run in-process: nothing here starts a router). */

const HELP_HINT = 'Run "switchyard help" for the commands and options.\n';
const VERSION: string = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')).version;
/** No token or config from the environment the tests run in. */
const NO_ENV = { SWITCHYARD_ADMIN_TOKEN: '', SWITCHYARD_CONFIG: '' };

/** Runs the command line with its output captured. */
async function runCli(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runCommandLine(args, { ...NO_ENV, ...env }, { out: (t) => (stdout += t), err: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

describe('switchyard command line', () => {
  it('--version and -V print the version from package.json, exit 0', async () => {
    const [long, short, withCommand] = await Promise.all([runCli(['--version']), runCli(['-V']), runCli(['start', '--version'])]);
    for (const r of [long, short, withCommand]) {
      expect(r.code).toBe(0);
      expect(r.stdout).toBe(`switchyard ${VERSION}\n`);
      expect(r.stderr).toBe('');
    }
    expect(VERSION).toMatch(/^\d+\.\d+\.\d+/);
  });

  it('help, --help and -h print the usage on standard output, exit 0; no command prints it on standard error, exit 2', async () => {
    const [help, long, short, unknown, none] = await Promise.all([runCli(['help']), runCli(['--help']), runCli(['-h']), runCli(['help', 'nope']), runCli([])]);
    for (const r of [help, long, short]) {
      expect(r.code).toBe(0);
      expect(r.stdout).toMatch(/^Usage: switchyard <command> \[options\]\n/);
      expect(r.stdout).toContain('-V, --version');
      expect(r.stderr).toBe('');
    }
    expect(none.code).toBe(2);
    expect(none.stdout).toBe('');
    expect(none.stderr).toBe(help.stdout);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe(`switchyard: help: unknown command "nope"\n${HELP_HINT}`);
  });

  it('names an unexpected argument instead of ignoring it, exit 2', async () => {
    const cases: [string[], string][] = [
      [['start', 'a.yaml', 'b.yaml'], 'start takes at most one argument (config); unexpected argument "b.yaml"'],
      [['check', 'a.yaml', 'b.yaml', 'c.yaml'], 'check takes at most one argument (config); unexpected arguments "b.yaml" "c.yaml"'],
      [['status', 'now'], 'status takes no arguments; unexpected argument "now"'],
      [['drain', '127.0.0.1:9101', '127.0.0.1:9102'], 'drain takes at most one argument (endpoint); unexpected argument "127.0.0.1:9102"'],
      [['reload', 'config/default.yaml'], 'reload takes no arguments; unexpected argument "config/default.yaml"'],
      [['start', 'a.yaml', '--config', 'b.yaml'], 'start: give the configuration file once, as the argument ("a.yaml") or with --config ("b.yaml")'],
      [['start', '--json'], '--json applies to the admin commands only, not to start'],
      [['schema', '--config', 'a.yaml'], '--config does not apply to schema'],
      [['--config', 'a.yaml', 'sidecar'], 'sidecar takes options of its own: put "sidecar" first, e.g. switchyard sidecar --config sidecar.yaml'],
      [['status', '--frobnicate'], "Unknown option '--frobnicate'"],
    ];
    const results = await Promise.all(cases.map(([args]) => runCli(args)));
    results.forEach((r, i) => {
      expect(r.code, cases[i]![0].join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toBe(`switchyard: ${cases[i]![1]}\n${HELP_HINT}`);
    });
  });

  it('--admin: a malformed address is one line naming the accepted forms, exit 2, no stack trace', async () => {
    const forms = 'give host:port (e.g. 127.0.0.1:9901) or a URL (e.g. http://127.0.0.1:9901)';
    const cases: [string, string][] = [
      ['not an address', `--admin "not an address" is not an address: ${forms}`],
      ['9901', `--admin "9901" has no port: ${forms}`],
      ['127.0.0.1', `--admin "127.0.0.1" has no port: ${forms}`],
      ['ftp://127.0.0.1:9901', '--admin "ftp://127.0.0.1:9901": the admin API speaks http or https, not ftp'],
      ['http://user:secret@127.0.0.1:9901', '--admin "http://user:secret@127.0.0.1:9901": leave credentials out of the address; pass the token with --token or SWITCHYARD_ADMIN_TOKEN'],
    ];
    const results = await Promise.all(cases.map(([admin]) => runCli(['status', '--admin', admin])));
    results.forEach((r, i) => {
      expect(r.code, cases[i]![0]).toBe(2);
      expect(r.stderr).toBe(`switchyard: ${cases[i]![1]}\n${HELP_HINT}`);
      expect(r.stderr).not.toContain('    at ');
    });
  });
});


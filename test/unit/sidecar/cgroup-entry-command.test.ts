import { spawnSync } from 'node:child_process';
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cgroupEntryCommand, ENTRY_FAILED_EXIT_CODE } from '../../../src/sidecar/cgroup-entry-command.js';

// Plain files stand in for cgroup.procs: the wrapper's contract is "write my pid, then exec".
describe('cgroup entry command', () => {
  it('writes its pid into every procs file, then becomes the app with that same pid and its arguments', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-entry-'));
    const files = [join(dir, 'memory.procs'), join(dir, 'with space.procs')];
    for (const f of files) await writeFile(f, '');
    const [program, ...args] = cgroupEntryCommand(files, ['/bin/sh', '-c', 'echo "$$ $1 $2"', 'app', 'one arg', '--']);
    const r = spawnSync(program!, args, { encoding: 'utf8' });
    expect(r.status).toBe(0);
    const appPid = r.stdout.split(' ')[0]!;
    // The app printed the pid that was written before it ran: it was in the group from its first instruction.
    for (const f of files) expect((await readFile(f, 'utf8')).trim()).toBe(appPid);
    // Its arguments arrive intact, a "--" of its own included.
    expect(r.stdout).toBe(`${appPid} one arg --\n`);
  });

  it('exits with 125 and names the group, without running the app, when it cannot join', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-entry-'));
    const marker = join(dir, 'app-ran');
    const [program, ...args] = cgroupEntryCommand([join(dir, 'missing', 'cgroup.procs')], ['/bin/sh', '-c', `echo ran > ${marker}`]);
    const r = spawnSync(program!, args, { encoding: 'utf8' });
    expect(r.status).toBe(ENTRY_FAILED_EXIT_CODE);
    expect(r.stderr).toContain(`switchyard: cannot join cgroup ${join(dir, 'missing', 'cgroup.procs')}`);
    await expect(readFile(marker, 'utf8')).rejects.toThrow(/ENOENT/);
  });
});

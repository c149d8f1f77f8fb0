import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { launcherNodeFlags } from '../../../bench/lib/targets.js';

/**
 * The node flags the `switchyard` executable starts with (its `#!/usr/bin/env -S node ...` line):
 * the same in `npm start`, read the same way by the benchmarks, and doing on this Node what the
 * executable's comment says (a young generation of 16 MiB semi-spaces from the start).
 */

const source = fileURLToPath(new URL('../../../src/cli/switchyard.ts', import.meta.url));
const flags = launcherNodeFlags(source);

describe('the executable\'s node flags', () => {
  it('start the young generation at 16 MiB semi-spaces', async () => {
    expect(flags).toEqual(['--min-semi-space-size=16']);
    const { stdout } = await promisify(execFile)(process.execPath, [
      ...flags,
      '-e',
      'process.stdout.write(String(require("node:v8").getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size))',
    ]);
    // The new space holds one semi-space's worth of objects (the other is the copy target).
    expect(Number(stdout)).toBe(16 * 1024 * 1024);
  });

  it('are the flags of npm start', async () => {
    const pkg = JSON.parse(await readFile(new URL('../../../package.json', import.meta.url), 'utf8')) as { scripts: Record<string, string> };
    expect(pkg.scripts.start).toBe(`node ${flags.join(' ')} dist/cli/switchyard.js start config/default.yaml`);
  });

  it('are read from a plain or a -S shebang, and a file that is not an executable is refused', async () => {
    const { mkdtemp, writeFile } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const dir = await mkdtemp(join(tmpdir(), 'switchyard-launcher-'));
    await writeFile(join(dir, 'plain.js'), '#!/usr/bin/env node\nconsole.log(1)\n');
    await writeFile(join(dir, 'flags.js'), '#!/usr/bin/env -S node --a=1  --b\n');
    await writeFile(join(dir, 'none.js'), 'console.log(1)\n');
    expect(launcherNodeFlags(join(dir, 'plain.js'))).toEqual([]);
    expect(launcherNodeFlags(join(dir, 'flags.js'))).toEqual(['--a=1', '--b']);
    expect(() => launcherNodeFlags(join(dir, 'none.js'))).toThrow(/is not the #!\/usr\/bin\/env node line/);
  });
});

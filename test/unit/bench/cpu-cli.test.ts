import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// Bad options are refused before anything is built or started, naming the option and what it takes.
function cpu(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/cpu-cost.ts', ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stderr: r.stderr };
}

describe('bench:cpu options', () => {
  it.each([
    [['--requests', '0'], '--requests must be a whole number > 0, got "0"'],
    [['--warmup=-1'], '--warmup must be a whole number ≥ 0, got "-1"'],
    [['--connections', 'many'], '--connections must be a whole number > 0, got "many"'],
    [['--rounds', '1.5'], '--rounds must be a whole number > 0, got "1.5"'],
    [['--scenario', 'get-2k'], 'unknown scenario get-2k; choose from get-1k, get-64k, post-64k'],
    [['--target', 'no-such-proxy'], 'unknown target no-such-proxy; choose from switchyard, switchyard-node,'],
  ])('%j is refused', (args, message) => {
    const r = cpu(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`bench:cpu: ${message}`);
  });
});

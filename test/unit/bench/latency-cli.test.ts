import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';

// Bad options are refused before anything is built or started, naming the option and what it takes.
function latency(...args: string[]): { status: number | null; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'bench/latency.ts', ...args], { encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stderr: r.stderr };
}

describe('bench:latency options', () => {
  it.each([
    [['--nice', '40'], '--nice must be a whole number from -20 to 19, got "40"'],
    [['--nice', '1.5'], '--nice must be a whole number from -20 to 19, got "1.5"'],
    [['--nice', 'high'], '--nice must be a whole number from -20 to 19, got "high"'],
    [['--rate', '0'], '--rate must be a number > 0, got "0"'],
    [['--max-seconds', '0'], '--max-seconds 0 needs --rate'],
    [['--target', 'no-such-proxy'], 'unknown target no-such-proxy; choose from direct, switchyard'],
    [['--compare', 'nolabel'], '--compare takes <label>=<path of a built dist/cli/switchyard.js>, got "nolabel"'],
  ])('%j is refused', (args, message) => {
    const r = latency(...args);
    expect(r.status).toBe(2);
    expect(r.stderr).toContain(`bench:latency: ${message}`);
  });
});

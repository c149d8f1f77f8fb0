import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load-config.js';
import { workerCount } from '../../../src/cluster-mode/primary.js';

describe('workers (cluster mode) config field', () => {
  it('defaults to 1 (no cluster), takes a number or "auto" (one per available CPU)', () => {
    expect(workerCount(parseConfigText('c.yaml', '{}'))).toBe(1);
    expect(workerCount(parseConfigText('c.yaml', 'workers: 3\n'))).toBe(3);
    expect(parseConfigText('c.yaml', 'workers: auto\n').workers).toBe('auto');
    expect(workerCount(parseConfigText('c.yaml', 'workers: auto\n'))).toBe(availableParallelism());
  });

  it('rejects anything else, naming the field and what it accepts', () => {
    for (const bad of ['workers: 0', 'workers: 1.5', 'workers: many', 'workers: -2']) {
      expect(() => parseConfigText('c.yaml', `${bad}\n`), bad).toThrow(/c\.yaml.*workers: must be "auto" \(one worker per available CPU\) or a whole number of worker processes from 1 to 1024/);
    }
  });
});

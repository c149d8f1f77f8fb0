import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load-config.js';

const consul = (fields: string) => `registry:\n  type: consul\n${fields}`;

describe('shutdown.drainDelay, registry.waitAtStart and registry.persistView', () => {
  it('defaults: a 5 s drain delay, start without waiting for Consul, no persisted view', () => {
    const c = parseConfigText('c.yaml', consul(''));
    expect(c.shutdown).toEqual({ drainDelay: 5_000, gracePeriod: 10_000 });
    expect(c.registry).toMatchObject({ waitAtStart: false, persistView: false });
  });

  it('takes durations and booleans', () => {
    expect(parseConfigText('c.yaml', 'shutdown: { drainDelay: 0s }\n').shutdown.drainDelay).toBe(0);
    expect(parseConfigText('c.yaml', 'shutdown: { drainDelay: 1m }\n').shutdown.drainDelay).toBe(60_000);
    expect(parseConfigText('c.yaml', consul('  waitAtStart: true\n  persistView: true\n')).registry).toMatchObject({ waitAtStart: true, persistView: true });
  });

  it('rejects bad values, naming the field', () => {
    for (const bad of ['drainDelay: soon', 'drainDelay: -1s', 'drainDelay: true', 'drainDelay: 5 parsecs']) {
      expect(() => parseConfigText('c.yaml', `shutdown: { ${bad} }\n`), bad).toThrow(/c\.yaml.*shutdown\.drainDelay: /);
    }
    expect(() => parseConfigText('c.yaml', consul('  waitAtStart: yes please\n'))).toThrow(/c\.yaml.*registry\.waitAtStart: /);
    expect(() => parseConfigText('c.yaml', consul('  persistView: 1\n'))).toThrow(/c\.yaml.*registry\.persistView: /);
    // A file registry has neither (they are Consul's).
    expect(() => parseConfigText('c.yaml', 'registry: { type: file, persistView: true }\n')).toThrow(/c\.yaml.*registry.*persistView/);
  });
});

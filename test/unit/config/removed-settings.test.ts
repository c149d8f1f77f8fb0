import { describe, expect, it } from 'vitest';
import { parseConfigText } from '../../../src/config/load-config.js';
import { removedSettingsIn } from '../../../src/config/removed-settings.js';
import { configProblems } from '../../support/config-problems.js';

describe('removed settings', () => {
  it('logging.accessLogThread still parses, either way, and is named with what to do', () => {
    for (const value of [true, false]) {
      const config = parseConfigText('old.yaml', `logging:\n  accessLogThread: ${value}\n`);
      const removed = removedSettingsIn(config);
      expect(removed.map((r) => r.field)).toEqual(['logging.accessLogThread']);
      expect(removed[0]!.advice).toContain('ignored');
      expect(removed[0]!.advice).toContain('delete the setting');
    }
  });

  it('proxy.engine.upstream: undici still parses, is named with what to do, and llhttp is not reported', () => {
    const removed = removedSettingsIn(parseConfigText('old.yaml', 'proxy:\n  engine:\n    upstream: undici\n'));
    expect(removed.map((r) => r.field)).toEqual(['proxy.engine.upstream']);
    expect(removed[0]!.advice).toContain('ignored');
    expect(removed[0]!.advice).toContain('delete the setting');
    expect(removedSettingsIn(parseConfigText('new.yaml', 'proxy:\n  engine:\n    upstream: llhttp\n'))).toEqual([]);
  });

  it('rejects an unknown upstream engine, naming the field', () => {
    expect(configProblems('config/test.yaml', 'proxy:\n  engine:\n    upstream: curl\n').join('\n')).toMatch(/proxy\.engine\.upstream/);
  });

  it('finds none in a configuration without them, and the effective config does not show the field', () => {
    const config = parseConfigText('new.yaml', 'logging:\n  level: warn\n');
    expect(removedSettingsIn(config)).toEqual([]);
    expect(config.logging).toEqual({ level: 'warn', accessLog: true, maxBuffer: 16 * 1024 * 1024 });
  });

  it('rejects a value that is not a boolean, naming the field', () => {
    expect(configProblems('config/test.yaml', 'logging:\n  accessLogThread: "yes"\n').join('\n')).toMatch(/logging\.accessLogThread/);
  });
});

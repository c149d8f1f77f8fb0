import { expect } from 'vitest';
import { ConfigError } from '../../src/config/config-error.js';
import { parseConfigText } from '../../src/config/load-config.js';

/** The problems of a config text that must be rejected, one formatted line each. */
export function configProblems(file: string, text: string): string[] {
  try {
    parseConfigText(file, text);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as ConfigError).message.split('\n');
  }
  throw new Error('the configuration was accepted; expected it to be rejected');
}

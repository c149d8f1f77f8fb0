import { readFile } from 'node:fs/promises';
import { ConfigError } from './config-error.js';
import { deprecatedFieldUses, type DeprecatedFieldUse } from './deprecated-fields.js';
import { parseAndValidate } from './parse-document.js';
import { configSchema, type Config } from './schema.js';

/** A validated configuration and the file it came from. */
export interface LoadedConfig {
  file: string;
  config: Config;
  /** Deprecated fields the file uses (accepted; each should be logged as a warning). */
  deprecated: DeprecatedFieldUse[];
}

/** Reads and validates a configuration file. Throws ConfigError naming file, line and field. */
export async function loadConfig(file: string): Promise<LoadedConfig> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new ConfigError(file, [{ path: '', message: `cannot read the configuration file: ${(err as Error).message}` }]);
  }
  let deprecated: DeprecatedFieldUse[] = [];
  const config = parseAndValidate(file, text, configSchema, (document) => (deprecated = deprecatedFieldUses(document)));
  return { file, config, deprecated };
}

export function parseConfigText(file: string, text: string): Config {
  return parseAndValidate(file, text, configSchema);
}

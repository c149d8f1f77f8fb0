import { basename, dirname, extname, resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { ConsulStateStore } from './consul-state-store.js';
import { FileStateStore } from './file-state-store.js';
import type { OperatorStateStore } from './operator-state-store.js';

/**
 * The state file's path, first of:
 * 1. admin.stateFile, relative to the config file's folder;
 * 2. "<config name>.state.json" in $STATE_DIRECTORY (set by systemd's StateDirectory=; the first
 *    folder when it lists several), so a read-only /etc/switchyard is no obstacle;
 * 3. "<config name>.state.json" beside the config file.
 */
export function stateFilePath(config: Config, configFile: string, env: NodeJS.ProcessEnv = process.env): string {
  if (config.admin.stateFile !== undefined) return resolve(dirname(configFile), config.admin.stateFile);
  const name = `${basename(configFile, extname(configFile))}.state.json`;
  const stateDirectory = env.STATE_DIRECTORY?.split(':')[0];
  if (stateDirectory) return resolve(stateDirectory, name);
  return resolve(dirname(configFile), name);
}

/** Consul's KV store when the registry is Consul, the state file otherwise. */
export function createOperatorStateStore(config: Config, configFile: string, env: NodeJS.ProcessEnv = process.env): OperatorStateStore {
  if (config.registry.type === 'consul') return new ConsulStateStore(config.registry, configFile);
  return new FileStateStore(stateFilePath(config, configFile, env));
}

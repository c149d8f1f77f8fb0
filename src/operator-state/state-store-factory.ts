import { basename, dirname, extname, resolve } from 'node:path';
import type { Config } from '../config/schema.js';
import { ConsulStateStore } from './consul-state-store.js';
import { FileStateStore } from './file-state-store.js';
import type { OperatorStateStore } from './operator-state-store.js';

/** The state file's path: admin.stateFile relative to the config file, else "<config name>.state.json" beside it. */
export function stateFilePath(config: Config, configFile: string): string {
  const dir = dirname(configFile);
  if (config.admin.stateFile !== undefined) return resolve(dir, config.admin.stateFile);
  return resolve(dir, `${basename(configFile, extname(configFile))}.state.json`);
}

/** Consul's KV store when the registry is Consul, the state file otherwise. */
export function createOperatorStateStore(config: Config, configFile: string): OperatorStateStore {
  if (config.registry.type === 'consul') return new ConsulStateStore(config.registry, configFile);
  return new FileStateStore(stateFilePath(config, configFile));
}

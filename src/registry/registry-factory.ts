import { dirname, resolve } from 'node:path';
import type { RegistryConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { ConsulRegistry } from './consul/consul-registry.js';
import { FileRegistry } from './file-registry.js';
import type { Registry } from './registry.js';

/**
 * Builds the configured registry source. Relative paths are taken from the config file's folder.
 * `viewFile`: where a Consul source keeps its last good view when registry.persistView is on.
 */
export function createRegistry(config: RegistryConfig, configFile: string, logger: Logger, viewFile: string | null = null): Registry {
  switch (config.type) {
    case 'file':
      return new FileRegistry({
        path: resolve(dirname(configFile), config.path),
        watch: config.watch,
        debounceMs: config.debounce,
        logger: logger.child({ component: 'registry' }),
      });
    case 'consul':
      return new ConsulRegistry({ config, configFile, logger: logger.child({ component: 'registry', source: 'consul' }), viewFile: config.persistView ? viewFile : null });
  }
}

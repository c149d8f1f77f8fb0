import type { Config } from './schema.js';

/** A setting that is still accepted but no longer does anything, and what to do about it. */
export interface RemovedSetting {
  /** Its path in the configuration file. */
  readonly field: string;
  /** Why it is ignored and what to do. */
  readonly advice: string;
}

/**
 * Settings of earlier versions that `config` still sets. They parse, so that a file written for
 * an earlier version keeps starting, and the router warns about each at start and reload.
 */
export function removedSettingsIn(config: Config): RemovedSetting[] {
  const found: RemovedSetting[] = [];
  if (config.logging.accessLogThread !== undefined) {
    found.push({
      field: 'logging.accessLogThread',
      advice: 'removed and ignored: access-log lines are always formed on the event loop (the log thread measured slower with every core busy, docs/performance.md); delete the setting from the configuration file',
    });
  }
  if (config.proxy.engine.upstream === 'undici') {
    found.push({
      field: 'proxy.engine.upstream',
      advice:
        'the undici upstream engine was removed and "undici" is ignored: HTTP/1.1 upstreams are served by the codec\'s own pool, which passed every upstream test at less CPU per request (docs/design.md, "Engines"); delete the setting or set it to "llhttp"',
    });
  }
  return found;
}

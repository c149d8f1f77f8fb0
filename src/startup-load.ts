import { ConfigError } from './config/config-error.js';
import { checkConfigFiles, resolveConfigPaths } from './config/config-paths.js';
import type { DeprecatedFieldUse } from './config/deprecated-fields.js';
import { loadConfig } from './config/load-config.js';
import type { Config } from './config/schema.js';
import type { Logger } from './observability/logger.js';
import type { OperatorStateStore } from './operator-state/operator-state-store.js';
import { createOperatorStateStore, stateFilePath } from './operator-state/state-store-factory.js';
import { CertificateStore } from './proxy/certificate-store.js';
import { persistedViewScope, resolveConsulConnection } from './registry/consul/consul-settings.js';
import { PersistedView, PersistedViewUnusable, persistedViewPath } from './registry/persisted-view.js';
import type { Registry } from './registry/registry.js';
import { createRegistry } from './registry/registry-factory.js';

/*
 * What `switchyard start` reads before it binds a port, one step a function, used by
 * Switchyard.start in this order: the configuration (and every file it names), the listeners'
 * certificates, the registry, the operator state store. `switchyard check` runs the same steps
 * (checkStartup, below) and closes what they opened, so it fails where start fails, with the
 * same message (startFailureMessage), without binding a port.
 */

/**
 * The configuration as start uses it: validated, file paths made absolute, and every file it
 * names readable, CA files holding PEM certificates; with the deprecated field names it used
 * (start logs them, check prints them). Throws ConfigError.
 */
export async function loadStartConfig(configFile: string): Promise<{ config: Config; deprecated: readonly DeprecatedFieldUse[] }> {
  const loaded = await loadConfig(configFile);
  const config = resolveConfigPaths(loaded.config, configFile);
  await checkConfigFiles(config, configFile);
  return { config, deprecated: loaded.deprecated };
}

/**
 * Each listener's certificates, read and parsed (key matching certificate), in listener order;
 * null for a plain-HTTP listener. `watch: false` leaves tls.watch off (check).
 */
export async function loadListenerCertificates(config: Config, logger: Logger, options: { watch: boolean } = { watch: true }): Promise<(CertificateStore | null)[]> {
  const stores: (CertificateStore | null)[] = [];
  try {
    for (const lc of config.listeners) {
      if (lc.tls === undefined) {
        stores.push(null);
        continue;
      }
      const tls = options.watch ? lc.tls : { ...lc.tls, watch: false };
      stores.push(await CertificateStore.load(tls, logger.child({ component: 'tls', listener: lc.name ?? `${lc.address}:${lc.port}` })));
    }
  } catch (err) {
    for (const s of stores) s?.close();
    throw err;
  }
  return stores;
}

/** The configured registry, started: the services file read and parsed, or Consul's first answer. */
export async function startRegistry(config: Config, configFile: string, logger: Logger, viewFile: string | null = null): Promise<Registry> {
  const registry = createRegistry(config.registry, configFile, logger, viewFile);
  await registry.start();
  return registry;
}

/** Where the registry keeps its last good view (registry.persistView): beside the state file. */
export function registryViewFile(config: Config, configFile: string, env: NodeJS.ProcessEnv = process.env): string {
  return persistedViewPath(stateFilePath(config, configFile, env), configFile);
}

/**
 * The persisted registry view as start would find it (registry.persistView with Consul), read
 * without writing: what it holds, or that there is none yet; null when the view is not kept.
 * A view start would ignore (unreadable, not a view, saved for another Consul, datacenter or tag
 * filter) comes back as `warning`: start logs that and starts without it.
 */
export async function inspectPersistedView(config: Config, configFile: string, env: NodeJS.ProcessEnv = process.env): Promise<{ summary: string; warning: string | null } | null> {
  const registry = config.registry;
  if (registry.type !== 'consul' || !registry.persistView) return null;
  const connection = await resolveConsulConnection(registry, configFile, env);
  const view = new PersistedView(registryViewFile(config, configFile, env), persistedViewScope(connection, registry.tags), () => undefined);
  try {
    const loaded = await view.load();
    if (loaded === null) return { summary: `none yet at ${view.path} (written after the first good Consul read)`, warning: null };
    let instances = 0;
    for (const service of loaded.snapshot.services.values()) instances += service.instances.length;
    const savedAt = new Date(loaded.savedAt).toISOString();
    return { summary: `${view.path} (saved ${savedAt}: ${loaded.snapshot.services.size} service(s), ${instances} instance(s); served only while Consul cannot be reached at start)`, warning: null };
  } catch (err) {
    if (!(err instanceof PersistedViewUnusable)) throw err;
    return { summary: `${view.path} (unusable: start ignores it)`, warning: err.message };
  }
}

/**
 * Whether the operator state store can take a save (drains, overrides): null when it can, else
 * why not. Start logs the reason and serves (a drain then answers 503 state_not_saved); check
 * fails with it.
 */
export async function operatorStateProblem(store: OperatorStateStore): Promise<string | null> {
  try {
    await store.probe();
    return null;
  } catch (err) {
    return (err as Error).message;
  }
}

/** What `switchyard start` prints when it cannot start; `switchyard check` prints the same. */
export function startFailureMessage(err: unknown): string {
  return err instanceof ConfigError ? err.message : `switchyard: cannot start: ${(err as Error).message}`;
}

/** What checkStartup found, for its OK line. */
export interface StartupSummary {
  listeners: number;
  routes: number;
  certificates: number;
  registry: string;
  services: number;
  instances: number;
  stateStore: string;
  /** The persisted registry view (inspectPersistedView); null when registry.persistView is off or the registry is not Consul. */
  registryView: string | null;
  /** Start would log these and serve. */
  warnings: string[];
}

/**
 * Runs start's load path without binding a port: throws what start would throw. A state store
 * that cannot take a save, or cannot be read, is an error here too (start logs it and serves:
 * a drain then answers 503 state_not_saved). Contacts Consul when the registry is Consul, as
 * start does. Opens nothing that outlives it.
 */
export async function checkStartup(configFile: string, logger: Logger, env: NodeJS.ProcessEnv = process.env): Promise<StartupSummary> {
  const { config, deprecated } = await loadStartConfig(configFile);
  const certificates = await loadListenerCertificates(config, logger, { watch: false });
  for (const c of certificates) c?.close();
  const registry = await startRegistry(config, configFile, logger);
  const snapshot = registry.current();
  const registryLocation = registry.status().location;
  await registry.close();
  const view = await inspectPersistedView(config, configFile, env);
  const store = createOperatorStateStore(config, configFile, env);
  try {
    await store.load();
    const problem = await operatorStateProblem(store);
    if (problem !== null) throw new Error(problem);
  } finally {
    await store.close();
  }
  let instances = 0;
  for (const service of snapshot.services.values()) instances += service.instances.length;
  return {
    listeners: config.listeners.length,
    routes: config.routes.length,
    certificates: certificates.filter((c) => c !== null).length,
    registry: `${config.registry.type} ${registryLocation}`,
    services: snapshot.services.size,
    instances,
    // A Consul KV write cannot be tried without storing: its probe reads the key.
    stateStore: `${store.kind} ${store.location} (${store.kind === 'file' ? 'loads; its folder is writable' : 'reachable; the key loads'})`,
    registryView: view?.summary ?? null,
    warnings: [
      ...deprecated.map((use) => use.message),
      ...(view?.warning ? [`${view.warning} (start logs this and starts without the view)`] : []),
    ],
  };
}

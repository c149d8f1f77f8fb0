import type { AddressInfo } from 'node:net';
import { AdminServer } from './admin/admin-server.js';
import { loadConfig } from './config/load-config.js';
import type { Config } from './config/schema.js';
import { DemoInstances } from './demo/demo-instances.js';
import { createLogger, type Logger } from './observability/logger.js';
import { ProxyHandler } from './proxy/proxy-handler.js';
import { ProxyListener } from './proxy/proxy-listener.js';
import { forwardingHeaderSettings } from './proxy/request-headers.js';
import type { Registry } from './registry/registry.js';
import { createRegistry } from './registry/registry-factory.js';
import { buildRouteTable, type RouteDeclaration } from './routing/route-table-builder.js';
import { tagRoutePrefix, TagRoutes } from './routing/tag-routes.js';
import { ClusterManager } from './upstream/cluster-manager.js';

export interface StartOptions {
  /** Use this logger instead of one built from `logging.level` (tests). */
  logger?: Logger;
  /** Override listener and admin ports with 0 (ephemeral) for tests. */
  ephemeralPorts?: boolean;
}

export interface ListenerAddress {
  name: string;
  address: string;
  port: number;
  url: string;
}

/**
 * A running router: registry → clusters → route table → listeners, plus the admin listener.
 * Wires the pieces, reloads configuration atomically and shuts down gracefully.
 */
export class Switchyard {
  private config: Config;
  private registry: Registry;
  private unsubscribe: () => void;
  private readonly listeners: ProxyListener[] = [];
  private admin: AdminServer | null = null;
  private adminAddressInfo: AddressInfo | null = null;
  private demo: DemoInstances | null = null;
  private closing = false;
  /** Routes declared by registry service tags (urlprefix-...). */
  private readonly tagRoutes: TagRoutes;

  private constructor(
    readonly configFile: string,
    config: Config,
    readonly logger: Logger,
    registry: Registry,
    private readonly clusters: ClusterManager,
    private readonly handler: ProxyHandler,
  ) {
    this.config = config;
    this.registry = registry;
    this.unsubscribe = registry.subscribe(() => this.onRegistryChange());
    this.tagRoutes = new TagRoutes(logger.child({ component: 'routing' }));
  }

  static async start(configFile: string, options: StartOptions = {}): Promise<Switchyard> {
    const { config } = await loadConfig(configFile);
    if (options.ephemeralPorts) {
      config.listeners = config.listeners.map((l) => ({ ...l, port: 0 }));
      config.admin.port = 0;
    }
    const logger = options.logger ?? createLogger({ level: config.logging.level });

    let demo: DemoInstances | null = null;
    if (config.demo) {
      demo = new DemoInstances(config.demo.address, config.demo.ports);
      await demo.start();
      logger.info({ service: config.demo.service, address: config.demo.address, ports: config.demo.ports }, 'demo instances started (config "demo:")');
    }

    const registry = createRegistry(config.registry, configFile, logger);
    try {
      await registry.start();
    } catch (err) {
      await demo?.close();
      throw err;
    }
    const clusters = new ClusterManager(logger.child({ component: 'upstream' }));
    clusters.applySettings(config.services);
    clusters.applySnapshot(registry.current());
    const handler = new ProxyHandler({ logger: logger.child({ component: 'proxy' }), headers: forwardingHeaderSettings(config.proxy) }, 'http');
    const app = new Switchyard(configFile, config, logger, registry, clusters, handler);
    app.demo = demo;
    app.rebuildRoutes();
    try {
      await app.openListeners();
    } catch (err) {
      await app.close();
      throw err;
    }
    return app;
  }

  /** Where the proxy listens, in config order. */
  get addresses(): ListenerAddress[] {
    return this.listeners.map((l) => {
      const a = l.address;
      const host = a.family === 'IPv6' ? `[${a.address}]` : a.address;
      return { name: l.name, address: a.address, port: a.port, url: `http://${host}:${a.port}` };
    });
  }

  get adminAddress(): AddressInfo | null {
    return this.adminAddressInfo;
  }

  get currentConfig(): Config {
    return this.config;
  }

  get registryStatus() {
    return this.registry.status();
  }

  /**
   * Loads the config file again and applies it atomically. A bad file is rejected with its
   * ConfigError and the running configuration keeps serving. Listener and admin addresses
   * are fixed at start: changing them needs a restart (logged).
   */
  async reload(): Promise<void> {
    let next: Config;
    try {
      next = (await loadConfig(this.configFile)).config;
    } catch (err) {
      this.logger.error({ file: this.configFile, error: (err as Error).message }, 'configuration rejected; the running configuration keeps serving');
      throw err;
    }
    if (JSON.stringify(next.listeners) !== JSON.stringify(this.config.listeners) || JSON.stringify(next.admin) !== JSON.stringify(this.config.admin)) {
      this.logger.warn({ file: this.configFile }, 'listener or admin address changes take effect only after a restart');
      next.listeners = this.config.listeners;
      next.admin = this.config.admin;
    }
    if (JSON.stringify(next.registry) !== JSON.stringify(this.config.registry)) {
      const registry = createRegistry(next.registry, this.configFile, this.logger);
      await registry.start();
      const old = this.registry;
      this.unsubscribe();
      this.registry = registry;
      this.unsubscribe = registry.subscribe(() => this.onRegistryChange());
      await old.close();
    }
    this.config = next;
    this.handler.context = { logger: this.handler.context.logger, headers: forwardingHeaderSettings(next.proxy) };
    this.clusters.applySettings(next.services);
    this.clusters.applySnapshot(this.registry.current());
    this.rebuildRoutes();
    this.logger.info({ file: this.configFile, routes: next.routes.length }, 'configuration reloaded');
  }

  /** Graceful stop: stop accepting, let in-flight requests finish (up to graceMs), close pools. */
  async close(graceMs = 10_000): Promise<void> {
    if (this.closing) return;
    this.closing = true;
    await Promise.all(this.listeners.map((l) => l.close(graceMs)));
    this.unsubscribe();
    await this.registry.close();
    await this.clusters.close();
    await this.admin?.close();
    await this.demo?.close();
  }

  private async openListeners(): Promise<void> {
    for (const lc of this.config.listeners) {
      const listener = new ProxyListener(lc, this.config.limits, this.handler, this.logger);
      this.listeners.push(listener);
      await listener.listen();
    }
    if (this.config.admin.enabled) {
      this.admin = new AdminServer({ ready: () => !this.closing && this.registry.status().synced });
      this.adminAddressInfo = await this.admin.listen(this.config.admin.port, this.config.admin.address);
    }
  }

  private onRegistryChange(): void {
    this.clusters.applySnapshot(this.registry.current());
    this.rebuildRoutes();
  }

  /** Builds a new route table off the hot path and swaps it in with one assignment. */
  private rebuildRoutes(): void {
    const declarations: RouteDeclaration[] = this.config.routes.map((config) => ({ config, source: 'config' }));
    // Tag routes come after the config's routes; on a host+path conflict the config route wins.
    declarations.push(...this.tagRoutes.declarations(this.registry.current(), tagRoutePrefix(this.config.registry), this.config.routes));
    this.handler.table = buildRouteTable(declarations, this.config.timeouts, this.clusters);
  }
}

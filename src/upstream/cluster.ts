import type { IncomingMessage } from 'node:http';
import type { ServiceConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { ServiceInstance } from '../registry/service-instance.js';
import { createBalancer, type Balancer } from './balancer.js';
import { Endpoint, endpointKey } from './endpoint.js';

/**
 * All endpoints of one service and the balancer over them. The endpoint list and its balancer
 * are replaced together (one reference) when the registry or the settings change.
 */
export class Cluster {
  private endpointList: readonly Endpoint[] = [];
  private balancer: Balancer;

  constructor(
    readonly name: string,
    private settingsValue: ServiceConfig,
    private readonly logger: Logger,
  ) {
    this.balancer = createBalancer(settingsValue.balancer, this.endpointList);
  }

  get settings(): ServiceConfig {
    return this.settingsValue;
  }

  get endpoints(): readonly Endpoint[] {
    return this.endpointList;
  }

  pick(request: IncomingMessage): Endpoint | undefined {
    return this.balancer.pick(request);
  }

  /** Replaces the instance list, reusing the pools of endpoints that stay. */
  setInstances(instances: readonly ServiceInstance[]): void {
    const existing = new Map(this.endpointList.map((e) => [e.key, e]));
    const next: Endpoint[] = [];
    for (const instance of instances) {
      const key = endpointKey(instance.address, instance.port);
      const kept = existing.get(key);
      if (kept) {
        kept.instance = instance;
        existing.delete(key);
        next.push(kept);
      } else {
        next.push(new Endpoint(instance, this.settingsValue));
      }
    }
    this.swap(next);
    this.closeAll(existing.values());
  }

  /** Applies new service settings; pools are rebuilt when connection settings changed. */
  setSettings(settings: ServiceConfig): void {
    const old = this.settingsValue;
    this.settingsValue = settings;
    const poolChanged =
      old.connections !== settings.connections ||
      old.connectTimeout !== settings.connectTimeout ||
      old.keepAliveTimeout !== settings.keepAliveTimeout ||
      JSON.stringify(old.tls) !== JSON.stringify(settings.tls);
    if (poolChanged) {
      const previous = this.endpointList;
      this.swap(previous.map((e) => new Endpoint(e.instance, settings)));
      this.closeAll(previous);
    } else if (old.balancer !== settings.balancer) {
      this.swap(this.endpointList);
    }
  }

  async close(): Promise<void> {
    const list = this.endpointList;
    this.swap([]);
    await Promise.all(list.map((e) => e.close()));
  }

  private swap(endpoints: readonly Endpoint[]): void {
    const balancer = createBalancer(this.settingsValue.balancer, endpoints);
    this.endpointList = endpoints;
    this.balancer = balancer;
  }

  private closeAll(endpoints: Iterable<Endpoint>): void {
    for (const e of endpoints) {
      e.close().catch((err: unknown) => this.logger.warn({ err, service: this.name, endpoint: e.key }, 'closing an endpoint pool failed'));
    }
  }
}

/** Health of an instance as the registry reports it. */
export type InstanceHealth = 'passing' | 'warning' | 'critical';

/** One running copy of a service, as a registry knows it. Immutable. */
export interface ServiceInstance {
  /** Unique within the service. */
  readonly id: string;
  readonly service: string;
  readonly address: string;
  readonly port: number;
  /** Relative load-balancing weight (> 0). */
  readonly weight: number;
  readonly tags: readonly string[];
  readonly meta: Readonly<Record<string, string>>;
  readonly health: InstanceHealth;
}

/** A service and its instances at one moment. */
export interface ServiceEntry {
  readonly name: string;
  /** Union of the tags of its instances (routes can be declared by tags). */
  readonly tags: readonly string[];
  readonly instances: readonly ServiceInstance[];
}

/** Everything a registry knows at one moment. Replaced, never mutated. */
export interface RegistrySnapshot {
  readonly services: ReadonlyMap<string, ServiceEntry>;
}

export const EMPTY_SNAPSHOT: RegistrySnapshot = { services: new Map() };

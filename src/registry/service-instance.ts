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
  /**
   * When the registry knows it: the only services whose entry differs from those of the
   * snapshot it published before this one (`previous`, held weakly so that old snapshots are
   * not kept alive). A subscriber that applied `previous` updates these names and nothing else
   * (changedServiceNames); any other subscriber compares the snapshots.
   */
  readonly delta?: SnapshotDelta;
}

export interface SnapshotDelta {
  readonly previous: WeakRef<RegistrySnapshot>;
  /** Services added, removed or whose entry is another object, each once. */
  readonly names: readonly string[];
}

export const EMPTY_SNAPSHOT: RegistrySnapshot = { services: new Map() };

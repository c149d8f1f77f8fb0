import type { RegistrySnapshot, ServiceEntry } from './service-instance.js';

/** True when two service entries would produce the same routes and endpoints. */
export function sameService(a: ServiceEntry, b: ServiceEntry): boolean {
  if (a.name !== b.name || !sameList(a.tags, b.tags) || a.instances.length !== b.instances.length) return false;
  for (let i = 0; i < a.instances.length; i++) {
    const x = a.instances[i]!;
    const y = b.instances[i]!;
    if (x.id !== y.id || x.address !== y.address || x.port !== y.port || x.weight !== y.weight || x.health !== y.health) return false;
    if (!sameList(x.tags, y.tags) || !sameRecord(x.meta, y.meta)) return false;
  }
  return true;
}

/** True when two snapshots hold the same services with the same content. */
export function sameSnapshot(a: RegistrySnapshot, b: RegistrySnapshot): boolean {
  if (a.services.size !== b.services.size) return false;
  for (const [name, entry] of a.services) {
    const other = b.services.get(name);
    if (!other || !sameService(entry, other)) return false;
  }
  return true;
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

function sameRecord(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const ka = Object.keys(a);
  return ka.length === Object.keys(b).length && ka.every((k) => a[k] === b[k]);
}

/**
 * Names of the services that differ between two snapshots: added, removed, or whose entry is
 * another object. Registries keep an unchanged service's entry object from one snapshot to the
 * next (ConsulRegistry, FileRegistry compare content first), so this is one Map probe a service;
 * when `after` says what changed since `before` (its delta), it is that list and costs nothing.
 */
export function changedServiceNames(before: RegistrySnapshot, after: RegistrySnapshot): readonly string[] {
  if (before === after) return [];
  if (after.delta !== undefined && after.delta.previous.deref() === before) return after.delta.names;
  const changed: string[] = [];
  for (const [name, entry] of after.services) if (before.services.get(name) !== entry) changed.push(name);
  for (const name of before.services.keys()) if (!after.services.has(name)) changed.push(name);
  return changed;
}

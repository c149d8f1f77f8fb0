import type { InstanceHealth, ServiceEntry, ServiceInstance } from '../service-instance.js';
import type { HealthCheck, HealthEntry } from './consul-responses.js';

/** The worst status among an instance's checks (node checks included); no checks = passing. */
export function worstStatus(checks: readonly HealthCheck[] | null | undefined): InstanceHealth {
  let worst: InstanceHealth = 'passing';
  for (const c of checks ?? []) {
    // "maintenance" is what older agents report for maintenance checks: it drains like critical.
    if (c.Status === 'critical' || c.Status === 'maintenance') return 'critical';
    if (c.Status === 'warning') worst = 'warning';
  }
  return worst;
}

/**
 * One Consul health entry as a ServiceInstance:
 * - address: Service.Address, or Node.Address when the service registered none;
 * - health: the worst check, so maintenance (a critical `_service_maintenance:<id>` or
 *   `_node_maintenance` check) and a failing serfHealth take the instance out;
 * - weight: Weights.Passing when passing, Weights.Warning when warning (defaults 1 / 1).
 *   A Warning weight of 0 means "send nothing while warning": such an instance is marked
 *   critical, since a balancer weight must be > 0.
 */
export function instanceFromEntry(entry: HealthEntry): ServiceInstance {
  const svc = entry.Service;
  let health = worstStatus(entry.Checks);
  const weights = svc.Weights ?? { Passing: 1, Warning: 1 };
  let weight = health === 'warning' ? weights.Warning : weights.Passing;
  if (weight <= 0) {
    health = 'critical';
    weight = Math.max(weights.Passing, 1);
  }
  return {
    id: `${entry.Node.Node}/${svc.ID}`,
    service: svc.Service,
    address: svc.Address || entry.Node.Address,
    port: svc.Port,
    weight,
    tags: [...(svc.Tags ?? [])].sort(),
    meta: svc.Meta ?? {},
    health,
  };
}

/** All entries of one service as a ServiceEntry (instances sorted by id), or null when there are none. */
export function serviceEntryFrom(name: string, entries: readonly HealthEntry[]): ServiceEntry | null {
  if (entries.length === 0) return null;
  const instances = entries.map(instanceFromEntry).sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  const tags = new Set<string>();
  for (const i of instances) for (const t of i.tags) tags.add(t);
  return { name, tags: [...tags].sort(), instances };
}

/** The nodes an entry list runs on (a node check change re-reads the services on that node). */
export function nodesOf(entries: readonly HealthEntry[]): Set<string> {
  return new Set(entries.map((e) => e.Node.Node));
}

import type { InstanceHealth, ServiceEntry, ServiceInstance } from '../service-instance.js';
import type { CheckStatus, HealthCheck, HealthEntry, ServiceWeights } from './consul-responses.js';
import { instanceChecksOf, type InstanceChecks } from './instance-checks.js';

/** Consul's weights for a service registered without any. */
const DEFAULT_WEIGHTS: ServiceWeights = { Passing: 1, Warning: 1 };

/** `worst` after one more check whose status is `status`. */
export function worseOf(worst: InstanceHealth, status: CheckStatus): InstanceHealth {
  // "maintenance" is what older agents report for maintenance checks: it drains like critical.
  if (status === 'critical' || status === 'maintenance') return 'critical';
  return status === 'warning' && worst === 'passing' ? 'warning' : worst;
}

/** The worst status among an instance's checks (node checks included); no checks = passing. */
export function worstStatus(checks: readonly HealthCheck[] | null | undefined): InstanceHealth {
  let worst: InstanceHealth = 'passing';
  for (const c of checks ?? []) {
    worst = worseOf(worst, c.Status);
    if (worst === 'critical') return worst;
  }
  return worst;
}

/** As worstStatus, from the statuses alone (an instance's checks as the registry keeps them). */
export function worstOfStatuses(statuses: readonly CheckStatus[]): InstanceHealth {
  let worst: InstanceHealth = 'passing';
  for (const s of statuses) {
    worst = worseOf(worst, s);
    if (worst === 'critical') return worst;
  }
  return worst;
}

/**
 * The health an instance whose worst check is `worst` is given: that status, unless the weight
 * it would take (Weights.Warning when warning, else Weights.Passing) is 0: a balancer weight
 * must be > 0, so "send nothing" is critical.
 */
export function ratedHealth(worst: InstanceHealth, weights: ServiceWeights | null | undefined): InstanceHealth {
  const w = weights ?? DEFAULT_WEIGHTS;
  return (worst === 'warning' ? w.Warning : w.Passing) > 0 ? worst : 'critical';
}

/** The balancer weight of an instance whose worst check is `worst` (see ratedHealth). */
export function ratedWeight(worst: InstanceHealth, weights: ServiceWeights | null | undefined): number {
  const w = weights ?? DEFAULT_WEIGHTS;
  const weight = worst === 'warning' ? w.Warning : w.Passing;
  return weight > 0 ? weight : Math.max(w.Passing, 1);
}

/**
 * One Consul health entry as a ServiceInstance:
 * - address: Service.Address, or Node.Address when the service registered none;
 * - health: the worst check, so maintenance (a critical `_service_maintenance:<id>` or
 *   `_node_maintenance` check) and a failing serfHealth take the instance out;
 * - weight: Weights.Passing when passing, Weights.Warning when warning (defaults 1 / 1).
 *   A Warning weight of 0 means "send nothing while warning": such an instance is marked
 *   critical, since a balancer weight must be > 0 (ratedHealth, ratedWeight).
 */
export function instanceFromEntry(entry: HealthEntry): ServiceInstance {
  const svc = entry.Service;
  const worst = worstStatus(entry.Checks);
  return {
    id: `${entry.Node.Node}/${svc.ID}`,
    service: svc.Service,
    address: svc.Address || entry.Node.Address,
    port: svc.Port,
    weight: ratedWeight(worst, svc.Weights),
    tags: [...(svc.Tags ?? [])].sort(),
    meta: svc.Meta ?? {},
    health: ratedHealth(worst, svc.Weights),
  };
}

/**
 * `instance` with the health and weight its checks give now (`checks`: what the registry keeps
 * of them, changed by a status the health watch showed), by the rule instanceFromEntry applies
 * to a read; the same object when neither changes.
 */
export function reratedInstance(instance: ServiceInstance, checks: InstanceChecks): ServiceInstance {
  const worst = worstOfStatuses(checks.statuses);
  const health = ratedHealth(worst, checks.weights);
  const weight = ratedWeight(worst, checks.weights);
  if (health === instance.health && weight === instance.weight) return instance;
  return { id: instance.id, service: instance.service, address: instance.address, port: instance.port, weight, tags: instance.tags, meta: instance.meta, health };
}

/** One read of a service: its entry, and its instances' checks in the order of the entry's instances. */
export interface ServiceRead {
  readonly entry: ServiceEntry;
  readonly checks: readonly InstanceChecks[];
}

/** All entries of one service as a ServiceEntry (instances sorted by id) with their checks, or null when there are none. */
export function readService(name: string, entries: readonly HealthEntry[]): ServiceRead | null {
  if (entries.length === 0) return null;
  const pairs = entries.map((e) => ({ instance: instanceFromEntry(e), checks: instanceChecksOf(e) }));
  pairs.sort((a, b) => (a.instance.id < b.instance.id ? -1 : a.instance.id > b.instance.id ? 1 : 0));
  const instances = pairs.map((p) => p.instance);
  const tags = new Set<string>();
  for (const i of instances) for (const t of i.tags) tags.add(t);
  return { entry: { name, tags: [...tags].sort(), instances }, checks: pairs.map((p) => p.checks) };
}

/** All entries of one service as a ServiceEntry (instances sorted by id), or null when there are none. */
export function serviceEntryFrom(name: string, entries: readonly HealthEntry[]): ServiceEntry | null {
  return readService(name, entries)?.entry ?? null;
}

/** The nodes an entry list runs on (a node check change concerns the services on that node). */
export function nodesOf(entries: readonly HealthEntry[]): Set<string> {
  return new Set(entries.map((e) => e.Node.Node));
}

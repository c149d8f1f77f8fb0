import type { CheckStatus, HealthEntry, ServiceWeights } from './consul-responses.js';

/**
 * What the registry keeps of one instance's checks from the last read of its service
 * (/v1/health/service/<name>), so that a status change the health watch shows on a check it
 * already knows can be applied without reading the service again (consul-registry.ts,
 * onHealth): the check IDs (service and node checks, as the read listed them), their statuses
 * and the instance's weights, which the health rule needs (health-entries.ts). About 150 bytes
 * an instance with two checks: 3 MB at 20,000 instances.
 */
export interface InstanceChecks {
  readonly node: string;
  readonly serviceId: string;
  readonly checkIds: readonly string[];
  /** The status of each of checkIds, in the same order; set in place when a change is applied. */
  readonly statuses: CheckStatus[];
  readonly weights: ServiceWeights | null | undefined;
}

export function instanceChecksOf(entry: HealthEntry): InstanceChecks {
  const checks = entry.Checks ?? [];
  const checkIds: string[] = new Array<string>(checks.length);
  const statuses: CheckStatus[] = new Array<CheckStatus>(checks.length);
  for (let i = 0; i < checks.length; i++) {
    checkIds[i] = checks[i]!.CheckID;
    statuses[i] = sharedStatus(checks[i]!.Status);
  }
  return { node: entry.Node.Node, serviceId: entry.Service.ID, checkIds, statuses, weights: entry.Service.Weights };
}

/** The instance of `node` and `serviceId` among a service's instances, or -1. */
export function instanceIndex(instances: readonly InstanceChecks[], node: string, serviceId: string): number {
  for (let i = 0; i < instances.length; i++) {
    const c = instances[i]!;
    if (c.serviceId === serviceId && c.node === node) return i;
  }
  return -1;
}

/**
 * The status as one of four shared strings: the parsed answer's own string would keep a copy per
 * check alive for as long as the instance is known.
 */
function sharedStatus(status: CheckStatus): CheckStatus {
  switch (status) {
    case 'passing':
      return 'passing';
    case 'warning':
      return 'warning';
    case 'critical':
      return 'critical';
    default:
      return 'maintenance';
  }
}

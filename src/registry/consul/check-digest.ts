import type { HealthCheck } from './consul-responses.js';

/** Check fingerprints from one /v1/health/state/any result, per service and per node. */
export interface CheckDigest {
  /** Service name → fingerprint of all its service checks. */
  readonly services: ReadonlyMap<string, string>;
  /** Node name → fingerprint of its node-level checks (serfHealth, _node_maintenance, ...). */
  readonly nodes: ReadonlyMap<string, string>;
}

/**
 * Reduces every check in the datacenter to one string per service and per node. Comparing
 * two digests tells which services' health changed, so only those are read again: one
 * flapping instance among a thousand services costs one request.
 */
export function digestChecks(checks: readonly HealthCheck[]): CheckDigest {
  const perService = new Map<string, string[]>();
  const perNode = new Map<string, string[]>();
  for (const c of checks) {
    const line = `${c.Node}\u0000${c.ServiceID ?? ''}\u0000${c.CheckID}\u0000${c.Status}`;
    const key = c.ServiceName || '';
    const map = key === '' ? perNode : perService;
    const name = key === '' ? c.Node : key;
    let list = map.get(name);
    if (!list) map.set(name, (list = []));
    list.push(line);
  }
  const fold = (m: Map<string, string[]>) => new Map([...m].map(([k, v]) => [k, v.sort().join('\n')] as const));
  return { services: fold(perService), nodes: fold(perNode) };
}

/** Keys whose fingerprint differs (added, removed or changed) between two maps. */
export function changedKeys(before: ReadonlyMap<string, string>, after: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of after) if (before.get(k) !== v) out.push(k);
  for (const k of before.keys()) if (!after.has(k)) out.push(k);
  return out;
}

/**
 * Service name → fingerprint of which checks it has (node, service ID, check ID; status left
 * out), from a full /v1/health/state/any read. Comparing two of them names the services that
 * gained or lost a checked instance: the registrations behind a catalog change.
 */
export function digestRegistrations(checks: readonly HealthCheck[]): Map<string, string> {
  const perService = new Map<string, string[]>();
  for (const c of checks) {
    if (!c.ServiceName) continue;
    let list = perService.get(c.ServiceName);
    if (!list) perService.set(c.ServiceName, (list = []));
    list.push(`${c.Node}\u0000${c.ServiceID ?? ''}\u0000${c.CheckID}`);
  }
  return new Map([...perService].map(([k, v]) => [k, v.sort().join('\n')] as const));
}

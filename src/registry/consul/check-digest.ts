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
 * One check as a registration scan sees it: the service it belongs to ('' for a node check) and
 * which check of which instance it is (node, service ID, check ID; the status is left out, so a
 * check changing status is the same registration).
 */
export interface CheckRegistration {
  readonly service: string;
  readonly line: string;
}

export function checkRegistration(c: HealthCheck): CheckRegistration {
  // join, not a template: a flat string, compared by memory later (a concatenation would be a
  // rope that every comparison flattens again).
  return { service: c.ServiceName || '', line: [c.Node, c.ServiceID ?? '', c.CheckID].join('\u0000') };
}

/**
 * Services that gained or lost a checked instance, from the checks that left and came between
 * two registration scans (a check whose status or output changed leaves and comes back as the
 * same registration, and cancels out).
 */
export function changedRegistrations(removed: readonly CheckRegistration[], added: readonly CheckRegistration[]): string[] {
  const net = new Map<string, Map<string, number>>();
  const count = (r: CheckRegistration, by: number) => {
    if (r.service === '') return;
    let lines = net.get(r.service);
    if (!lines) net.set(r.service, (lines = new Map()));
    lines.set(r.line, (lines.get(r.line) ?? 0) + by);
  };
  for (const r of removed) count(r, -1);
  for (const r of added) count(r, 1);
  const out: string[] = [];
  for (const [service, lines] of net) {
    for (const n of lines.values()) {
      if (n !== 0) {
        out.push(service);
        break;
      }
    }
  }
  return out;
}

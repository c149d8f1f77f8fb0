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
 * Per service, which checks it has: one line per check (node, service ID, check ID; status left
 * out), in the order Consul listed them. Comparing two (changedRegistrations) names the services
 * that gained or lost a checked instance: the registrations behind a catalog change.
 */
export type RegistrationDigest = ReadonlyMap<string, readonly string[]>;

/**
 * Builds a RegistrationDigest from a full /v1/health/state/any answer fed in parts (the answer is
 * parsed in slices, see sliced-json-array.ts).
 */
export class RegistrationDigestBuilder {
  private readonly perService = new Map<string, string[]>();

  add(checks: readonly HealthCheck[]): void {
    for (const c of checks) {
      if (!c.ServiceName) continue;
      let list = this.perService.get(c.ServiceName);
      if (!list) this.perService.set(c.ServiceName, (list = []));
      // join, not a template: a flat string, compared by memory later (a concatenation would be
      // a rope that every comparison flattens again).
      list.push([c.Node, c.ServiceID ?? '', c.CheckID].join('\u0000'));
    }
  }

  get digest(): RegistrationDigest {
    return this.perService;
  }
}

export function digestRegistrations(checks: readonly HealthCheck[]): RegistrationDigest {
  const builder = new RegistrationDigestBuilder();
  builder.add(checks);
  return builder.digest;
}

/**
 * Services whose set of checks differs (added, removed or changed) between two digests. Lines are
 * compared as sets: in the order listed first (Consul lists them in a stable order, so this is
 * usually enough), sorted only when that order differs.
 */
export function changedRegistrations(before: RegistrationDigest, after: RegistrationDigest): string[] {
  const out: string[] = [];
  for (const [k, lines] of after) {
    const old = before.get(k);
    if (old === undefined || !sameLines(old, lines)) out.push(k);
  }
  for (const k of before.keys()) if (!after.has(k)) out.push(k);
  return out;
}

function sameLines(a: readonly string[], b: readonly string[]): boolean {
  if (a.length !== b.length) return false;
  if (a.every((line, i) => line === b[i])) return true;
  const x = [...a].sort();
  const y = [...b].sort();
  return x.every((line, i) => line === y[i]);
}

import type { CheckStatus, HealthCheck } from './consul-responses.js';

/**
 * One answer of the health watch (the checks that are not passing), check by check: a key naming
 * which check of which instance of which service it is → the check as Consul listed it (the
 * answer's own object: the watch keeps the answer anyway, to spot the next one's same text).
 */
export type NonPassingChecks = ReadonlyMap<string, HealthCheck>;

/** One check whose status differs between two answers of the health watch. */
export interface CheckChange {
  readonly node: string;
  /** '' for a node check (serfHealth, _node_maintenance, ...). */
  readonly serviceId: string;
  /** The service's name; '' for a node check. */
  readonly service: string;
  readonly checkId: string;
  /**
   * The status the new answer lists; 'passing' when it no longer lists the check, which may also
   * mean the check, or its instance, or its node, is gone (a deregistration removes the checks).
   */
  readonly status: CheckStatus;
}

export function nonPassingChecks(checks: readonly HealthCheck[]): Map<string, HealthCheck> {
  const out = new Map<string, HealthCheck>();
  for (const c of checks) out.set(checkKey(c), c);
  return out;
}

/**
 * The checks whose status differs between two answers: listed in one only, or listed in both
 * with another status. A check Consul moved to another instance or service (re-registered
 * under the same ID) is a change of both.
 */
export function checkChanges(before: NonPassingChecks, after: NonPassingChecks): CheckChange[] {
  const out: CheckChange[] = [];
  for (const [key, c] of after) {
    const was = before.get(key);
    if (was === undefined || was.Status !== c.Status) out.push(changeOf(c, c.Status));
  }
  for (const [key, c] of before) if (!after.has(key)) out.push(changeOf(c, 'passing'));
  return out;
}

/** The key of an instance (node, service ID) in instancesListed. */
export function instanceKey(node: string, serviceId: string): string {
  return `${node}\u0000${serviceId}`;
}

/**
 * The instances (instanceKey) that have a service check in an answer: those are registered as
 * of that answer, since Consul removes an instance's checks with it, in the same write.
 */
export function instancesListed(checks: NonPassingChecks): Set<string> {
  const out = new Set<string>();
  for (const c of checks.values()) if (c.ServiceID) out.add(instanceKey(c.Node, c.ServiceID));
  return out;
}

function checkKey(c: HealthCheck): string {
  // join, not a template: a flat string, hashed once per lookup (a concatenation is a rope).
  return [c.Node, c.ServiceID ?? '', c.CheckID, c.ServiceName ?? ''].join('\u0000');
}

function changeOf(c: HealthCheck, status: CheckStatus): CheckChange {
  return { node: c.Node, serviceId: c.ServiceID ?? '', service: c.ServiceName ?? '', checkId: c.CheckID, status };
}

import type { HealthCheck } from './consul-responses.js';

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

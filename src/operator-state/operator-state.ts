import { z } from 'zod';
import { routeOverrideSchema, type StoredOverride } from '../routing/route-overrides.js';

/** One drained endpoint: the service and the endpoint's address:port. */
export interface DrainEntry {
  readonly service: string;
  readonly endpoint: string;
}

/**
 * What operators set through the admin API and what must survive a restart: drained endpoints
 * and route overrides (with their ids, so `DELETE /api/v1/overrides/<id>` keeps naming the same
 * override). `writer` names the router (or cluster of workers) that stored it, so a router
 * watching a shared store can tell its own writes from another router's.
 */
export interface OperatorState {
  readonly drains: readonly DrainEntry[];
  readonly overrides: readonly StoredOverride[];
  readonly nextOverrideId: number;
  readonly writer: string;
}

export const EMPTY_OPERATOR_STATE: OperatorState = { drains: [], overrides: [], nextOverrideId: 1, writer: '' };

/** The stored document (JSON), version 1. Overrides are validated again as the admin API validates them. */
const storedStateSchema = z.strictObject({
  version: z.literal(1, { message: 'must be 1 (this Switchyard reads operator state format 1)' }),
  writer: z.string().default(''),
  drains: z.array(z.strictObject({ service: z.string().min(1), endpoint: z.string().min(1) })),
  overrides: z.array(z.strictObject({ id: z.number().int().min(1), createdAt: z.string(), override: routeOverrideSchema })),
  nextOverrideId: z.number().int().min(1),
});

/** A stored state that cannot be read; the message says where and what is wrong. */
export class OperatorStateUnreadable extends Error {
  override readonly name = 'OperatorStateUnreadable';
}

export function encodeOperatorState(state: OperatorState): string {
  return `${JSON.stringify({ version: 1, writer: state.writer, drains: state.drains, overrides: state.overrides, nextOverrideId: state.nextOverrideId }, null, 2)}\n`;
}

/** Parses a stored document; throws OperatorStateUnreadable naming `where` and the first problems. */
export function decodeOperatorState(text: string, where: string): OperatorState {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new OperatorStateUnreadable(`the operator state in ${where} is not JSON (${(err as Error).message})`);
  }
  const parsed = storedStateSchema.safeParse(json);
  if (!parsed.success) {
    const problems = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(document)'}: ${i.message}`);
    throw new OperatorStateUnreadable(`the operator state in ${where} is not valid: ${problems.join('; ')}`);
  }
  const d = parsed.data;
  const maxId = d.overrides.reduce((m, o) => Math.max(m, o.id), 0);
  return { drains: d.drains, overrides: d.overrides, nextOverrideId: Math.max(d.nextOverrideId, maxId + 1), writer: d.writer };
}

/** Same drains and overrides (ids and contents; creation times and writer ignored). */
export function sameOperatorState(a: OperatorState, b: OperatorState): boolean {
  const key = (s: OperatorState) =>
    JSON.stringify([
      s.drains.map((d) => `${d.service}\u0000${d.endpoint}`).sort(),
      s.overrides.map((o) => [o.id, o.override]),
      s.nextOverrideId,
    ]);
  return key(a) === key(b);
}

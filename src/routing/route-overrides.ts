import { z } from 'zod';
import { routeSchema } from '../config/schema.js';
import type { RouteDeclaration } from './route-table-builder.js';

/**
 * Operator overrides of the route table, fabio-style (`route add`, `route del`, `route weight`),
 * set through the admin API and merged into every route table build. A config reload keeps
 * them; the router stores them (operator-state/) so that a restart keeps them too.
 */
export const routeOverrideSchema = z.discriminatedUnion('op', [
  /** Adds a route; replaces a configured route of the same name. */
  z.strictObject({ op: z.literal('add'), route: routeSchema }),
  /** Removes the route of that name, wherever it was declared. */
  z.strictObject({ op: z.literal('remove'), name: z.string().min(1, { message: 'must name the route to remove' }) }),
  /** Sets the balancer weight of a service's endpoints: one endpoint, those with all `tags`, or all. */
  z.strictObject({
    op: z.literal('weight'),
    service: z.string().min(1, { message: 'must name the service' }),
    endpoint: z.string().min(1).optional(),
    tags: z.array(z.string().min(1)).optional(),
    weight: z.number().positive({ message: 'must be a weight greater than 0' }).max(1_000_000),
  }),
]);

export type RouteOverride = z.output<typeof routeOverrideSchema>;

export interface StoredOverride {
  readonly id: number;
  readonly override: RouteOverride;
  /** ISO time it was added. */
  readonly createdAt: string;
}

/** Who an endpoint is, for weight matching. */
export interface WeightTarget {
  readonly key: string;
  readonly id: string;
  readonly tags: readonly string[];
}

/** The override list. Replaced (not mutated) on each change; read when the route table is built. */
export class RouteOverrides {
  private list: readonly StoredOverride[] = [];
  private nextId = 1;

  get all(): readonly StoredOverride[] {
    return this.list;
  }

  /** The id the next added override gets. */
  get nextOverrideId(): number {
    return this.nextId;
  }

  /** Replaces the list with stored overrides (ids kept); the next id continues after `nextId` and every stored id. */
  restore(list: readonly StoredOverride[], nextId: number): void {
    this.list = [...list];
    this.nextId = Math.max(nextId, ...list.map((o) => o.id + 1));
  }

  add(override: RouteOverride): StoredOverride {
    const stored: StoredOverride = { id: this.nextId++, override, createdAt: new Date().toISOString() };
    this.list = [...this.list, stored];
    return stored;
  }

  remove(id: number): boolean {
    const next = this.list.filter((o) => o.id !== id);
    const removed = next.length !== this.list.length;
    this.list = next;
    return removed;
  }

  clear(): void {
    this.list = [];
  }

  /** The declarations with removals and additions applied, in override order. */
  apply(declarations: readonly RouteDeclaration[]): RouteDeclaration[] {
    let out = [...declarations];
    for (const { override } of this.list) {
      if (override.op === 'remove') out = out.filter((d) => d.config.name !== override.name);
      else if (override.op === 'add') {
        out = out.filter((d) => d.config.name !== override.route.name);
        out.push({ config: override.route, source: 'override' });
      }
    }
    return out;
  }

  /** The weight the latest matching override gives an endpoint of `service`, or null. */
  weightFor(service: string, endpoint: WeightTarget): number | null {
    let weight: number | null = null;
    for (const { override } of this.list) {
      if (override.op !== 'weight' || override.service !== service) continue;
      if (override.endpoint !== undefined && override.endpoint !== endpoint.key && override.endpoint !== endpoint.id) continue;
      if (override.tags !== undefined && !override.tags.every((t) => endpoint.tags.includes(t))) continue;
      weight = override.weight;
    }
    return weight;
  }
}

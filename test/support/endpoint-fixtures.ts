import type { IncomingMessage } from 'node:http';
import { serviceSchema, type ServiceConfig } from '../../src/config/schema.js';
import type { ServiceInstance } from '../../src/registry/service-instance.js';
import { Endpoint } from '../../src/upstream/endpoint.js';

/** A registry instance on 127.0.0.1 (nothing listens there: balancer tests never connect). */
export function instance(port: number, weight = 1, health: ServiceInstance['health'] = 'passing'): ServiceInstance {
  return { id: `i-${port}`, service: 'svc', address: '127.0.0.1', port, weight, tags: [], meta: {}, health };
}

export function serviceSettings(fields: Record<string, unknown> = {}): ServiceConfig {
  return serviceSchema.parse(fields);
}

/** Endpoints with the given weights on ports 10001, 10002, ... Close them after the test. */
export function endpoints(weights: number[], settings = serviceSettings()): Endpoint[] {
  const counter = { openConnections: 0 };
  return weights.map((w, i) => new Endpoint(instance(10_001 + i, w), settings, counter));
}

export async function closeAll(list: Endpoint[]): Promise<void> {
  await Promise.all(list.map((e) => e.close()));
}

/** The part of a request a balancer reads (headers; the client address is passed beside it); no socket involved. */
export function requestWith(headers: Record<string, string> = {}): IncomingMessage {
  return { headers } as unknown as IncomingMessage;
}

/** How many times each endpoint (by key) was picked in `picks` picks. */
export function countPicks(pick: () => Endpoint | undefined, picks: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i < picks; i++) {
    const e = pick();
    const key = e?.key ?? 'none';
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  return counts;
}

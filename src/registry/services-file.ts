import { z } from 'zod';
import { parseAndValidate } from '../config/parse-document.js';
import type { RegistrySnapshot, ServiceEntry, ServiceInstance } from './service-instance.js';

/** Schema of the file registry: services, each with its instances. */
const instanceSchema = z.strictObject({
  id: z.string().min(1).optional(),
  address: z.string().min(1),
  port: z.number().int().min(1).max(65535),
  weight: z.number().positive().default(1),
  tags: z.array(z.string()).default([]),
  meta: z.record(z.string(), z.string()).default({}),
  health: z.enum(['passing', 'warning', 'critical']).default('passing'),
});

const servicesFileSchema = z.strictObject({
  services: z
    .record(
      z.string().min(1),
      z.strictObject({
        tags: z.array(z.string()).default([]),
        instances: z.array(instanceSchema).default([]),
      }),
    )
    .default({}),
});

/** Parses a services file (YAML or JSON) into a snapshot. Throws ConfigError with file/line/field. */
export function parseServicesFile(file: string, text: string): RegistrySnapshot {
  const parsed = parseAndValidate(file, text, servicesFileSchema);
  const services = new Map<string, ServiceEntry>();
  for (const [name, svc] of Object.entries(parsed.services)) {
    const tags = new Set(svc.tags);
    const instances: ServiceInstance[] = svc.instances.map((i) => {
      for (const t of i.tags) tags.add(t);
      return {
        id: i.id ?? `${i.address}:${i.port}`,
        service: name,
        address: i.address,
        port: i.port,
        weight: i.weight,
        tags: i.tags,
        meta: i.meta,
        health: i.health,
      };
    });
    services.set(name, { name, tags: [...tags], instances });
  }
  return { services };
}

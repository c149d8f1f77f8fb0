import { z } from 'zod';
import { parseAndValidate } from '../config/parse-document.js';
import type { RegistrySnapshot, ServiceEntry, ServiceInstance } from './service-instance.js';

/** Schema of the file registry: services, each with its instances. docs/configuration.md is generated from it. */
const instanceSchema = z.strictObject({
  id: z.string().min(1).optional().describe('Instance id (used by drain/undrain and the admin API). Default: "address:port".'),
  address: z.string().min(1).describe('Address of the instance. Required.'),
  port: z.number().int().min(1).max(65535).describe('Port of the instance. Required.'),
  weight: z.number().positive().default(1).describe('Relative share of traffic.'),
  tags: z.array(z.string()).default([]).describe('Instance tags (added to the service\'s tags; route overrides can select instances by tag).'),
  meta: z.record(z.string(), z.string()).default({}).describe('Instance metadata (e.g. proto: https turns upstream TLS on).'),
  health: z
    .enum(['passing', 'warning', 'critical'])
    .default('passing')
    .describe('Health as the registry reports it; critical = not routed.'),
});

export const servicesFileSchema = z.strictObject({
  services: z
    .record(
      z.string().min(1),
      z.strictObject({
        tags: z.array(z.string()).default([]).describe('Service-level tags.'),
        instances: z.array(instanceSchema).default([]).describe('The instances of the service.'),
      }),
    )
    .default({})
    .describe('Services by name, each with its instances.'),
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

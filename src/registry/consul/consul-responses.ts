import { z } from 'zod';

/**
 * Shapes of the Consul responses the registry reads. Objects are not strict (Consul adds
 * fields between versions); only the fields used are checked, so a garbage body that still
 * parses as JSON is rejected instead of being half applied.
 */

const stringRecord = z.record(z.string(), z.string());

/** GET /v1/catalog/services: service name → union of its tags. */
export const catalogServicesSchema = z.record(z.string(), z.array(z.string()).nullable());

export const healthCheckSchema = z.object({
  Node: z.string(),
  CheckID: z.string(),
  Status: z.enum(['passing', 'warning', 'critical', 'maintenance']),
  ServiceID: z.string().nullish(),
  ServiceName: z.string().nullish(),
});

/** GET /v1/health/state/any: every check in the datacenter. */
export const healthStateSchema = z.array(healthCheckSchema);

export const healthEntrySchema = z.object({
  Node: z.object({ Node: z.string(), Address: z.string() }),
  Service: z.object({
    ID: z.string(),
    Service: z.string(),
    Tags: z.array(z.string()).nullish(),
    Address: z.string().nullish(),
    Port: z.number().int().min(0).max(65535),
    Meta: stringRecord.nullish(),
    Weights: z.object({ Passing: z.number().min(0), Warning: z.number().min(0) }).nullish(),
  }),
  Checks: z.array(healthCheckSchema).nullish(),
});

/** GET /v1/health/service/<name>: the instances of one service with their checks. */
export const healthServiceSchema = z.array(healthEntrySchema);

export type CatalogServices = z.output<typeof catalogServicesSchema>;
export type HealthCheck = z.output<typeof healthCheckSchema>;
export type HealthEntry = z.output<typeof healthEntrySchema>;

import { z } from 'zod';
import { durationSchema, sizeSchema } from './duration.js';
import { isConsulAddress } from './schema.js';

/**
 * The `sidecar:` section: one service instance run, guarded and registered by Switchyard.
 * docs/sidecar.md documents each field (and README.md "Sidecar mode"); keep them in step.
 */

const portSchema = z.number().int().min(0).max(65535);
const appPortSchema = z.number().int().min(1, { message: 'must be a port between 1 and 65535' }).max(65535);
/** Consul accepts meta keys of letters, digits, "_" and "-" (at most 128 characters). */
const META_KEY = /^[A-Za-z0-9_-]{1,128}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HTTP_PATH = /^\/[^\s#]*$/;

export const appHealthCheckSchema = z.strictObject({
  /** Path the sidecar requests on each app instance; 2xx = healthy. */
  path: z.string().regex(HTTP_PATH, { message: 'must be a path starting with "/" (no spaces or "#")' }).default('/health'),
  interval: durationSchema.default(1_000),
  timeout: durationSchema.default(1_000),
  /** Consecutive successes before an instance counts as healthy. */
  healthyThreshold: z.number().int().min(1).default(1),
  /** Consecutive failures before an instance counts as unhealthy. */
  unhealthyThreshold: z.number().int().min(1).default(2),
});

export const appRestartSchema = z.strictObject({
  /** Delay before the first restart; doubles with each recent restart. */
  initialBackoff: durationSchema.default(200),
  maxBackoff: durationSchema.default(10_000),
  /** Give up (and exit non-zero) when an instance has been restarted this many times within `crashLoopWindow`. */
  crashLoopRestarts: z.number().int().min(1).default(5),
  crashLoopWindow: durationSchema.default(60_000),
});

export const appMemorySchema = z.strictObject({
  /** Node apps: V8 old-space limit, passed as --max-old-space-size in NODE_OPTIONS. */
  maxOldSpace: sizeSchema.optional(),
  /** Restart an instance whose resident set stays above this size for `rssLimitFor`. */
  rssLimit: sizeSchema.optional(),
  rssLimitFor: durationSchema.default(30_000),
  /** How often the resident set size is read (from /proc/<pid>/status). */
  rssCheckInterval: durationSchema.default(5_000),
});

/** Smallest memory limit accepted: below this a Node or shell process cannot even start. */
const MIN_MEMORY_MAX = 4 * 1024 * 1024;

export const appLimitsSchema = z.strictObject({
  /** Hard memory limit per instance (its cgroup, including what it forks; swap off). Default: none. */
  memoryMax: sizeSchema
    .refine((bytes) => bytes >= MIN_MEMORY_MAX, { message: 'must be at least 4MiB (e.g. "256MiB")' })
    .optional(),
  /** CPUs per instance, e.g. 0.5 = half of one CPU (quota per 100 ms period). Default: none. */
  cpuMax: z.number({ message: 'must be a number of CPUs such as 0.5 or 2' }).min(0.01, { message: 'must be at least 0.01 CPUs' }).max(1024, { message: 'must be at most 1024 CPUs' }).optional(),
  /** Processes and threads per instance (a Node app needs about 10 for itself). Default: none. */
  pidsMax: z
    .number({ message: 'must be a whole number of processes such as 64' })
    .int({ message: 'must be a whole number of processes such as 64' })
    .min(1, { message: 'must be at least 1 (a Node app needs about 10 for its own threads)' })
    .optional(),
  /** Which cgroup version applies the limits: auto (v2 when its controllers are delegated, else v1), v2 or v1. */
  cgroup: z.enum(['auto', 'v2', 'v1'], { message: 'must be "auto", "v2" or "v1"' }).default('auto'),
});

export const sidecarAppSchema = z.strictObject({
  /** Program and arguments, run without a shell. */
  command: z.array(z.string().min(1)).min(1, { message: 'must name the program to run, e.g. ["node", "app.js"]' }),
  /** Port of the first instance; instance i listens on port + i. */
  port: appPortSchema,
  instances: z.number().int().min(1).max(64).default(1),
  /** Environment variable that tells each instance its port. */
  portEnv: z.string().regex(ENV_NAME, { message: 'must be an environment variable name such as "PORT"' }).default('PORT'),
  env: z.record(z.string().regex(ENV_NAME, { message: 'must be an environment variable name' }), z.string()).default({}),
  cwd: z.string().min(1).optional(),
  /** Time between SIGTERM and SIGKILL when stopping an instance. */
  stopGrace: durationSchema.default(10_000),
  healthCheck: appHealthCheckSchema.prefault({}),
  restart: appRestartSchema.prefault({}),
  memory: appMemorySchema.prefault({}),
  /** Hard per-instance limits with Linux cgroups (none set: no groups are created). */
  limits: appLimitsSchema.prefault({}),
});

export const sidecarInboundSchema = z.strictObject({
  /** Address the inbound listener binds. */
  address: z.string().min(1).default('0.0.0.0'),
  /** Requests forwarded to the app at once. */
  maxConcurrent: z.number().int().min(1).default(100),
  /** Requests waiting for a slot; beyond this → 503 over_capacity. */
  queue: z.number().int().min(0).default(100),
  /** Time for the app to send response headers → 504. */
  requestTimeout: durationSchema.default(30_000),
});

export const sidecarConsulSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** Agent address (`host:port` or URL); default CONSUL_HTTP_ADDR, else 127.0.0.1:8500. */
  address: z
    .string()
    // A function, not a reference: schema.ts imports this module too.
    .refine((a) => isConsulAddress(a), { message: 'must be "host:port" or a URL such as "http://127.0.0.1:8500" (https means TLS)' })
    .optional(),
  /** ACL token; default CONSUL_HTTP_TOKEN. */
  token: z.string().optional(),
  /** Service ID; default "<service>-<hostname>-<port>". */
  id: z.string().min(1).optional(),
  /** Address registered for the instance; default: the inbound address, or "" (the agent's node address) when that is a wildcard. */
  advertiseAddress: z.string().min(1).optional(),
  tags: z.array(z.string().min(1)).default([]),
  meta: z.record(z.string().regex(META_KEY, { message: 'must be a meta key of letters, digits, "_" or "-" (≤ 128 characters)' }), z.string().max(512)).default({}),
  weights: z
    .strictObject({
      passing: z.number().int().min(1).default(1),
      warning: z.number().int().min(0).default(1),
    })
    .prefault({}),
  check: z
    .strictObject({
      /** ttl: the sidecar reports its own view of the app; http: the agent requests the inbound port. */
      type: z.enum(['ttl', 'http']).default('ttl'),
      ttl: durationSchema.default(10_000),
      /** (http) how often the agent checks. */
      interval: durationSchema.default(10_000),
      timeout: durationSchema.default(2_000),
      /** The agent removes the instance after its check has been critical this long (0 = never). */
      deregisterCriticalAfter: durationSchema.default(0),
    })
    .prefault({}),
  /** How often the sidecar verifies that the agent still knows the instance (http checks; TTL updates do it for ttl checks). */
  syncInterval: durationSchema.default(10_000),
});

export const sidecarEgressSchema = z.strictObject({
  enabled: z.boolean().default(false),
  address: z.string().min(1).default('127.0.0.1'),
  port: portSchema.default(9000),
});

export const sidecarAdminSchema = z.strictObject({
  /** Serve GET /metrics (Prometheus) and GET /status (JSON) for the sidecar. */
  enabled: z.boolean().default(false),
  address: z.string().min(1).default('127.0.0.1'),
  port: portSchema.default(9901),
});

export const sidecarShutdownSchema = z.strictObject({
  /** After maintenance is on, keep serving new requests this long so callers see the change. */
  drainDelay: durationSchema.default(2_000),
  /** Longest wait for in-flight requests before their connections are cut. */
  drainTimeout: durationSchema.default(30_000),
  maintenanceReason: z.string().default('switchyard sidecar shutting down'),
});

export const sidecarSchema = z.strictObject({
  service: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { message: 'must be a service name of letters, digits, "-", "_" or "."' }),
  /** Inbound listener port (the port registered in Consul). */
  port: portSchema,
  app: sidecarAppSchema,
  inbound: sidecarInboundSchema.prefault({}),
  consul: sidecarConsulSchema.prefault({}),
  egress: sidecarEgressSchema.prefault({}),
  admin: sidecarAdminSchema.prefault({}),
  shutdown: sidecarShutdownSchema.prefault({}),
});

export type SidecarConfig = z.output<typeof sidecarSchema>;

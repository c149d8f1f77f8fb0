import { z } from 'zod';
import { durationSchema, sizeSchema } from './duration.js';
import { isConsulAddress } from './consul-address.js';
import { LISTENER_PROTOCOLS } from './listener-protocols.js';
import { listenerTlsSchema } from './listener-tls-schema.js';

/**
 * The `sidecar:` section: one service instance run, guarded and registered by Switchyard.
 * Every field carries its description, with the `switchyard sidecar` flag that sets it;
 * docs/configuration.md is generated from them (`npm run docs:config`).
 */

const portSchema = z.number().int().min(0).max(65535);
const appPortSchema = z.number().int().min(1, { message: 'must be a port between 1 and 65535' }).max(65535);
/** Consul accepts meta keys of letters, digits, "_" and "-" (at most 128 characters). */
const META_KEY = /^[A-Za-z0-9_-]{1,128}$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const HTTP_PATH = /^\/[^\s#]*$/;

const appHealthCheckFieldsSchema = z.strictObject({
  type: z
    .enum(['http', 'grpc'], { message: 'must be "http" or "grpc"' })
    .default('http')
    .describe('http: GET path, 2xx = healthy; grpc: the standard gRPC health protocol (grpc.health.v1.Health/Check over h2c; needs app.protocol grpc or h2c), SERVING = healthy. Flag: --health-type.'),
  path: z
    .string()
    .regex(HTTP_PATH, { message: 'must be a path starting with "/" (no spaces or "#")' })
    .default('/health')
    .describe('http only: path the sidecar requests on each app instance; 2xx = healthy. Flag: --health-path.'),
  grpcService: z
    .string()
    .default('')
    .describe('grpc only: the service name sent in HealthCheckRequest ("" = the app\'s overall health). Flag: --health-grpc-service.'),
  interval: durationSchema.default(1_000).describe('Time between checks of one instance. Flag: --health-interval.'),
  timeout: durationSchema.default(1_000).describe('Time allowed for one check.'),
  healthyThreshold: z.number().int().min(1).default(1).describe('Consecutive successes before an instance counts as healthy.'),
  unhealthyThreshold: z.number().int().min(1).default(2).describe('Consecutive failures before an instance counts as unhealthy.'),
});

/** Which fields were written is known only before defaults are filled in: path is http only, grpcService grpc only. */
export const appHealthCheckSchema = z.preprocess((input, ctx) => {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  const written = input as Record<string, unknown>;
  const type = written.type ?? 'http';
  if (type === 'grpc' && written.path !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['path'], message: 'applies to type http only; a grpc check calls grpc.health.v1.Health/Check (remove path, or set grpcService to name the service to check)' });
  }
  if (type === 'http' && written.grpcService !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['grpcService'], message: 'applies to type grpc only (this check is type http)' });
  }
  return input;
}, appHealthCheckFieldsSchema);

export const appRestartSchema = z.strictObject({
  initialBackoff: durationSchema
    .default(200)
    .describe('Delay before the first restart; doubles with each restart within the window. Flag: --initial-backoff.'),
  maxBackoff: durationSchema.default(10_000).describe('Longest restart delay.'),
  crashLoopRestarts: z
    .number()
    .int()
    .min(1)
    .default(5)
    .describe('Give up (and exit 1) when an instance has been restarted this many times within crashLoopWindow. Flag: --crash-loop-restarts.'),
  crashLoopWindow: durationSchema.default(60_000).describe('The crash-loop window. Flag: --crash-loop-window.'),
});

export const appMemorySchema = z.strictObject({
  maxOldSpace: sizeSchema
    .optional()
    .describe('Node apps: V8 old-space limit, passed as --max-old-space-size in NODE_OPTIONS. Flag: --max-old-space. Default: none.'),
  rssLimit: sizeSchema
    .optional()
    .describe('Restart an instance whose resident set stays above this size for rssLimitFor (Linux /proc only). Flag: --rss-limit. Default: none.'),
  rssLimitFor: durationSchema.default(30_000).describe('How long above rssLimit before the restart. Flag: --rss-limit-for.'),
  rssCheckInterval: durationSchema.default(5_000).describe('How often the resident set size is read (from /proc/<pid>/status).'),
});

/** Smallest memory limit accepted: below this a Node or shell process cannot even start. */
const MIN_MEMORY_MAX = 4 * 1024 * 1024;

export const appLimitsSchema = z.strictObject({
  memoryMax: sizeSchema
    .refine((bytes) => bytes >= MIN_MEMORY_MAX, { message: 'must be at least 4MiB (e.g. "256MiB")' })
    .optional()
    .describe('Hard memory limit per instance (its cgroup, including what it forks; swap off). Flag: --memory-max. Default: none.'),
  cpuMax: z
    .number({ message: 'must be a number of CPUs such as 0.5 or 2' })
    .min(0.01, { message: 'must be at least 0.01 CPUs' })
    .max(1024, { message: 'must be at most 1024 CPUs' })
    .optional()
    .describe('CPUs per instance, e.g. 0.5 = half of one CPU (quota per 100 ms period). Flag: --cpu-max. Default: none.'),
  pidsMax: z
    .number({ message: 'must be a whole number of processes such as 64' })
    .int({ message: 'must be a whole number of processes such as 64' })
    .min(1, { message: 'must be at least 1 (a Node app needs about 10 for its own threads)' })
    .optional()
    .describe('Processes and threads per instance (a Node app needs about 10 for itself). Flag: --pids-max. Default: none.'),
  cgroup: z
    .enum(['auto', 'v2', 'v1'], { message: 'must be "auto", "v2" or "v1"' })
    .default('auto')
    .describe('Which cgroup version applies the limits: auto (v2 when its controllers are delegated, else v1), v2 or v1. Flag: --cgroup.'),
});

export const sidecarAppSchema = z.strictObject({
  command: z
    .array(z.string().min(1))
    .min(1, { message: 'must name the program to run, e.g. ["node", "app.js"]' })
    .describe('Program and arguments, run without a shell (on the command line: after --). Required.'),
  port: appPortSchema.describe('Port of the first instance; instance i listens on port + i. Flag: --app-port. Required.'),
  instances: z.number().int().min(1).max(64).default(1).describe('Instances (1 to 64) on consecutive ports. Flag: --instances.'),
  protocol: z
    .enum(['http1', 'h2c', 'grpc'], { message: 'must be "http1", "h2c" or "grpc"' })
    .default('http1')
    .describe('What the app speaks on its port: http1 (HTTP/1.1), h2c (cleartext HTTP/2 with prior knowledge) or grpc (gRPC, i.e. h2c). Whatever the inbound client spoke, requests reach the app in this protocol. Flag: --app-protocol.'),
  portEnv: z
    .string()
    .regex(ENV_NAME, { message: 'must be an environment variable name such as "PORT"' })
    .default('PORT')
    .describe('Environment variable that tells each instance its port. Flag: --port-env.'),
  env: z
    .record(z.string().regex(ENV_NAME, { message: 'must be an environment variable name' }), z.string().meta({ writeOnly: true }))
    .default({})
    .describe('Extra environment for the app. The values are treated as secrets (credentials usually travel here): redacted in the admin API and logs.'),
  cwd: z.string().min(1).optional().describe('Working directory of the app. Default: the current folder.'),
  stopGrace: durationSchema.default(10_000).describe('Time between SIGTERM and SIGKILL when stopping an instance. Flag: --stop-grace.'),
  healthCheck: appHealthCheckSchema.prefault({}).describe('The sidecar\'s own checks of each app instance; unhealthy or exited instances get no traffic.'),
  restart: appRestartSchema.prefault({}).describe('Restarts of instances that exit, and the crash-loop limit.'),
  memory: appMemorySchema.prefault({}).describe('Resource guard (docs/sidecar.md, "Resource guard").'),
  limits: appLimitsSchema.prefault({}).describe('Hard per-instance limits with Linux cgroups (docs/sidecar.md, "Hard limits with cgroups"); none set: no groups are created.'),
}).superRefine((app, ctx) => {
  if (app.healthCheck.type === 'grpc' && app.protocol === 'http1') {
    ctx.addIssue({ code: 'custom', path: ['healthCheck', 'type'], message: 'grpc checks the app over HTTP/2: set app.protocol to grpc (or h2c), or use type http' });
  }
});

export const sidecarInboundSchema = z.strictObject({
  address: z.string().min(1).default('0.0.0.0').describe('Address the inbound listener binds. Flag: --address.'),
  maxConcurrent: z.number().int().min(1).default(100).describe('Requests forwarded to the app at once. Flag: --max-concurrent.'),
  queue: z
    .number()
    .int()
    .min(0)
    .default(100)
    .describe('Requests waiting for a slot, in arrival order; beyond this → 503 over_capacity. Flag: --queue.'),
  requestTimeout: durationSchema.default(30_000).describe('Time for the app to send response headers; past it → 504. Flag: --request-timeout.'),
  tls: listenerTlsSchema.optional().describe('Serve the inbound port over TLS with these certificates (paths relative to the config file), as a router listener\'s tls section. Default: cleartext.'),
  protocols: z
    .array(z.enum(LISTENER_PROTOCOLS, { message: 'must be "http1", "h2" or "h2c"' }))
    .min(1, { message: 'must list at least one protocol (http1, h2, h2c)' })
    .optional()
    .describe('Protocols served on the inbound port, as a router listener\'s: http1, h2 (HTTP/2 over TLS by ALPN; needs tls), h2c (cleartext HTTP/2 with prior knowledge, e.g. gRPC clients; no tls). Flag: --inbound-protocol (repeat). Default: [h2, http1] with tls, [http1] without.'),
}).superRefine((inbound, ctx) => listenerProtocolProblems(inbound.protocols, inbound.tls !== undefined, ctx));

export const sidecarConsulSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Register with the Consul agent. Flag: --no-consul turns it off.'),
  address: z
    .string()
    .refine(isConsulAddress, { message: 'must be "host:port" or a URL such as "http://127.0.0.1:8500" (https means TLS)' })
    .optional()
    .describe('Agent address ("host:port" or URL). Flag: --consul. Default: $CONSUL_HTTP_ADDR, else 127.0.0.1:8500.'),
  token: z.string().meta({ writeOnly: true }).optional().describe('ACL token (sent as X-Consul-Token). A secret: redacted in the admin API and logs. Default: $CONSUL_HTTP_TOKEN.'),
  id: z.string().min(1).optional().describe('Service ID. Flag: --id. Default: "<service>-<hostname>-<port>".'),
  advertiseAddress: z
    .string()
    .min(1)
    .optional()
    .describe('Address registered for the instance. Flag: --advertise-address. Default: the inbound address, or "" (the agent\'s node address) when that is a wildcard.'),
  tags: z.array(z.string().min(1)).default([]).describe('Service tags (e.g. urlprefix-/orders for the edge router). Flag: --tag (repeat).'),
  meta: z
    .record(z.string().regex(META_KEY, { message: 'must be a meta key of letters, digits, "_" or "-" (≤ 128 characters)' }), z.string().max(512))
    .default({})
    .describe('Service meta (keys: letters, digits, "_", "-"; values up to 512 characters). Flag: --meta k=v (repeat).'),
  weights: z
    .strictObject({
      passing: z.number().int().min(1).default(1).describe('Consul load-balancing weight while passing.'),
      warning: z.number().int().min(0).default(1).describe('Consul load-balancing weight while warning (0 = no traffic while warning).'),
    })
    .prefault({})
    .describe('Consul load-balancing weights of the instance.'),
  check: z
    .strictObject({
      type: z
        .enum(['ttl', 'http'])
        .default('ttl')
        .describe('ttl: the sidecar reports its own view of the app; http: the agent requests the inbound port. Flag: --check.'),
      ttl: durationSchema.default(10_000).describe('TTL of the check (updated every ttl/3 and on every change). Flag: --ttl.'),
      interval: durationSchema.default(10_000).describe('(http) How often the agent checks.'),
      timeout: durationSchema.default(2_000).describe('(http) Time the agent allows for one check.'),
      deregisterCriticalAfter: durationSchema
        .default(0)
        .describe('The agent removes the instance after its check has been critical this long (0 = never). Flag: --deregister-critical-after.'),
    })
    .prefault({})
    .describe('The one Consul check registered for the instance.'),
  syncInterval: durationSchema
    .default(10_000)
    .describe('(http checks) How often the sidecar verifies that the agent still knows the instance (TTL updates do it for ttl checks).'),
});

export const sidecarEgressSchema = z.strictObject({
  enabled: z.boolean().default(false).describe('Start the egress listener (--egress-port turns it on).'),
  address: z.string().min(1).default('127.0.0.1').describe('Egress listen address. Flag: --egress-address.'),
  port: portSchema.default(9000).describe('Egress port. Flag: --egress-port.'),
  protocols: z
    .array(z.enum(['http1', 'h2c'], { message: 'must be "http1" or "h2c" (egress is cleartext on a local port)' }))
    .min(1, { message: 'must list at least one protocol (http1, h2c)' })
    .default(['http1', 'h2c'])
    .describe('Protocols the app may use towards the egress listener: http1 and h2c (cleartext HTTP/2 with prior knowledge, as gRPC clients send), told apart by the HTTP/2 connection preface. The protocol towards the other service is its own (services.<name>.protocol, or instance meta proto: grpc | h2c).'),
}).superRefine((egress, ctx) => listenerProtocolProblems(egress.protocols, false, ctx));

const serviceNameSchema = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { message: 'must be a service name of letters, digits, "-", "_" or "."' });

export const connectUpstreamSchema = z.strictObject({
  service: serviceNameSchema.describe('Name of the Connect service the app calls. Required.'),
  localBindPort: appPortSchema.describe('Local port on which the app reaches it (every request goes to that service over mTLS). Required. Consul needs a distinct port per upstream.'),
  localBindAddress: z.string().min(1).default('127.0.0.1').describe('Address of that local listener.'),
});

export const sidecarConnectSchema = z
  .strictObject({
    enabled: z.boolean().default(false).describe('Join the Consul service mesh (Connect): register a connect-proxy for the service, serve mTLS on connect.port, reach upstreams over mTLS (docs/sidecar.md, "Service mesh"). Flag: --connect-port turns it on.'),
    address: z.string().min(1).default('0.0.0.0').describe('Address of the mTLS listener other services\' proxies connect to. Flag: --connect-address.'),
    port: portSchema.default(21000).describe('Port of the mTLS listener, registered as the connect-proxy\'s port. Flag: --connect-port.'),
    upstreams: z
      .array(connectUpstreamSchema)
      .default([])
      .describe('Connect services the app calls. Each is registered as an upstream of the proxy, gets a local listener, and is reached over mTLS through its Connect endpoints (also through the egress listener by name).')
      .refine((list) => new Set(list.map((u) => u.service)).size === list.length, { message: 'lists a service twice: give each upstream service once' })
      .refine((list) => new Set(list.map((u) => `${u.localBindAddress}:${u.localBindPort}`)).size === list.length, { message: 'two upstreams share a localBindAddress:localBindPort: each needs its own port (Consul refuses duplicates)' }),
    authorizeCacheTtl: durationSchema
      .default(1_000)
      .describe('How long an intention decision (allowed or denied) for one caller is reused before the agent is asked again; while the agent is unreachable the last decision stays in force. 0 = ask for every connection.'),
    proxyId: z.string().min(1).optional().describe('ID of the connect-proxy registration. Default: "<service ID>-sidecar-proxy".'),
  })
  .describe('Consul service mesh (Connect).');

export const sidecarAdminSchema = z.strictObject({
  enabled: z.boolean().default(false).describe('Serve GET /metrics (Prometheus) and GET /status (JSON) for the sidecar. --admin-port turns it on.'),
  address: z.string().min(1).default('127.0.0.1').describe('Admin listen address. Flag: --admin-address.'),
  port: portSchema.default(9902).describe('Admin port (9902: the router\'s admin listener has 9901, so both fit on one host). Flag: --admin-port.'),
});

export const sidecarShutdownSchema = z.strictObject({
  drainDelay: durationSchema
    .default(2_000)
    .describe('After maintenance is on, keep serving new requests this long so callers see the change. Flag: --drain-delay.'),
  drainTimeout: durationSchema.default(30_000).describe('Longest wait for in-flight requests before their connections are cut. Flag: --drain-timeout.'),
  maintenanceReason: z
    .string()
    .default('switchyard sidecar shutting down')
    .describe('Reason sent with maintenance mode (the trigger is appended).'),
});

export const sidecarSchema = z.strictObject({
  service: z
    .string()
    .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, { message: 'must be a service name of letters, digits, "-", "_" or "."' })
    .describe('Service name registered in Consul. Flag: --service. Required.'),
  port: portSchema.describe('Inbound listener port (the port registered in Consul). Flag: --port. Required.'),
  app: sidecarAppSchema.describe('The app the sidecar runs and supervises. Required.'),
  inbound: sidecarInboundSchema.prefault({}).describe('The inbound listener: concurrency limit and queue in front of the app.'),
  consul: sidecarConsulSchema.prefault({}).describe('Registration with the local Consul agent.'),
  egress: sidecarEgressSchema.prefault({}).describe('A local listener through which the app reaches other services (/<service>/… or Host: <service>).'),
  connect: sidecarConnectSchema.prefault({}).describe('Consul service mesh (Connect): mutual TLS with certificates from the local agent, intentions, connect-proxy registration (docs/sidecar.md, "Service mesh").'),
  admin: sidecarAdminSchema.prefault({}).describe('The sidecar\'s read-only admin listener: GET /metrics (Prometheus) and GET /status (JSON). Flag: --admin-port turns it on.'),
  shutdown: sidecarShutdownSchema.prefault({}).describe('Shutdown order: maintenance, drain, deregister, stop the app.'),
}).superRefine((sc, ctx) => {
  if (sc.connect.enabled && !sc.consul.enabled) {
    ctx.addIssue({ code: 'custom', path: ['connect', 'enabled'], message: 'the service mesh needs the Consul agent (certificates, intentions): turn consul.enabled on or connect.enabled off' });
  }
  if (sc.connect.enabled && sc.connect.port !== 0 && sc.connect.port === sc.port) {
    ctx.addIssue({ code: 'custom', path: ['connect', 'port'], message: `is the inbound port ${sc.port}: the mTLS listener needs a port of its own` });
  }
  // An http check is the agent's GET http://<inbound><health path>: it needs an HTTP path and cleartext.
  if (sc.consul.check.type !== 'http') return;
  if (sc.app.healthCheck.type === 'grpc') {
    ctx.addIssue({ code: 'custom', path: ['consul', 'check', 'type'], message: 'http needs an HTTP health path, and app.healthCheck.type is grpc: use ttl (the sidecar reports its own gRPC checks)' });
  }
  if (sc.inbound.tls !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['consul', 'check', 'type'], message: 'http checks the inbound port in cleartext, and inbound.tls is set: use ttl (the sidecar reports its own checks)' });
  }
});

export type SidecarConfig = z.output<typeof sidecarSchema>;

/** A listener's protocol list, checked as a router listener's is: no repeats; h2 only with TLS, h2c only without. */
function listenerProtocolProblems(protocols: readonly string[] | undefined, tls: boolean, ctx: z.RefinementCtx): void {
  if (protocols === undefined) return;
  if (new Set(protocols).size !== protocols.length) ctx.addIssue({ code: 'custom', path: ['protocols'], message: 'lists a protocol twice' });
  if (!tls && protocols.includes('h2')) ctx.addIssue({ code: 'custom', path: ['protocols'], message: 'h2 needs tls (HTTP/2 over TLS); for cleartext HTTP/2 use h2c' });
  if (tls && protocols.includes('h2c')) ctx.addIssue({ code: 'custom', path: ['protocols'], message: 'h2c is cleartext HTTP/2 and cannot be combined with tls; with tls use h2' });
}

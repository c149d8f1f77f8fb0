import { z } from 'zod';
import { durationSchema, sizeSchema } from './duration.js';
import { sidecarSchema } from './sidecar-schema.js';

/**
 * The configuration schema. Every field has a default (or is required and says so), and
 * every object is strict: an unknown field is an error, so a typo cannot pass silently.
 * README.md "Configuration reference" documents each field; keep both in step.
 */

const HOST_LABEL = /^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

function isHostName(host: string): boolean {
  if (host.length === 0 || host.length > 253) return false;
  return host.split('.').every((label) => HOST_LABEL.test(label));
}

/** "api.example.com" (exact) or "*.example.com" (any sub-domain of example.com). Lower-cased. */
export const hostPatternSchema = z
  .string()
  .transform((h) => h.toLowerCase())
  .refine((h) => (h.startsWith('*.') ? isHostName(h.slice(2)) : isHostName(h)), {
    message: 'must be a host name such as "api.example.com" or a wildcard such as "*.example.com"',
  });

const hostNameSchema = z
  .string()
  .transform((h) => h.toLowerCase())
  .refine((h) => isHostName(h.replace(/:\d+$/, '')), { message: 'must be a host name such as "internal.example.com" (optionally with ":port")' });

/** A path prefix: starts with "/", no query or fragment. A trailing "/" is dropped (except for "/"). */
export const pathPrefixSchema = z
  .string()
  .refine((p) => p.startsWith('/'), { message: 'must start with "/"' })
  .refine((p) => !/[?#\s]/.test(p), { message: 'must be a plain path: no "?", "#" or white space' })
  .transform((p) => (p.length > 1 && p.endsWith('/') ? p.replace(/\/+$/, '') || '/' : p));

const rewritePrefixSchema = z
  .string()
  .refine((p) => p.startsWith('/'), { message: 'must start with "/"' })
  .refine((p) => !/[?#\s]/.test(p), { message: 'must be a plain path: no "?", "#" or white space' });

const headerNameSchema = z.string().refine((n) => TOKEN.test(n), { message: 'must be a valid HTTP header name' });
const methodSchema = z
  .string()
  .refine((m) => TOKEN.test(m), { message: 'must be an HTTP method such as "GET"' })
  .transform((m) => m.toUpperCase());

const portSchema = z.number().int().min(0).max(65535);

export const upstreamTimeoutsSchema = z.strictObject({
  /** Time allowed for the upstream to send response headers, from when the request was sent. */
  headers: durationSchema.default(30_000),
  /** Longest silence allowed between two chunks of the upstream response body. */
  bodyIdle: durationSchema.default(60_000),
});

export const routeSchema = z.strictObject({
  name: z.string().min(1, { message: 'must be a non-empty route name' }),
  match: z
    .strictObject({
      host: hostPatternSchema.optional(),
      path: pathPrefixSchema.default('/'),
      methods: z.array(methodSchema).min(1).optional(),
      headers: z.record(headerNameSchema, z.string()).optional(),
    })
    .prefault({}),
  service: z.string().min(1, { message: 'must name the service to route to' }),
  stripPrefix: z.boolean().default(false),
  rewritePrefix: rewritePrefixSchema.optional(),
  hostRewrite: hostNameSchema.optional(),
  timeouts: upstreamTimeoutsSchema.partial().optional(),
});

export const BALANCER_POLICIES = ['weighted_round_robin'] as const;

export const serviceSchema = z.strictObject({
  balancer: z.enum(BALANCER_POLICIES).default('weighted_round_robin'),
  /** Most connections kept to one endpoint. */
  connections: z.number().int().min(1).max(10_000).default(128),
  connectTimeout: durationSchema.default(2_000),
  keepAliveTimeout: durationSchema.default(30_000),
});

export const listenerSchema = z.strictObject({
  name: z.string().min(1).optional(),
  address: z.string().min(1).default('0.0.0.0'),
  port: portSchema,
});

const fileRegistrySchema = z.strictObject({
  type: z.literal('file'),
  /** Path to the services file, relative to the config file. */
  path: z.string().min(1).default('services.yaml'),
  watch: z.boolean().default(true),
  debounce: durationSchema.default(200),
});

/** "host:port" or an http(s) URL with no path (the CONSUL_HTTP_ADDR forms). */
export function isConsulAddress(address: string): boolean {
  const withScheme = /^https?:\/\//i.test(address) ? address : `http://${address}`;
  try {
    const url = new URL(withScheme);
    return url.hostname !== '' && (url.pathname === '/' || url.pathname === '') && url.search === '' && url.username === '';
  } catch {
    return false;
  }
}

const consulAddressSchema = z.string().refine(isConsulAddress, {
  message: 'must be "host:port" or a URL such as "http://127.0.0.1:8500" or "https://consul.example.com:8501" (https means TLS)',
});

const consulRegistrySchema = z
  .strictObject({
    type: z.literal('consul'),
    /** Consul agent address; default $CONSUL_HTTP_ADDR, else 127.0.0.1:8500. */
    address: consulAddressSchema.optional(),
    /** ACL token; default $CONSUL_HTTP_TOKEN, else none (anonymous). */
    token: z.string().min(1, { message: 'must be a non-empty ACL token (or leave it out)' }).optional(),
    /** Datacenter to read; default the agent's own. */
    datacenter: z.string().min(1, { message: 'must be a datacenter name such as "dc1"' }).optional(),
    tls: z
      .strictObject({
        /** PEM file of the CA that signed Consul's certificate (relative to the config file). */
        ca: z.string().min(1).optional(),
        /** PEM client certificate and key, for Consul with verify_incoming. */
        cert: z.string().min(1).optional(),
        key: z.string().min(1).optional(),
        /** Name to verify in Consul's certificate (SNI); default the address host. */
        serverName: z.string().min(1).optional(),
        /** Do not verify Consul's certificate (testing only). */
        insecureSkipVerify: z.boolean().default(false),
      })
      .prefault({})
      .refine((t) => (t.cert === undefined) === (t.key === undefined), { message: 'cert and key must be given together' }),
    /** Only instances carrying all these tags are used. */
    tags: z.array(z.string().min(1, { message: 'must be a non-empty tag' })).default([]),
    /** Build routes from service tags that start with tagPrefix. */
    tagRoutes: z.boolean().default(true),
    tagPrefix: z.string().min(1, { message: 'must be a non-empty tag prefix such as "urlprefix-"' }).default('urlprefix-'),
    /** Longest time Consul may hold a blocking query (Consul caps it at 10m). */
    wait: durationSchema
      .refine((ms) => ms >= 1_000 && ms <= 600_000, { message: 'must be between "1s" and "10m" (Consul caps blocking queries at 10 minutes)' })
      .default(300_000),
    /** Least time between two requests of one watch, so a flapping index cannot become a busy loop. */
    minInterval: durationSchema.default(100),
    /** Timeout of a non-blocking request (and the extra time allowed beyond `wait` for a blocking one). */
    timeout: durationSchema.refine((ms) => ms > 0, { message: 'must be greater than 0' }).default(10_000),
    backoff: z
      .strictObject({
        /** First retry delay after an error; doubles on each failure, with full jitter. */
        initial: durationSchema.refine((ms) => ms > 0, { message: 'must be greater than 0' }).default(250),
        max: durationSchema.refine((ms) => ms > 0, { message: 'must be greater than 0' }).default(30_000),
      })
      .prefault({}),
    /** Most HTTP connections to Consul: two blocking watches plus (connections - 2) parallel reads. */
    connections: z.number().int().min(3, { message: 'must be at least 3 (two watches and one reader)' }).max(64).default(8),
    /** How long start-up waits for a first good read when Consul is unreachable (a bad token fails at once). */
    startTimeout: durationSchema.default(10_000),
  })
  .refine((c) => c.backoff.initial <= c.backoff.max, { message: 'backoff.initial must not exceed backoff.max', path: ['backoff', 'initial'] });

export const REGISTRY_TYPES = ['file', 'consul'] as const;

export const registrySchema = z.discriminatedUnion('type', [fileRegistrySchema, consulRegistrySchema], {
  error: `must be one of: ${REGISTRY_TYPES.map((t) => `"${t}"`).join(', ')}`,
});

export const configSchema = z
  .strictObject({
    listeners: z.array(listenerSchema).min(1, { message: 'must list at least one listener' }).prefault([{ port: 8080 }]),
    admin: z
      .strictObject({
        enabled: z.boolean().default(true),
        address: z.string().min(1).default('127.0.0.1'),
        port: portSchema.default(9901),
      })
      .prefault({}),
    registry: registrySchema.default({ type: 'file', path: 'services.yaml', watch: true, debounce: 200 }),
    routes: z.array(routeSchema).default([]),
    services: z.record(z.string().min(1), serviceSchema).default({}),
    timeouts: upstreamTimeoutsSchema.prefault({}),
    limits: z
      .strictObject({
        maxHeaderSize: sizeSchema.default(16 * 1024),
        /** Time a client has to send the complete request headers. */
        headersTimeout: durationSchema.default(10_000),
        /** Time a client has to send the complete request, body included (0 = no limit). */
        requestTimeout: durationSchema.default(300_000),
        /** How long an idle client keep-alive connection is kept open. */
        keepAliveTimeout: durationSchema.default(5_000),
      })
      .prefault({}),
    proxy: z
      .strictObject({
        /** Keep X-Forwarded-Proto/-Host sent by the client (only behind a trusted proxy). */
        trustForwardedHeaders: z.boolean().default(false),
        requestIdHeader: headerNameSchema.transform((h) => h.toLowerCase()).default('x-request-id'),
        /** The pseudonym this proxy adds to the Via header. */
        via: z.string().regex(TOKEN, { message: 'must be a token such as "switchyard"' }).default('switchyard'),
      })
      .prefault({}),
    logging: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
      })
      .prefault({}),
    demo: z
      .strictObject({
        service: z.string().min(1).default('demo'),
        address: z.string().default('127.0.0.1'),
        ports: z.array(portSchema).min(1).default([9101, 9102]),
      })
      .optional(),
    /** Sidecar mode (`switchyard sidecar --config <file>`); see README "Sidecar mode". */
    sidecar: sidecarSchema.optional(),
  })
  .superRefine((config, ctx) => {
    const routeNames = new Map<string, number>();
    config.routes.forEach((route, i) => {
      const first = routeNames.get(route.name);
      if (first !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['routes', i, 'name'], message: `duplicate route name "${route.name}" (also routes[${first}])` });
      } else {
        routeNames.set(route.name, i);
      }
      if (route.stripPrefix && route.rewritePrefix !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['routes', i, 'rewritePrefix'], message: 'cannot be combined with stripPrefix: true (stripPrefix is rewritePrefix "/")' });
      }
    });
    const ports = new Map<string, number>();
    config.listeners.forEach((l, i) => {
      const key = `${l.address}:${l.port}`;
      const first = ports.get(key);
      if (l.port !== 0 && first !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['listeners', i, 'port'], message: `duplicate listener ${key} (also listeners[${first}])` });
      }
      ports.set(key, i);
    });
  });

export type Config = z.output<typeof configSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
export type ServiceConfig = z.output<typeof serviceSchema>;
export type ListenerConfig = z.output<typeof listenerSchema>;
export type UpstreamTimeouts = z.output<typeof upstreamTimeoutsSchema>;
export type RegistryConfig = z.output<typeof registrySchema>;
export type ConsulRegistryConfig = z.output<typeof consulRegistrySchema>;

/** Settings for a service the config does not mention. */
export const DEFAULT_SERVICE: ServiceConfig = serviceSchema.parse({});

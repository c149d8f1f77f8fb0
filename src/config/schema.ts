import { z } from 'zod';
import { durationSchema, sizeSchema } from './duration.js';

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
  /** Largest request body this route accepts (overrides limits.maxBodySize; 0 = no limit). */
  maxBodySize: sizeSchema.optional(),
});

export const BALANCER_POLICIES = ['weighted_round_robin'] as const;

/** TLS towards the instances of a service (also enabled by instance meta `proto: https`). */
export const upstreamTlsSchema = z.strictObject({
  /** PEM file of the CA(s) that sign the instances' certificates; default: the system CAs. */
  ca: z.string().min(1, { message: 'must be the path of a PEM file' }).optional(),
  /** Verify the instance certificate (chain and name). Turn off only for testing. */
  verify: z.boolean().default(true),
  /** Name sent as SNI and checked against the certificate; default: the instance address. */
  servername: hostNameSchema.optional(),
});

export const serviceSchema = z.strictObject({
  balancer: z.enum(BALANCER_POLICIES).default('weighted_round_robin'),
  /** Most connections kept to one endpoint. */
  connections: z.number().int().min(1).max(10_000).default(128),
  connectTimeout: durationSchema.default(2_000),
  keepAliveTimeout: durationSchema.default(30_000),
  tls: upstreamTlsSchema.optional(),
});

const certificateFilesSchema = z.strictObject({
  cert: z.string().min(1, { message: 'must be the path of a PEM certificate (chain) file' }),
  key: z.string().min(1, { message: 'must be the path of a PEM private key file' }),
});

export const listenerTlsSchema = z.strictObject({
  /** The default certificate: served when the client sends no SNI name or an unknown one. */
  cert: certificateFilesSchema.shape.cert,
  key: certificateFilesSchema.shape.key,
  /** More certificates, each chosen by SNI when the name matches its DNS names (SAN). */
  certificates: z.array(certificateFilesSchema).default([]),
  minVersion: z.enum(['TLSv1.2', 'TLSv1.3']).default('TLSv1.2'),
  /** Reload the certificate files when they change. */
  watch: z.boolean().default(true),
});

export const listenerSchema = z.strictObject({
  name: z.string().min(1).optional(),
  address: z.string().min(1).default('0.0.0.0'),
  port: portSchema,
  tls: listenerTlsSchema.optional(),
  /** Answer every request with a 308 redirect to https (true: port 443, or the given port). */
  redirectToHttps: z
    .union([z.boolean(), portSchema], { error: 'must be true, false or the https port to redirect to' })
    .default(false),
});

const fileRegistrySchema = z.strictObject({
  type: z.literal('file'),
  /** Path to the services file, relative to the config file. */
  path: z.string().min(1).default('services.yaml'),
  watch: z.boolean().default(true),
  debounce: durationSchema.default(200),
});

export const registrySchema = z.discriminatedUnion('type', [fileRegistrySchema]);

export const configSchema = z
  .strictObject({
    listeners: z.array(listenerSchema).min(1, { message: 'must list at least one listener' }).prefault([{ port: 8080 }]),
    admin: z
      .strictObject({
        enabled: z.boolean().default(true),
        address: z.string().min(1).default('127.0.0.1'),
        port: portSchema.default(9901),
        /** Bearer token required on admin requests other than /healthz and /readyz. Required when not on loopback. */
        token: z.string().min(16, { message: 'must be at least 16 characters (use a random secret)' }).optional(),
      })
      .prefault({}),
    registry: registrySchema.default({ type: 'file', path: 'services.yaml', watch: true, debounce: 200 }),
    routes: z.array(routeSchema).default([]),
    services: z.record(z.string().min(1), serviceSchema).default({}),
    timeouts: upstreamTimeoutsSchema.prefault({}),
    limits: z
      .strictObject({
        /** Largest request head (request line and headers) a client may send; larger → 431. */
        maxHeaderSize: sizeSchema.default(16 * 1024),
        /** Most request header fields; more → 431. */
        maxHeaderCount: z.number().int().min(1).max(10_000).default(100),
        /** Largest request body (routes may override; 0 = no limit); larger → 413. */
        maxBodySize: sizeSchema.default(10 * 1024 * 1024),
        /** Most open client connections per listener; further connections are closed at once. */
        maxConnections: z.number().int().min(1).default(10_000),
        /** Most upgraded (WebSocket) connections open at once; more → 503. */
        maxUpgrades: z.number().int().min(0).default(1_000),
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
        /** Encoded "/" or "\\" (%2F, %5C) in a path: "reject" (400) or "keep" (forwarded encoded, never a separator). */
        encodedSlashes: z.enum(['reject', 'keep']).default('reject'),
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
    const limits = config.limits;
    if (limits.requestTimeout > 0 && limits.headersTimeout > limits.requestTimeout) {
      ctx.addIssue({ code: 'custom', path: ['limits', 'headersTimeout'], message: 'must not be longer than limits.requestTimeout' });
    }
    if (config.admin.enabled && config.admin.token === undefined && !isLoopbackAddress(config.admin.address)) {
      ctx.addIssue({
        code: 'custom',
        path: ['admin', 'token'],
        message: `is required when the admin listener is not on loopback (address "${config.admin.address}"): set a random token of 16+ characters or bind to 127.0.0.1`,
      });
    }
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

/** 127.0.0.0/8, ::1 and "localhost". */
export function isLoopbackAddress(address: string): boolean {
  const a = address.toLowerCase();
  return a === 'localhost' || a === '::1' || a === '[::1]' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a) || /^::ffff:127\./.test(a);
}

export type Config = z.output<typeof configSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
export type ServiceConfig = z.output<typeof serviceSchema>;
export type ListenerConfig = z.output<typeof listenerSchema>;
export type ListenerTlsConfig = z.output<typeof listenerTlsSchema>;
export type UpstreamTlsConfig = z.output<typeof upstreamTlsSchema>;
export type LimitsConfig = Config['limits'];
export type UpstreamTimeouts = z.output<typeof upstreamTimeoutsSchema>;
export type RegistryConfig = z.output<typeof registrySchema>;

/** Settings for a service the config does not mention. */
export const DEFAULT_SERVICE: ServiceConfig = serviceSchema.parse({});

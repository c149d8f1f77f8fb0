import { z } from 'zod';
import { durationSchema, sizeSchema } from './duration.js';
import { isLoopbackAddress } from './loopback-address.js';
import { PROTECTED_HEADERS } from './protected-headers.js';
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
  /** Whole exchange, every try included, from the request's arrival to the end of the response (0 = no limit). */
  total: durationSchema.default(0),
  /** One try, from dispatch (waiting for a connection included) to response headers (0 = only `headers` applies). */
  perTry: durationSchema.default(0),
});

/** Failures a retry policy can retry on. */
export const RETRY_CONDITIONS = ['connect-failure', 'reset', 'timeout', 'gateway-error', '5xx'] as const;
export type RetryCondition = (typeof RETRY_CONDITIONS)[number];

export const retryPolicySchema = z.strictObject({
  /** Most retries after the first try (0 = never retry). */
  maxRetries: z.number().int().min(0).max(10, { message: 'must be at most 10 retries' }).default(2),
  /** Which failures are retried (only when the retry is safe, see README). */
  retryOn: z.array(z.enum(RETRY_CONDITIONS)).default(['connect-failure', 'reset', 'timeout', 'gateway-error']),
  /** Request bodies up to this size (with a Content-Length) are buffered so they can be replayed (0 = never buffer). */
  bufferBody: sizeSchema
    .refine((n) => n <= 1024 * 1024, { message: 'must be at most 1MiB: buffered bodies are held in memory' })
    .default(0),
});

/** One service of a weighted split and its share of the route's traffic. */
export const routeBackendSchema = z.strictObject({
  service: z.string().min(1, { message: 'must name the service to route to' }),
  /** Relative weight: the service gets weight / (sum of the weights) of the route's requests; 0 = none. */
  weight: z
    .number({ error: 'must be a whole number from 0 to 1000000' })
    .int({ error: 'must be a whole number from 0 to 1000000' })
    .min(0, { error: 'must be a whole number from 0 to 1000000' })
    .max(1_000_000, { error: 'must be a whole number from 0 to 1000000' })
    .default(1),
});

/** What a sticky split hashes: exactly one of a header or a cookie. */
export const stickySchema = z
  .strictObject({
    header: headerNameSchema.transform((h) => h.toLowerCase()).optional(),
    cookie: z.string().regex(TOKEN, { message: 'must be a cookie name' }).optional(),
  })
  .refine((s) => (s.header === undefined) !== (s.cookie === undefined), { message: 'must set exactly one of "header" or "cookie"' });

/** Variables a header rule value may use: `${name}`; `$$` is a literal "$". */
export const HEADER_RULE_VARIABLES = ['clientAddress', 'requestId', 'route', 'host'] as const;
export type HeaderRuleVariable = (typeof HEADER_RULE_VARIABLES)[number];

const ruleHeaderNameSchema = headerNameSchema
  .transform((h) => h.toLowerCase())
  .refine((h) => !PROTECTED_HEADERS.has(h), { message: 'is a hop-by-hop, framing or proxy-owned header that header rules may not change' });

const ruleValueSchema = z
  .string()
  .refine((v) => !/[\r\n\0]/.test(v), { message: 'must not contain CR, LF or NUL' })
  .superRefine((v, ctx) => {
    const bad = unknownRuleVariable(v);
    if (bad !== null) ctx.addIssue({ code: 'custom', message: `${bad}; the variables are ${HEADER_RULE_VARIABLES.map((n) => '${' + n + '}').join(', ')} (write $$ for a literal "$")` });
  });

/** The first problem with the `${...}` variables of a rule value, or null. */
function unknownRuleVariable(value: string): string | null {
  for (let i = value.indexOf('$'); i >= 0; i = value.indexOf('$', i + 1)) {
    if (value[i + 1] === '$') {
      i++;
      continue;
    }
    if (value[i + 1] !== '{') return `"$" at ${i} starts no variable`;
    const end = value.indexOf('}', i);
    if (end < 0) return `"\${" at ${i} is not closed with "}"`;
    const name = value.slice(i + 2, end);
    if (!(HEADER_RULE_VARIABLES as readonly string[]).includes(name)) return `unknown variable "\${${name}}"`;
    i = end;
  }
  return null;
}

/** Header edits of one direction, applied in this order: remove, set (replace), add (append). */
const headerEditsSchema = z.strictObject({
  /** Header names to remove. */
  remove: z.array(ruleHeaderNameSchema).default([]),
  /** Headers to set, replacing any of the same name. */
  set: z.record(ruleHeaderNameSchema, ruleValueSchema).default({}),
  /** Headers to append (after any of the same name). */
  add: z.record(ruleHeaderNameSchema, ruleValueSchema).default({}),
});

/** A route's header rules: edits of the request sent upstream and of the response sent back. */
export const headerRulesSchema = z.strictObject({
  request: headerEditsSchema.prefault({}),
  response: headerEditsSchema.prefault({}),
});

/** A local token-bucket rate limit of one route. */
export const rateLimitSchema = z
  .strictObject({
    /** Requests allowed per `per` (the bucket's refill rate). */
    requests: z.number({ error: 'must be a number of requests above 0' }).positive({ error: 'must be a number of requests above 0' }),
    /** The period `requests` are counted over. */
    per: durationSchema.refine((ms) => ms > 0, { message: 'must be a duration above 0, such as "1s" or "1m"' }).default(1_000),
    /** Most requests let through at once after a quiet spell (the bucket's size); default: `requests`. */
    burst: z.number().int({ error: 'must be a whole number of at least 1' }).min(1, { error: 'must be a whole number of at least 1' }).optional(),
    /** Whose bucket a request takes from: "clientAddress" (the peer address), "header" (the value of `header`), or "route" (one bucket for the route). */
    by: z.enum(['clientAddress', 'header', 'route']).default('clientAddress'),
    /** With by: header, the header whose value is the key (requests without it share one bucket). */
    header: headerNameSchema.transform((h) => h.toLowerCase()).optional(),
    /** Most keys with a bucket of their own; keys past it share one overflow bucket (memory stays bounded). */
    maxKeys: z.number().int({ error: 'must be a whole number from 1 to 1000000' }).min(1, { error: 'must be a whole number from 1 to 1000000' }).max(1_000_000, { error: 'must be a whole number from 1 to 1000000' }).default(10_000),
  })
  .superRefine((limit, ctx) => {
    if (limit.by === 'header' && limit.header === undefined) ctx.addIssue({ code: 'custom', path: ['header'], message: 'is required with by: header (name the header whose value is the key)' });
    if (limit.by !== 'header' && limit.header !== undefined) ctx.addIssue({ code: 'custom', path: ['header'], message: 'only applies with by: header' });
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
  /** The service to route to; or give `backends` to split the route's traffic between services. */
  service: z.string().min(1, { message: 'must name the service to route to' }).optional(),
  /** Services sharing the route's traffic in proportion to their weights (instead of `service`). */
  backends: z.array(routeBackendSchema).min(1, { message: 'must list at least one backend' }).optional(),
  /** With `backends`: keep a client on one backend by hashing a header or cookie (requests without it are split by weight). */
  sticky: stickySchema.optional(),
  stripPrefix: z.boolean().default(false),
  rewritePrefix: rewritePrefixSchema.optional(),
  hostRewrite: hostNameSchema.optional(),
  timeouts: upstreamTimeoutsSchema.partial().optional(),
  retries: retryPolicySchema.partial().optional(),
  /** Largest request body this route accepts (overrides limits.maxBodySize; 0 = no limit). */
  maxBodySize: sizeSchema.optional(),
  /** Local token-bucket rate limit (per process); over it → 429. */
  rateLimit: rateLimitSchema.optional(),
  /** Add, set and remove request and response headers (with variables). */
  headerRules: headerRulesSchema.optional(),
}).superRefine((route, ctx) => {
  if ((route.service === undefined) === (route.backends === undefined)) {
    ctx.addIssue({ code: 'custom', path: ['service'], message: 'set exactly one of "service" (one service) or "backends" (a weighted split between services)' });
  }
  if (route.backends !== undefined) {
    const seen = new Map<string, number>();
    route.backends.forEach((b, i) => {
      const first = seen.get(b.service);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['backends', i, 'service'], message: `service "${b.service}" is already listed (backends[${first}]); give each service once` });
      else seen.set(b.service, i);
    });
    if (route.backends.every((b) => b.weight === 0)) {
      ctx.addIssue({ code: 'custom', path: ['backends'], message: 'at least one backend must have a weight above 0' });
    }
  }
  if (route.sticky !== undefined && route.backends === undefined) {
    ctx.addIssue({ code: 'custom', path: ['sticky'], message: 'only applies to a route with "backends" (a weighted split)' });
  }
});

export const BALANCER_POLICIES = ['weighted_round_robin', 'least_request', 'random', 'consistent_hash'] as const;

/** What the consistent-hash balancer hashes: exactly one of a header, a cookie or the client address. */
export const hashOnSchema = z
  .strictObject({
    header: headerNameSchema.transform((h) => h.toLowerCase()).optional(),
    cookie: z.string().regex(TOKEN, { message: 'must be a cookie name' }).optional(),
    clientAddress: z.literal(true, { message: 'must be true (hash on the client address)' }).optional(),
  })
  .refine((h) => [h.header, h.cookie, h.clientAddress].filter((v) => v !== undefined).length === 1, {
    message: 'must set exactly one of "header", "cookie" or "clientAddress: true"',
  });

const percentSchema = z.number().min(0, { message: 'must be a percentage from 0 to 100' }).max(100, { message: 'must be a percentage from 0 to 100' });
const countSchema = z.number().int().min(1, { message: 'must be a whole number of at least 1' });

/** One status ("200") or an inclusive range ("200-399"). */
const statusRangeSchema = z.union([z.number().int(), z.string()]).transform((value, ctx) => {
  const m = /^(\d{3})(?:-(\d{3}))?$/.exec(String(value));
  const lo = m ? Number(m[1]) : NaN;
  const hi = m ? Number(m[2] ?? m[1]) : NaN;
  if (!(lo >= 100 && hi <= 599 && lo <= hi)) {
    ctx.addIssue({ code: 'custom', message: `must be a status such as 200 or a range such as "200-399" (got ${JSON.stringify(value)})` });
    return z.NEVER;
  }
  return [lo, hi] as const;
});

/** TLS towards the instances of a service (also enabled by instance meta `proto: https`). */
export const upstreamTlsSchema = z.strictObject({
  /** PEM file of the CA(s) that sign the instances' certificates; default: the system CAs. */
  ca: z.string().min(1, { message: 'must be the path of a PEM file' }).optional(),
  /** Verify the instance certificate (chain and name). Turn off only for testing. */
  verify: z.boolean().default(true),
  /** Name sent as SNI and checked against the certificate; default: the instance address. */
  servername: hostNameSchema.optional(),
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

export const healthCheckSchema = z
  .strictObject({
    type: z.enum(['http', 'tcp']).default('http'),
    /** HTTP only: the path probed with GET. */
    path: pathPrefixSchema.default('/health'),
    /** HTTP only: the Host header sent (default: the instance's address:port). */
    host: hostNameSchema.optional(),
    /** HTTP only: statuses that count as healthy. */
    expectedStatuses: z.array(statusRangeSchema).min(1).default([[200, 399]]),
    interval: durationSchema.refine((ms) => ms >= 10, { message: 'must be at least 10ms' }).default(10_000),
    /** A random delay up to this much is added to each interval, so probes do not align. */
    jitter: durationSchema.default(1_000),
    timeout: durationSchema.refine((ms) => ms >= 1, { message: 'must be at least 1ms' }).default(2_000),
    /** Consecutive passes that make an unhealthy instance healthy again. */
    healthyThreshold: countSchema.default(2),
    /** Consecutive failures that make a healthy instance unhealthy. */
    unhealthyThreshold: countSchema.default(3),
  })
  .refine((h) => h.timeout <= h.interval, { message: 'timeout must not exceed interval (one probe in flight per instance)', path: ['timeout'] });

export const outlierDetectionSchema = z.strictObject({
  enabled: z.boolean().default(true),
  /** Consecutive failures (5xx responses, connect failures, resets, timeouts) that eject an instance. */
  consecutiveFailures: countSchema.default(5),
  /** Ejection time = baseEjectionTime × number of times the instance was ejected (decaying), capped by maxEjectionTime. */
  baseEjectionTime: durationSchema.refine((ms) => ms >= 1, { message: 'must be at least 1ms' }).default(30_000),
  maxEjectionTime: durationSchema.default(300_000),
  /** Most instances ejected at once, as a share of the service (at least one instance may always be ejected). */
  maxEjectionPercent: percentSchema.default(50),
});

export const circuitBreakerSchema = z.strictObject({
  /** Most open upstream connections over all instances of the service. */
  maxConnections: countSchema.default(1024),
  /** Most requests waiting for an upstream connection. */
  maxPending: countSchema.default(1024),
  /** Most requests in flight to the service. */
  maxRequests: countSchema.default(1024),
});

export const retryBudgetSchema = z.strictObject({
  /** Retries in flight may be at most this share of the requests in flight to the service... */
  percent: percentSchema.default(20),
  /** ...or this many, whichever is larger. */
  minConcurrency: z.number().int().min(0).default(3),
});

export const serviceSchema = z
  .strictObject({
    balancer: z.enum(BALANCER_POLICIES).default('weighted_round_robin'),
    /** consistent_hash only (required there): what to hash. */
    hashOn: hashOnSchema.optional(),
    /** New instances of a running service ramp up their weight over this time (0 = off). */
    slowStart: durationSchema.default(0),
    /** Below this percentage of healthy instances, balance over all instances (0 = never). */
    panicThreshold: percentSchema.default(50),
    /** Most connections kept to one endpoint. */
    connections: z.number().int().min(1).max(10_000).default(128),
    connectTimeout: durationSchema.default(2_000),
    keepAliveTimeout: durationSchema.default(30_000),
    tls: upstreamTlsSchema.optional(),
    healthCheck: healthCheckSchema.optional(),
    outlierDetection: outlierDetectionSchema.prefault({}),
    circuitBreaker: circuitBreakerSchema.prefault({}),
    retryBudget: retryBudgetSchema.prefault({}),
  })
  .superRefine((s, ctx) => {
    if (s.balancer === 'consistent_hash' && !s.hashOn) {
      ctx.addIssue({ code: 'custom', path: ['hashOn'], message: 'is required with balancer consistent_hash, e.g. hashOn: {header: x-user}' });
    }
    if (s.balancer !== 'consistent_hash' && s.hashOn) {
      ctx.addIssue({ code: 'custom', path: ['hashOn'], message: 'only applies to balancer consistent_hash' });
    }
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

const WORKERS_MESSAGE = 'must be "auto" (one worker per available CPU) or a whole number of worker processes from 1 to 1024';

export const configSchema = z
  .strictObject({
    listeners: z.array(listenerSchema).min(1, { message: 'must list at least one listener' }).prefault([{ port: 8080 }]),
    admin: z
      .strictObject({
        enabled: z.boolean().default(true),
        address: z.string().min(1).default('127.0.0.1'),
        port: portSchema.default(9901),
        /** Bearer token required by admin mutations (and by every mutation when set). Required off loopback. */
        token: z.string().min(16, { message: 'must be at least 16 characters (use a random secret)' }).optional(),
      })
      .prefault({}),
    registry: registrySchema.default({ type: 'file', path: 'services.yaml', watch: true, debounce: 200 }),
    routes: z.array(routeSchema).default([]),
    services: z.record(z.string().min(1), serviceSchema).default({}),
    timeouts: upstreamTimeoutsSchema.prefault({}),
    /** Retry policy of routes that do not set their own (route fields override these one by one). */
    retries: retryPolicySchema.prefault({}),
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
        /**
         * Upgrade protocols forwarded as tunnels (compared case-insensitively). A request asking
         * for any other protocol (h2c among them) loses its Upgrade, HTTP2-Settings and the
         * matching Connection tokens and is proxied as a plain request.
         */
        allowedUpgrades: z
          .array(z.string().regex(TOKEN, { message: 'must be a protocol token such as "websocket"' }).transform((p) => p.toLowerCase()))
          .default(['websocket']),
      })
      .prefault({}),
    /** W3C trace context (traceparent/tracestate) on every route; see docs/traffic.md. */
    tracing: z
      .strictObject({
        /** Propagate trace context, start a trace for requests without a valid traceparent, and log the trace id. */
        enabled: z.boolean().default(false),
        /** Whether traces the proxy starts are marked sampled (trace-flags 01) or not (00); an incoming traceparent keeps its flags. */
        sampled: z.boolean().default(true),
        /** Export a server span per sampled request to an OpenTelemetry collector (OTLP/HTTP, JSON); off when absent. */
        otlp: z
          .strictObject({
            /** Base URL of the collector's OTLP/HTTP receiver; spans are POSTed to <endpoint>/v1/traces. */
            endpoint: z.string().refine((u) => /^https?:\/\/[^/\s]+/.test(u) && URL.canParse(u), { message: 'must be an http:// or https:// URL such as "http://127.0.0.1:4318"' }),
            /** The resource's service.name. */
            serviceName: z.string().min(1).default('switchyard'),
            /** Spans waiting for export at most; past it new spans are dropped (and counted). */
            maxQueue: z.number().int().min(1).max(1_000_000).default(2048),
            /** Spans per export request at most. */
            batchSize: z.number().int().min(1).max(10_000).default(512),
            /** Longest a span waits before its batch is sent. */
            flushInterval: durationSchema.refine((ms) => ms > 0, { message: 'must be a duration above 0' }).default(1_000),
          })
          .optional(),
      })
      .superRefine((t, ctx) => {
        if (t.otlp !== undefined && !t.enabled) ctx.addIssue({ code: 'custom', path: ['otlp'], message: 'needs tracing.enabled: true (spans belong to the trace context the proxy propagates)' });
      })
      .prefault({}),
    logging: z
      .strictObject({
        level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
        /** One JSON line per proxied request, whatever the level. */
        accessLog: z.boolean().default(true),
        /**
         * Log output waiting to be written (a slow reader, a full disk), at most. Past it new lines
         * are dropped and counted in switchyard_log_lines_dropped_total; requests never wait for the log.
         */
        maxBuffer: sizeSchema.refine((n) => n >= 16 * 1024, { message: 'must be at least 16kib' }).default(16 * 1024 * 1024),
      })
      .prefault({}),
    shutdown: z
      .strictObject({
        /** How long in-flight requests may take to finish after SIGTERM before connections are cut. */
        gracePeriod: durationSchema.default(10_000),
      })
      .prefault({}),
    demo: z
      .strictObject({
        service: z.string().min(1).default('demo'),
        address: z.string().default('127.0.0.1'),
        ports: z.array(portSchema).min(1).default([9101, 9102]),
      })
      .optional(),
    /** Processes serving the listeners (node:cluster): a number, or "auto" (one per available CPU). 1 = no cluster. */
    workers: z
      .union([z.literal('auto'), z.number({ error: WORKERS_MESSAGE }).int({ error: WORKERS_MESSAGE }).min(1, { error: WORKERS_MESSAGE }).max(1024, { error: WORKERS_MESSAGE })], {
        error: WORKERS_MESSAGE,
      })
      .default(1),
    /** Sidecar mode (`switchyard sidecar --config <file>`); see README "Sidecar mode". */
    sidecar: sidecarSchema.optional(),
  })
  .superRefine((config, ctx) => {
    if (config.admin.enabled && config.admin.token === undefined && !isLoopbackAddress(config.admin.address)) {
      ctx.addIssue({
        code: 'custom',
        path: ['admin', 'token'],
        message: `is required when the admin listener is not on a loopback address (admin.address is "${config.admin.address}"): set a random secret of 16+ characters, or bind the admin listener to 127.0.0.1`,
      });
    }
    const routeNames = new Map<string, number>();
    config.routes.forEach((route, i) => {
      const first = routeNames.get(route.name);
      if (first !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['routes', i, 'name'], message: `duplicate route name "${route.name}" (also routes[${first}])` });
      } else {
        routeNames.set(route.name, i);
      }
      const rules = route.headerRules;
      if (rules !== undefined) {
        const id = config.proxy.requestIdHeader;
        for (const side of ['request', 'response'] as const) {
          const edits = rules[side];
          if (edits.remove.includes(id) || id in edits.set || id in edits.add) {
            ctx.addIssue({ code: 'custom', path: ['routes', i, 'headerRules', side], message: `must not change the request id header "${id}" (proxy.requestIdHeader): the proxy sets it` });
          }
        }
      }
      if (route.stripPrefix && route.rewritePrefix !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['routes', i, 'rewritePrefix'], message: 'cannot be combined with stripPrefix: true (stripPrefix is rewritePrefix "/")' });
      }
    });
    const limits = config.limits;
    if (limits.requestTimeout > 0 && limits.headersTimeout > limits.requestTimeout) {
      ctx.addIssue({ code: 'custom', path: ['limits', 'headersTimeout'], message: 'must not be longer than limits.requestTimeout' });
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

export type Config = z.output<typeof configSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
export type RouteBackendConfig = z.output<typeof routeBackendSchema>;
export type StickyConfig = z.output<typeof stickySchema>;
export type RateLimitConfig = z.output<typeof rateLimitSchema>;
export type HeaderRulesConfig = z.output<typeof headerRulesSchema>;
export type HeaderEditsConfig = HeaderRulesConfig['request'];
export type ServiceConfig = z.output<typeof serviceSchema>;
export type ListenerConfig = z.output<typeof listenerSchema>;
export type ListenerTlsConfig = z.output<typeof listenerTlsSchema>;
export type UpstreamTlsConfig = z.output<typeof upstreamTlsSchema>;
export type LimitsConfig = Config['limits'];
export type TracingConfig = Config['tracing'];
export type UpstreamTimeouts = z.output<typeof upstreamTimeoutsSchema>;
export type RetryPolicyConfig = z.output<typeof retryPolicySchema>;
export type HealthCheckConfig = z.output<typeof healthCheckSchema>;
export type OutlierDetectionConfig = z.output<typeof outlierDetectionSchema>;
export type CircuitBreakerConfig = z.output<typeof circuitBreakerSchema>;
export type HashOnConfig = z.output<typeof hashOnSchema>;
export type RegistryConfig = z.output<typeof registrySchema>;
export type ConsulRegistryConfig = z.output<typeof consulRegistrySchema>;

/** Settings for a service the config does not mention. */
export const DEFAULT_SERVICE: ServiceConfig = serviceSchema.parse({});

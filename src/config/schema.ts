import { z } from 'zod';
import { isConsulAddress } from './consul-address.js';
import { durationSchema, sizeSchema } from './duration.js';
import { addressRangeProblem } from './ip-address.js';
import { isLoopbackAddress } from './loopback-address.js';
import { PROTECTED_HEADERS } from './protected-headers.js';
import { LISTENER_PROTOCOLS } from './listener-protocols.js';
import { listenerTlsSchema, pemFileSchema } from './listener-tls-schema.js';
import { sidecarSchema } from './sidecar-schema.js';

export { LISTENER_PROTOCOLS, listenerProtocols, type ListenerProtocol } from './listener-protocols.js';
export { listenerTlsSchema } from './listener-tls-schema.js';

/**
 * The configuration schema. Every field has a default (or is required and says so), and
 * every object is strict: an unknown field is an error, so a typo cannot pass silently.
 * Every field carries its description (`.describe()`): docs/configuration.md and the JSON
 * Schema (`switchyard schema`, config/switchyard.schema.json) are generated from this file
 * (`npm run docs:config`), and a test fails when the committed copies differ.
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

/** A host name (lower-cased), optionally with ":port": a Host header value to send upstream. */
export const hostNameSchema = z
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

/** An IPv4 or IPv6 address range ("10.0.0.0/8", "2001:db8::/32") or one address ("192.0.2.7", "::1"). */
const addressRangeSchema = z.string().superRefine((text, ctx) => {
  const problem = addressRangeProblem(text);
  if (problem !== null) ctx.addIssue({ code: 'custom', message: problem });
});

const TIMEOUT_MEANING = {
  headers: 'Time for the upstream to send response headers once the request is sent; past it → 504 (checked on a coarse clock: may fire up to about a second late).',
  bodyIdle: 'Longest silence between two chunks of the upstream response body; past it the client connection is cut.',
  total: 'The whole exchange, every try included, from the request\'s arrival to the end of the response; stops retries, 504 if no response started (0 = no limit).',
  perTry: 'One try, from dispatch (waiting for a connection included) to response headers; a timed-out try may be retried (0 = only `headers` applies).',
} as const;

export const upstreamTimeoutsSchema = z.strictObject({
  headers: durationSchema.default(30_000).describe(TIMEOUT_MEANING.headers),
  bodyIdle: durationSchema.default(60_000).describe(TIMEOUT_MEANING.bodyIdle),
  total: durationSchema.default(0).describe(TIMEOUT_MEANING.total),
  perTry: durationSchema.default(0).describe(TIMEOUT_MEANING.perTry),
});

/** A route's timeouts: each field left out keeps the top-level `timeouts` value (so no defaults here). */
const routeTimeoutsSchema = z.strictObject({
  headers: durationSchema.optional().describe(`${TIMEOUT_MEANING.headers} Default: top-level timeouts.headers.`),
  bodyIdle: durationSchema.optional().describe(`${TIMEOUT_MEANING.bodyIdle} Default: top-level timeouts.bodyIdle.`),
  total: durationSchema.optional().describe(`${TIMEOUT_MEANING.total} Default: top-level timeouts.total.`),
  perTry: durationSchema.optional().describe(`${TIMEOUT_MEANING.perTry} Default: top-level timeouts.perTry.`),
});

/** Failures a retry policy can retry on. */
export const RETRY_CONDITIONS = ['connect-failure', 'reset', 'timeout', 'gateway-error', '5xx'] as const;
export type RetryCondition = (typeof RETRY_CONDITIONS)[number];

export const GRPC_RETRY_STATUSES = ['cancelled', 'deadline-exceeded', 'internal', 'resource-exhausted', 'unavailable'] as const;
export type GrpcRetryStatus = (typeof GRPC_RETRY_STATUSES)[number];

const retryFields = {
  maxRetries: z.number().int().min(0).max(10, { message: 'must be at most 10 retries' }),
  retryOn: z.array(z.enum(RETRY_CONDITIONS)),
  grpcRetryOn: z.array(z.enum(GRPC_RETRY_STATUSES)),
  bufferBody: sizeSchema.refine((n) => n <= 1024 * 1024, { message: 'must be at most 1MiB: buffered bodies are held in memory' }),
};
const RETRY_MEANING = {
  maxRetries: 'Retries after the first try (0 = never retry; at most 10).',
  retryOn:
    'Failures that are retried, when the retry is safe (docs/load-balancing.md): connect-failure (never reached the upstream), reset (connection failed after sending), timeout (no headers in time), gateway-error (502/503/504 answered), 5xx (any 5xx answered).',
  grpcRetryOn:
    'gRPC statuses that are retried when the instance answers with that status and no message (a trailers-only response) and the request body (at most bufferBody bytes) has been sent whole: cancelled, deadline-exceeded, internal, resource-exhausted, unavailable. retryOn does not apply to the statuses of gRPC responses (always HTTP 200).',
  bufferBody:
    'Bodies of idempotent requests with a Content-Length up to this size (at most 1MiB) are read into memory before sending, so they can be replayed (0 = never buffer).',
} as const;

export const retryPolicySchema = z.strictObject({
  maxRetries: retryFields.maxRetries.default(2).describe(RETRY_MEANING.maxRetries),
  retryOn: retryFields.retryOn.default(['connect-failure', 'reset', 'timeout', 'gateway-error']).describe(RETRY_MEANING.retryOn),
  grpcRetryOn: retryFields.grpcRetryOn.default([]).describe(RETRY_MEANING.grpcRetryOn),
  bufferBody: retryFields.bufferBody.default(0).describe(RETRY_MEANING.bufferBody),
});

/** A route's retry policy: each field left out keeps the top-level `retries` value (so no defaults here). */
const routeRetryPolicySchema = z.strictObject({
  maxRetries: retryFields.maxRetries.optional().describe(`${RETRY_MEANING.maxRetries} Default: top-level retries.maxRetries.`),
  retryOn: retryFields.retryOn.optional().describe(`${RETRY_MEANING.retryOn} Default: top-level retries.retryOn.`),
  grpcRetryOn: retryFields.grpcRetryOn.optional().describe(`${RETRY_MEANING.grpcRetryOn} Default: top-level retries.grpcRetryOn.`),
  bufferBody: retryFields.bufferBody.optional().describe(`${RETRY_MEANING.bufferBody} Default: top-level retries.bufferBody.`),
});

/** One service of a weighted split and its share of the route's traffic. */
export const routeBackendSchema = z.strictObject({
  service: z.string().min(1, { message: 'must name the service to route to' }).describe('Service that gets this share of the route\'s requests. Required.'),
  weight: z
    .number({ error: 'must be a whole number from 0 to 1000000' })
    .int({ error: 'must be a whole number from 0 to 1000000' })
    .min(0, { error: 'must be a whole number from 0 to 1000000' })
    .max(1_000_000, { error: 'must be a whole number from 0 to 1000000' })
    .default(1)
    .describe('Relative weight: the service gets weight / (sum of the weights) of the route\'s requests; 0 = none.'),
});

/** What a sticky split hashes: exactly one of a header or a cookie. */
export const stickySchema = z
  .strictObject({
    header: headerNameSchema
      .transform((h) => h.toLowerCase())
      .optional()
      .describe('Hash the value of this request header. Set this or cookie. Default: none.'),
    cookie: z.string().regex(TOKEN, { message: 'must be a cookie name' }).optional().describe('Hash the value of this cookie. Set this or header. Default: none.'),
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
  remove: z.array(ruleHeaderNameSchema).default([]).describe('Header names to remove.'),
  set: z.record(ruleHeaderNameSchema, ruleValueSchema).default({}).describe('Headers to set, replacing any of the same name; values may use ${clientAddress}, ${requestId}, ${route}, ${host}.'),
  add: z.record(ruleHeaderNameSchema, ruleValueSchema).default({}).describe('Headers to append (after any of the same name); values may use the same variables.'),
});

/** A route's header rules: edits of the request sent upstream and of the response sent back. */
export const headerRulesSchema = z.strictObject({
  request: headerEditsSchema.prefault({}).describe('Edits of the request sent upstream (remove, then set, then add).'),
  response: headerEditsSchema.prefault({}).describe('Edits of the response sent to the client (remove, then set, then add).'),
});

/** A local token-bucket rate limit of one route. */
export const rateLimitSchema = z
  .strictObject({
    requests: z
      .number({ error: 'must be a number of requests above 0' })
      .positive({ error: 'must be a number of requests above 0' })
      .describe('Requests allowed per `per` (the bucket\'s refill rate). Required.'),
    per: durationSchema
      .refine((ms) => ms > 0, { message: 'must be a duration above 0, such as "1s" or "1m"' })
      .default(1_000)
      .describe('The period `requests` are counted over.'),
    burst: z
      .number()
      .int({ error: 'must be a whole number of at least 1' })
      .min(1, { error: 'must be a whole number of at least 1' })
      .optional()
      .describe('Most requests let through at once after a quiet spell (the bucket\'s size). Default: requests.'),
    by: z
      .enum(['clientAddress', 'header', 'route'])
      .default('clientAddress')
      .describe('Whose bucket a request takes from: clientAddress (the client address as resolved: the peer, the PROXY protocol source, or behind proxy.trustedProxies the address they forwarded), header (the value of `header`), or route (one bucket for the route).'),
    header: headerNameSchema
      .transform((h) => h.toLowerCase())
      .optional()
      .describe('With by: header, the header whose value is the key (requests without it share one bucket). Default: none.'),
    maxKeys: z
      .number()
      .int({ error: 'must be a whole number from 1 to 1000000' })
      .min(1, { error: 'must be a whole number from 1 to 1000000' })
      .max(1_000_000, { error: 'must be a whole number from 1 to 1000000' })
      .default(10_000)
      .describe('Most keys with a bucket of their own; past it a new key reuses the slot of a full (idle) bucket or shares one overflow bucket, so memory stays bounded.'),
    store: z
      .enum(['memory', 'redis'])
      .default('memory')
      .describe('Where the buckets live: memory (this process only: with workers: N or N routers a client gets N times the limit) or redis (one limit shared by every process and router using rateLimitRedis; docs/traffic.md, "Shared rate limits").'),
    onStoreFailure: z
      .enum(['open', 'closed'])
      .default('open')
      .describe('With store: redis, what a request that needs the store gets while Redis does not answer within rateLimitRedis.commandTimeout: open (admitted, unlimited) or closed (refused, 503 rate_limit_store_unavailable). Tokens a process already holds are used either way.'),
  })
  .superRefine((limit, ctx) => {
    if (limit.by === 'header' && limit.header === undefined) ctx.addIssue({ code: 'custom', path: ['header'], message: 'is required with by: header (name the header whose value is the key)' });
    if (limit.by !== 'header' && limit.header !== undefined) ctx.addIssue({ code: 'custom', path: ['header'], message: 'only applies with by: header' });
  });

export const routeSchema = z.strictObject({
  name: z.string().min(1, { message: 'must be a non-empty route name' }).describe('Unique route name (used in logs, metrics and the admin API). Required.'),
  match: z
    .strictObject({
      host: hostPatternSchema
        .optional()
        .describe('Exact host ("api.example.com") or wildcard ("*.example.com": any sub-domain, not the apex). Case-insensitive; the port in Host is ignored. Default: any host.'),
      path: pathPrefixSchema
        .default('/')
        .describe('Path prefix, matched on segment boundaries: /api matches /api, /api/ and /api/x, not /apix. A trailing "/" is ignored.'),
      methods: z.array(methodSchema).min(1).optional().describe('Methods the route accepts, e.g. [GET, HEAD]. Default: any method.'),
      headers: z.record(headerNameSchema, z.string()).optional().describe('Header name → exact value; all must be present. Default: none.'),
    })
    .prefault({})
    .describe('What a request must look like to take this route (docs/routing.md).'),
  service: z
    .string()
    .min(1, { message: 'must name the service to route to' })
    .optional()
    .describe('Service that matching requests are sent to. Set this or backends. Default: none.'),
  backends: z
    .array(routeBackendSchema)
    .min(1, { message: 'must list at least one backend' })
    .optional()
    .describe('Services sharing the route\'s traffic in proportion to their weights, instead of service (docs/traffic.md). Default: none.'),
  sticky: stickySchema
    .optional()
    .describe('With backends: keep a client on one backend by hashing a header or cookie (requests without it are split by weight). Default: none.'),
  stripPrefix: z.boolean().default(false).describe('Remove the matched prefix before forwarding (/api/users → /users).'),
  rewritePrefix: rewritePrefixSchema.optional().describe('Replace the matched prefix (/old/x → /new/x with rewritePrefix: /new). Not with stripPrefix. Default: keep the path.'),
  hostRewrite: hostNameSchema.optional().describe('Host header sent upstream (the client\'s Host goes in X-Forwarded-Host). Default: the client\'s Host.'),
  timeouts: routeTimeoutsSchema.optional().describe('Per-route timeouts, field by field over the top-level timeouts.'),
  retries: routeRetryPolicySchema.optional().describe('Per-route retry policy, field by field over the top-level retries.'),
  maxBodySize: sizeSchema.optional().describe('Largest request body this route accepts; larger → 413 (0 = no limit). Default: limits.maxBodySize.'),
  rateLimit: rateLimitSchema.optional().describe('Token-bucket rate limit, per process (store: memory) or shared through Redis (store: redis); over it → 429 (docs/traffic.md). Default: none.'),
  headerRules: headerRulesSchema.optional().describe('Add, set and remove request and response headers, with variables (docs/traffic.md). Default: none.'),
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
    header: headerNameSchema
      .transform((h) => h.toLowerCase())
      .optional()
      .describe('Hash the value of this request header.'),
    cookie: z.string().regex(TOKEN, { message: 'must be a cookie name' }).optional().describe('Hash the value of this cookie.'),
    clientAddress: z.literal(true, { message: 'must be true (hash on the client address)' }).optional().describe('true: hash the client address (as resolved: behind proxy.trustedProxies, the original client\'s).'),
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

/*
 * One naming for TLS everywhere (listeners, services, registry): `ca` is the PEM file of the
 * CA(s) that verify the peer's certificate, `cert` and `key` are our own certificate and key,
 * `serverName` is the name the peer's certificate must cover (sent as SNI), `verify: false`
 * turns peer verification off (testing only). Older spellings are accepted with a warning
 * (src/config/deprecated-fields.ts).
 */

/** TLS towards the instances of a service (also enabled by instance meta `proto: https`). */
export const upstreamTlsSchema = z
  .strictObject({
    ca: pemFileSchema('CA')
      .optional()
      .describe('PEM file of the CA(s) that sign the instances\' certificates (relative to the config file). Default: the system CAs (plus NODE_EXTRA_CA_CERTS).'),
    cert: pemFileSchema('certificate (chain)')
      .optional()
      .describe('PEM client certificate (chain) presented to instances that require one (mutual TLS), relative to the config file; goes with key. Default: none.'),
    key: pemFileSchema('private key').optional().describe('PEM private key of cert, relative to the config file; goes with cert. Default: none.'),
    serverName: hostNameSchema
      .optional()
      .describe('Name sent as SNI and checked against the certificate (never the client\'s Host). Default: the instance address: a host name is sent as SNI and checked; an IP address sends no SNI and the certificate must cover that IP address. The same for HTTP/1.1, HTTP/2 and gRPC health probes.'),
    servername: hostNameSchema.optional().describe('Deprecated spelling of serverName (accepted with a warning); use serverName. Default: none.'),
    verify: z.boolean().default(true).describe('Verify the instance certificate (chain and name). Turn off only for testing.'),
  })
  .refine((t) => (t.cert === undefined) === (t.key === undefined), { message: 'cert and key must be given together (the client certificate and its private key)' })
  .refine((t) => t.servername === undefined || t.serverName === undefined, { message: 'give serverName only (servername is its deprecated spelling)', path: ['servername'] });

/** The name an upstream TLS section says the instances' certificates must cover (serverName, or its deprecated spelling). */
export function upstreamServerName(tls: UpstreamTlsConfig): string | undefined {
  return tls.serverName ?? tls.servername;
}

/** Fields of an HTTP health check that a gRPC one ignores, refused when written with type grpc. */
const HTTP_ONLY_HEALTH_CHECK_FIELDS = ['path', 'host', 'expectedStatuses'] as const;

const healthCheckFieldsSchema = z
  .strictObject({
    type: z
      .enum(['http', 'tcp', 'grpc'])
      .default('http')
      .describe('http (GET path), tcp (connect only) or grpc (the standard gRPC health protocol, grpc.health.v1.Health/Check, over HTTP/2: h2c, or TLS when the instance has TLS; on the service\'s http2Client, Switchyard\'s HTTP/2 client codec by default).'),
    path: pathPrefixSchema.default('/health').describe('HTTP only: the path probed with GET.'),
    host: hostNameSchema.optional().describe('HTTP only: the Host header sent. Default: the instance\'s address:port.'),
    expectedStatuses: z
      .array(statusRangeSchema)
      .min(1)
      .prefault(['200-399'])
      .describe('HTTP only: statuses (200) or inclusive ranges ("200-299") that count as passing.'),
    grpcService: z
      .string()
      .default('')
      .describe('grpc only: the service name sent in HealthCheckRequest ("" = the server\'s overall health). Passing = grpc-status 0 and status SERVING.'),
    interval: durationSchema
      .refine((ms) => ms >= 10, { message: 'must be at least 10ms' })
      .default(10_000)
      .describe('Time between the end of one probe and the start of the next (at least 10ms).'),
    jitter: durationSchema.default(1_000).describe('Up to this much random time is added to each interval, so probes do not align.'),
    timeout: durationSchema
      .refine((ms) => ms >= 1, { message: 'must be at least 1ms' })
      .default(2_000)
      .describe('A probe without an answer in this time fails. Must not exceed interval.'),
    healthyThreshold: countSchema.default(2).describe('Passes in a row that bring a failing instance back.'),
    unhealthyThreshold: countSchema.default(3).describe('Failures in a row that take an instance out.'),
  })
  .refine((h) => h.timeout <= h.interval, { message: 'timeout must not exceed interval (one probe in flight per instance)', path: ['timeout'] });

/**
 * Which fields were written is known only before defaults are filled in, so the rules "path,
 * host and expectedStatuses are HTTP only" and "grpcService is grpc only" look at the input.
 */
export const healthCheckSchema = z.preprocess((input, ctx) => {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) return input;
  const written = input as Record<string, unknown>;
  const type = written.type ?? 'http';
  if (type === 'grpc') {
    for (const field of HTTP_ONLY_HEALTH_CHECK_FIELDS) {
      if (written[field] === undefined) continue;
      ctx.addIssue({ code: 'custom', path: [field], message: `applies to type http only; a grpc check calls grpc.health.v1.Health/Check (remove ${field}, or set grpcService to name the service to check)` });
    }
  } else if ((type === 'http' || type === 'tcp') && written.grpcService !== undefined) {
    ctx.addIssue({ code: 'custom', path: ['grpcService'], message: `applies to type grpc only (this check is type ${String(type)})` });
  }
  return input;
}, healthCheckFieldsSchema);

export const outlierDetectionSchema = z.strictObject({
  enabled: z.boolean().default(true).describe('Passive outlier detection on or off.'),
  consecutiveFailures: countSchema
    .default(5)
    .describe('Failures in a row (5xx response, connect failure, reset, timeout) that eject an instance.'),
  baseEjectionTime: durationSchema
    .refine((ms) => ms >= 1, { message: 'must be at least 1ms' })
    .default(30_000)
    .describe('Ejection time = this × the instance\'s ejection count (which decays by one per baseEjectionTime spent back in rotation).'),
  maxEjectionTime: durationSchema.default(300_000).describe('Cap on one ejection.'),
  maxEjectionPercent: percentSchema.default(50).describe('Most instances ejected at once, in percent of the service (one may always be ejected).'),
});

export const circuitBreakerSchema = z.strictObject({
  maxConnections: countSchema
    .default(1024)
    .describe('Open connections over all instances of the service; a request that would need another → 503 breaker_connections.'),
  maxPending: countSchema.default(1024).describe('Requests waiting for an upstream connection; beyond → 503 breaker_pending.'),
  maxRequests: countSchema.default(1024).describe('Requests in flight to the service; beyond → 503 breaker_requests.'),
});

export const retryBudgetSchema = z.strictObject({
  percent: percentSchema.default(20).describe('Retries in flight may be at most this percent of the requests in flight to the service...'),
  minConcurrency: z.number().int().min(0).default(3).describe('...or this many, whichever is larger.'),
});

export const UPSTREAM_PROTOCOLS = ['http1', 'h2', 'h2c'] as const;

/** HTTP/2 client implementations towards h2 and h2c instances. */
export const HTTP2_CLIENTS = ['node', 'switchyard'] as const;
export type UpstreamProtocol = (typeof UPSTREAM_PROTOCOLS)[number];

export const serviceSchema = z
  .strictObject({
    balancer: z
      .enum(BALANCER_POLICIES)
      .default('weighted_round_robin')
      .describe(
        'Load-balancing policy: weighted_round_robin (smooth, nginx style), least_request (power of two choices, weight-aware), random (weighted), consistent_hash (ring hash).',
      ),
    hashOn: hashOnSchema
      .optional()
      .describe('consistent_hash only, required there: exactly one of header: <name>, cookie: <name>, clientAddress: true. Requests without the key are spread at random.'),
    slowStart: durationSchema
      .default(0)
      .describe('Instances added to a running service ramp from 10% to full weight over this time (weighted_round_robin, least_request; 0 = off).'),
    panicThreshold: percentSchema
      .default(50)
      .describe('Percent. When fewer than this share of the routable instances (not drained, not critical in the registry) are healthy, balance over all routable ones (0 = never).'),
    connections: z.number().int().min(1).max(10_000).default(128).describe('Most pooled connections to one instance (1 to 10000).'),
    connectTimeout: durationSchema.default(2_000).describe('TCP connect timeout to an instance.'),
    keepAliveTimeout: durationSchema.default(30_000).describe('How long an idle upstream connection is kept.'),
    tls: upstreamTlsSchema.optional().describe('TLS towards the instances (also turned on by instance meta proto: https or a proto=https tag). Default: plain HTTP.'),
    protocol: z
      .enum(UPSTREAM_PROTOCOLS)
      .default('http1')
      .describe(
        'Protocol towards the instances: http1 (HTTP/1.1), h2 (HTTP/2 over TLS, ALPN h2; turns TLS on), h2c (cleartext HTTP/2 with prior knowledge). gRPC needs h2 or h2c. With http1 (the default) an instance may still declare HTTP/2 in its meta: proto h2c or grpc (cleartext), h2 or grpcs (TLS). Upgrades (WebSocket) are refused towards HTTP/2 instances.',
      ),
    maxConcurrentStreams: z
      .number()
      .int()
      .min(1)
      .max(10_000)
      .default(100)
      .describe('h2 and h2c only: most requests in flight on one connection to an instance (the instance\'s SETTINGS may lower it); more open another connection, up to connections.'),
    http2Client: z
      .enum(HTTP2_CLIENTS)
      .default('switchyard')
      .describe(
        "h2 and h2c only: the HTTP/2 client towards the instances: switchyard (Switchyard's own HTTP/2 client codec on net/TLS sockets; about half node:http2's CPU per request, docs/performance.md) or node (node:http2's client sessions, the earlier engine, kept selectable). Both pool, limit streams and report failures alike. The service's gRPC health checks (healthCheck.type grpc) run on the same client. A reload that changes it opens new connections on the new client; requests in flight finish on the old ones.",
      ),
    healthCheck: healthCheckSchema.optional().describe('Active health checks. Default: off.'),
    outlierDetection: outlierDetectionSchema.prefault({}).describe('Passive outlier detection: instances that fail in a row are ejected for a while.'),
    circuitBreaker: circuitBreakerSchema.prefault({}).describe('Limits on connections and requests to the service; beyond them requests are refused with 503.'),
    retryBudget: retryBudgetSchema.prefault({}).describe('Bound on retries in flight, so failing instances do not multiply the load.'),
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
  name: z.string().min(1).optional().describe('Name used in logs and the start banner. Default: address:port.'),
  address: z.string().min(1).default('0.0.0.0').describe('Address to bind.'),
  port: portSchema.describe('Port to bind (0 = any free port). Required.'),
  tls: listenerTlsSchema.optional().describe('Serve HTTPS with these certificates. Default: plain HTTP.'),
  redirectToHttps: z
    .union([z.boolean(), portSchema], { error: 'must be true, false or the https port to redirect to' })
    .default(false)
    .describe('Answer every request with a 308 redirect to https://<host>[:port]<target>: true (port 443) or the https port; nothing is proxied.'),
  protocols: z
    .array(z.enum(LISTENER_PROTOCOLS))
    .min(1, { message: 'must list at least one protocol (http1, h2, h2c)' })
    .optional()
    .describe(
      'Protocols served: http1 (HTTP/1.0 and 1.1), h2 (HTTP/2 over TLS, negotiated by ALPN; TLS listeners only), h2c (cleartext HTTP/2 with prior knowledge, e.g. internal gRPC; plain listeners only; with http1 both are told apart by the HTTP/2 connection preface). Default: [h2, http1] with tls, [http1] without.',
    ),
  proxyProtocol: z
    .strictObject({
      trustedSources: z
        .array(addressRangeSchema)
        .min(1, { message: 'must list at least one address range, e.g. ["10.0.0.0/8"] (the load balancers that send the PROXY header)' })
        .describe(
          'Address ranges (CIDR, IPv4 and IPv6) of the load balancers that send the header. A connection from one of them must start with a PROXY header (v1 or v2), else it is closed; a connection from any other address is served as it is, and closed if it starts with a PROXY header. Required.',
        ),
    })
    .optional()
    .describe(
      'Accept the PROXY protocol (v1 text or v2 binary, HAProxy\'s) in front of each connection from a trusted load balancer: the address it carries becomes the connection\'s client address, before TLS and HTTP (docs/security.md, "Client address"). Default: off.',
    ),
}).superRefine((l, ctx) => {
  const protocols = l.protocols;
  if (protocols === undefined) return;
  if (new Set(protocols).size !== protocols.length) ctx.addIssue({ code: 'custom', path: ['protocols'], message: 'lists a protocol twice' });
  if (l.tls === undefined && protocols.includes('h2')) {
    ctx.addIssue({ code: 'custom', path: ['protocols'], message: 'h2 needs tls (HTTP/2 over TLS); for cleartext HTTP/2 use h2c' });
  }
  if (l.tls !== undefined && protocols.includes('h2c')) {
    ctx.addIssue({ code: 'custom', path: ['protocols'], message: 'h2c is cleartext HTTP/2 and cannot be combined with tls; on a TLS listener use h2' });
  }
  if (l.redirectToHttps !== false && !protocols.includes('http1')) {
    ctx.addIssue({ code: 'custom', path: ['redirectToHttps'], message: 'needs http1 in protocols (the redirect is for browsers arriving over plain HTTP/1.1)' });
  }
});


const fileRegistrySchema = z.strictObject({
  type: z.literal('file').describe('file: instances come from a services file (docs/configuration.md, "Services file"). Required.'),
  path: z.string().min(1).default('services.yaml').describe('Services file, relative to the config file\'s folder.'),
  watch: z.boolean().default(true).describe('Re-read the file when it changes.'),
  debounce: durationSchema.default(200).describe('Quiet time after a change before re-reading.'),
});

const consulAddressSchema = z.string().refine(isConsulAddress, {
  message: 'must be "host:port" or a URL such as "http://127.0.0.1:8500" or "https://consul.example.com:8501" (https means TLS)',
});

const consulRegistrySchema = z
  .strictObject({
    type: z.literal('consul').describe('consul: instances (and tag routes) come from Consul (docs/consul.md). Required.'),
    address: consulAddressSchema
      .optional()
      .describe('Consul agent: "host:port" or "http(s)://host:port"; https turns TLS on (so does $CONSUL_HTTP_SSL=true for an address without a scheme). Default: $CONSUL_HTTP_ADDR, else 127.0.0.1:8500.'),
    token: z
      .string()
      .min(1, { message: 'must be a non-empty ACL token (or leave it out)' })
      .optional()
      .meta({ writeOnly: true })
      .describe('ACL token (sent as X-Consul-Token); needs service:read and node:read. A secret: redacted in the admin API and logs. Default: $CONSUL_HTTP_TOKEN, else none (anonymous).'),
    datacenter: z
      .string()
      .min(1, { message: 'must be a datacenter name such as "dc1"' })
      .optional()
      .describe('Datacenter to read (dc=). Default: the agent\'s own.'),
    tls: z
      .strictObject({
        ca: pemFileSchema('CA')
          .optional()
          .describe('PEM file of the CA that signed Consul\'s certificate (relative to the config file). Default: $CONSUL_CACERT (relative to the working folder), else the system CAs.'),
        cert: pemFileSchema('certificate (chain)')
          .optional()
          .describe('PEM client certificate (relative to the config file), for Consul with verify_incoming; goes with key. Default: $CONSUL_CLIENT_CERT, else none.'),
        key: pemFileSchema('private key').optional().describe('PEM private key of cert (relative to the config file); goes with cert. Default: $CONSUL_CLIENT_KEY, else none.'),
        serverName: z.string().min(1).optional().describe('Name verified in Consul\'s certificate (SNI). Default: $CONSUL_TLS_SERVER_NAME, else the address host.'),
        verify: z.boolean().optional().describe('Verify Consul\'s certificate (chain and name); false only for testing. Default: $CONSUL_HTTP_SSL_VERIFY, else true.'),
        insecureSkipVerify: z.boolean().optional().describe('Deprecated (accepted with a warning): true means verify: false; use verify. Default: none.'),
      })
      .prefault({})
      .refine((t) => (t.cert === undefined) === (t.key === undefined), { message: 'cert and key must be given together' })
      .refine((t) => t.insecureSkipVerify === undefined || t.verify === undefined, { message: 'give verify only (insecureSkipVerify is its deprecated, inverted form)', path: ['insecureSkipVerify'] })
      .describe('TLS towards Consul (used when the address is https://, or has no scheme and $CONSUL_HTTP_SSL is true).'),
    tags: z
      .array(z.string().min(1, { message: 'must be a non-empty tag' }))
      .default([])
      .describe('Only services and instances carrying all these tags are used.'),
    tagRoutes: z.boolean().default(true).describe('Build routes from service tags that start with tagPrefix.'),
    tagPrefix: z
      .string()
      .min(1, { message: 'must be a non-empty tag prefix such as "urlprefix-"' })
      .default('urlprefix-')
      .describe('Prefix of route tags.'),
    stateKey: z
      .string()
      .min(1, { message: 'must be a Consul KV key such as "switchyard/operator-state"' })
      .refine((k) => !k.startsWith('/') && !k.endsWith('/'), { message: 'must not start or end with "/" (a key, not a folder)' })
      .default('switchyard/operator-state')
      .describe('Consul KV key holding the drains and route overrides set through the admin API (shared by every router using this key).'),
    wait: durationSchema
      .refine((ms) => ms >= 1_000 && ms <= 600_000, { message: 'must be between "1s" and "10m" (Consul caps blocking queries at 10 minutes)' })
      .default(300_000)
      .describe('Longest time Consul may hold a blocking query, 1s to 10m (Consul caps it at 10m).'),
    minInterval: durationSchema
      .default(100)
      .describe('Least time between two requests of one watch, so a flapping index cannot become a busy loop.'),
    catalogMinInterval: durationSchema
      .optional()
      .describe('Least time between two requests of the catalog watch (/v1/catalog/services, whose answer grows with the number of services and comes back on every registration anywhere). New services and tag changes wait up to this long. Default: minInterval.'),
    timeout: durationSchema
      .refine((ms) => ms > 0, { message: 'must be greater than 0' })
      .default(10_000)
      .describe('Timeout of a non-blocking request, and the extra time allowed beyond wait for a blocking one.'),
    backoff: z
      .strictObject({
        initial: durationSchema
          .refine((ms) => ms > 0, { message: 'must be greater than 0' })
          .default(250)
          .describe('First retry delay after an error; doubles on each failure, with full jitter.'),
        max: durationSchema
          .refine((ms) => ms > 0, { message: 'must be greater than 0' })
          .default(30_000)
          .describe('Longest retry delay.'),
      })
      .prefault({})
      .describe('Retry delays after failed Consul requests.'),
    connections: z
      .number()
      .int()
      .min(3, { message: 'must be at least 3 (two watches and one reader)' })
      .max(64)
      .default(8)
      .describe('Most HTTP connections to Consul (3 to 64): two blocking watches plus connections - 2 parallel reads.'),
    waitAtStart: z
      .boolean()
      .default(false)
      .describe(
        'Whether start-up waits for Consul. false: the router starts even when Consul cannot be reached (admin listener up, /healthz ok, /readyz 503), retries Consul with backoff and serves as soon as the first good read arrives, so a Consul outage cannot stop a restart. true: start-up retries for up to startTimeout and exits when no good read came. A token Consul refuses fails start-up at once either way (docs/operations.md, "Starting without Consul").',
      ),
    startTimeout: durationSchema
      .default(10_000)
      .describe('With waitAtStart: true, how long start-up retries an unreachable Consul for a first good read before exiting (a bad token fails at once).'),
    persistView: z
      .boolean()
      .default(false)
      .describe(
        'Keep the last good registry view in <config name>.registry-view.json, in the folder of the state file (admin.stateFile), and serve from it at start-up while Consul cannot be reached: routes and endpoints as they were, marked stale (status page, /api/v1/registry, switchyard_registry_persisted_view), ready at once, replaced by the first good read. Off by default: the view can be hours old and its addresses may by then belong to other instances, so a router would send requests to whatever listens there; turn it on where serving old endpoints is better than serving nothing.',
      ),
    consistency: z
      .enum(['default', 'stale', 'consistent'])
      .default('stale')
      .describe('Read mode: stale lets any Consul server answer (reads scale with the servers; Consul recommends it for discovery), default reads from the leader, consistent also has the leader confirm with a quorum (slowest). Stale answers are bounded by maxStale.'),
    maxStale: durationSchema
      .default(5_000)
      .describe('With consistency stale: an answer whose server last heard from the leader longer ago than this is read again from the leader (0 = never).'),
    readRate: z
      .number()
      .min(1, { message: 'must be at least 1 read per second' })
      .max(10_000)
      .default(100)
      .describe('Most reads of single services started per second towards Consul (change reads and sweeps share it).'),
    registrationScanInterval: durationSchema
      .refine((ms) => ms >= 100, { message: 'must be at least "100ms"' })
      .default(2_000)
      .describe('Least time between two full reads of /v1/health/state/any, made only after the catalog changed with no tag change, to find the services that gained or lost checked instances.'),
    sweepInterval: durationSchema
      .default(300_000)
      .describe('Least time between two sweeps (a re-read of every watched service), made only when a catalog change is explained neither by tags nor by checks (an instance without checks, an address edited in place); such changes reach the route table within this time. 0 = never sweep.'),
  })
  .refine((c) => c.backoff.initial <= c.backoff.max, { message: 'backoff.initial must not exceed backoff.max', path: ['backoff', 'initial'] });

export const REGISTRY_TYPES = ['file', 'consul'] as const;

export const registrySchema = z.discriminatedUnion('type', [fileRegistrySchema, consulRegistrySchema], {
  error: `must be one of: ${REGISTRY_TYPES.map((t) => `"${t}"`).join(', ')}`,
});

/** "host:port" (IPv6 in brackets): the address of a Redis server. */
const REDIS_ADDRESS = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

/** The Redis server behind rate limits with store: redis (one per router; every process and router of a fleet names the same one). */
export const rateLimitRedisSchema = z
  .strictObject({
    address: z
      .string()
      .refine((a) => REDIS_ADDRESS.test(a) && Number(REDIS_ADDRESS.exec(a)![2]) <= 65535, { message: 'must be "host:port" such as "127.0.0.1:6379" or "redis.internal:6379" (IPv6 in brackets: "[::1]:6379")' })
      .describe('Redis server, "host:port". Required.'),
    tls: z
      .strictObject({
        ca: pemFileSchema('CA').optional().describe('PEM file of the CA that signed Redis\'s certificate (relative to the config file). Default: the system CAs.'),
        cert: pemFileSchema('certificate (chain)').optional().describe('PEM client certificate (relative to the config file), for a Redis with tls-auth-clients; goes with key. Default: none.'),
        key: pemFileSchema('private key').optional().describe('PEM private key of cert (relative to the config file); goes with cert. Default: none.'),
        serverName: hostNameSchema.optional().describe('Name checked in Redis\'s certificate (sent as SNI). Default: the address host.'),
        verify: z.boolean().default(true).describe('Verify Redis\'s certificate (chain and name); false only for testing.'),
      })
      .refine((t) => (t.cert === undefined) === (t.key === undefined), { message: 'cert and key must be given together' })
      .optional()
      .describe('Talk to Redis over TLS with these settings. Default: plain TCP.'),
    username: z.string().min(1, { message: 'must be a non-empty ACL user name (or leave it out)' }).optional().describe('ACL user (Redis 6+), sent with password in AUTH. Default: none (the default user).'),
    password: z
      .string()
      .min(1, { message: 'must be a non-empty password (or leave it out)' })
      .optional()
      .meta({ writeOnly: true })
      .describe('Password (requirepass, or the ACL user\'s). A secret: redacted in the admin API and logs. Default: none.'),
    database: z.number().int({ error: 'must be a database number from 0 to 15' }).min(0, { error: 'must be a database number from 0 to 15' }).max(15, { error: 'must be a database number from 0 to 15' }).default(0).describe('Database number (SELECT); 0 to 15.'),
    keyPrefix: z
      .string()
      .min(1, { message: 'must be a non-empty key prefix such as "switchyard:ratelimit:"' })
      .refine((p) => !/[\s\0]/.test(p), { message: 'must not contain white space or NUL' })
      .default('switchyard:ratelimit:')
      .describe('Prefix of every key the limiter writes (<prefix><route>:<key>), so several fleets or applications can share one Redis.'),
    commandTimeout: durationSchema
      .refine((ms) => ms >= 1 && ms <= 10_000, { message: 'must be between "1ms" and "10s"' })
      .default(100)
      .describe('Longest a reservation may take; past it (and while Redis is unreachable) requests that need the store get the route\'s onStoreFailure answer. Requests never wait longer than this for Redis. Keep it above the router\'s event-loop delay under load: a busy process can see its own lag as a slow Redis.'),
    reservation: durationSchema
      .refine((ms) => ms >= 1 && ms <= 10_000, { message: 'must be between "1ms" and "10s"' })
      .default(100)
      .describe('How much of a limit\'s rate one process reserves at a time: a batch of requests × reservation / per tokens (at least 1, at most burst), taken from Redis in one call and spent locally. Larger: fewer Redis calls, coarser sharing between processes (docs/traffic.md, "Accuracy").'),
  })
  .refine((r) => r.username === undefined || r.password !== undefined, { message: 'username needs password (ACL users authenticate with both)', path: ['username'] });

/** An admin bearer token: a secret (redacted wherever configuration is shown or logged). */
const adminTokenSchema = z
  .string()
  .min(16, { message: 'must be at least 16 characters (use a random secret)' })
  .refine((t) => t.trim() === t && !/[\s\0]/.test(t), { message: 'must not contain white space (it is sent as "Authorization: Bearer <token>")' })
  .meta({ writeOnly: true });

/** Request headers of an OTLP export that the exporter sets (framing, encoding, hop-by-hop). */
const OTLP_OWN_HEADERS: ReadonlySet<string> = new Set(['content-type', 'content-length', 'transfer-encoding', 'connection', 'keep-alive', 'upgrade', 'te', 'trailer', 'host', 'expect']);

const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

const WORKERS_MESSAGE = 'must be "auto" (one worker per available CPU) or a whole number of worker processes from 1 to 1024';

export const configSchema = z
  .strictObject({
    listeners: z
      .array(listenerSchema)
      .min(1, { message: 'must list at least one listener' })
      .prefault([{ port: 8080 }])
      .describe('Client-facing HTTP(S) listeners (at least one).'),
    admin: z
      .strictObject({
        enabled: z.boolean().default(true).describe('Start the admin listener (admin API, /metrics, /healthz, /readyz, status page).'),
        address: z
          .string()
          .min(1)
          .default('127.0.0.1')
          .describe('Admin listen address (loopback by default); a non-loopback address requires admin.token (and should have admin.readToken, or reads are open to every host that reaches it).'),
        port: portSchema.default(9901).describe('Admin listen port: /healthz (alive), /readyz (registry synced), /metrics, /api/v1, the status page.'),
        token: adminTokenSchema
          .optional()
          .describe('Bearer token (16+ characters) required by admin mutations (POST, DELETE), and accepted for reads; mandatory off loopback. A secret: redacted in the admin API and logs. Default: none.'),
        readToken: adminTokenSchema
          .optional()
          .describe(
            'Bearer token (16+ characters) that reads of the admin API need: /api/v1/..., /metrics and the status page\'s data (the page asks for it); admin.token is accepted too. /healthz, /readyz and the status page\'s own files stay open. Needs admin.token. Give it to dashboards and people who look; keep admin.token for those who drain and reload. A secret: redacted in the admin API and logs. Default: none (reads are open).',
          ),
        metricsListener: z
          .strictObject({
            address: z.string().min(1).default('0.0.0.0').describe('Address to bind; any address is allowed, loopback or not (the listener serves nothing but metrics and health).'),
            port: portSchema.describe('Port to bind (0 = any free port). Required.'),
          })
          .optional()
          .describe(
            'A second listener serving only GET /metrics, /healthz and /readyz (everything else 404), without a token, so scrapers and probes from other hosts need no access to the admin API. Opened even with admin.enabled: false; in cluster mode by the primary (/metrics summed over the workers). Default: none.',
          ),
        stateFile: z
          .string()
          .min(1, { message: 'must be a file path (or leave it out for <config name>.state.json in $STATE_DIRECTORY or beside the config)' })
          .optional()
          .describe('File keeping the drains and route overrides set through the admin API across restarts (relative to the config file); used unless the registry is Consul (then registry.stateKey). Default: <config name>.state.json in $STATE_DIRECTORY when set (systemd\'s StateDirectory=, the container image), else beside the config.'),
      })
      .prefault({})
      .describe('The admin listener (docs/operations.md).'),
    registry: registrySchema
      .default({ type: 'file', path: 'services.yaml', watch: true, debounce: 200 })
      .describe('Where service instances come from: type file (a services file) or consul.'),
    routes: z.array(routeSchema).default([]).describe('Routing rules (docs/routing.md).'),
    services: z
      .record(z.string().min(1), serviceSchema)
      .default({})
      .describe('Per-service settings, by service name; a service not listed gets every default (docs/load-balancing.md).'),
    timeouts: upstreamTimeoutsSchema.prefault({}).describe('Upstream timeouts of routes that do not set their own (route fields override these one by one).'),
    retries: retryPolicySchema.prefault({}).describe('Retry policy of routes that do not set their own (route fields override these one by one).'),
    limits: z
      .strictObject({
        maxHeaderSize: sizeSchema
          .default(16 * 1024)
          .describe('Largest request head (request line and headers) a client may send; larger → 431, connection closed.'),
        maxHeaderCount: z.number().int().min(1).max(10_000).default(100).describe('Most request header fields (1 to 10000); more → 431, connection closed.'),
        maxBodySize: sizeSchema
          .default(10 * 1024 * 1024)
          .describe('Largest request body (routes may override; 0 = no limit); larger → 413 (up front for Content-Length, as soon as the count passes the limit for chunked bodies).'),
        maxConnections: z.number().int().min(1).default(10_000).describe('Most open client connections per listener; further connections are closed at once (logged).'),
        maxUpgrades: z.number().int().min(0).default(1_000).describe('Most upgraded (WebSocket) connections open at once; more → 503 upgrade_limit.'),
        headersTimeout: durationSchema
          .default(10_000)
          .describe('Time a client has to send the complete request head (and, on HTTPS, finish the handshake); past it → 408. Must not exceed requestTimeout.'),
        requestTimeout: durationSchema
          .default(300_000)
          .describe(
            'Time a client has to send the complete request, body included; past it → 408, or the connection is cut if a response started (0 = no limit). HTTP/2: per stream (408, or the stream reset); the connection and its other streams go on; gRPC streams are exempt (their deadline bounds them).',
          ),
        keepAliveTimeout: durationSchema.default(5_000).describe('How long an idle client keep-alive connection is kept open (HTTP/2: a connection with no stream open).'),
        http2: z
          .strictObject({
            maxConcurrentStreams: z
              .number()
              .int()
              .min(1)
              .max(10_000)
              .default(128)
              .describe('Streams one client connection may have open at once (SETTINGS_MAX_CONCURRENT_STREAMS). Streams beyond it that a client opens before acknowledging the setting are refused (RST_STREAM REFUSED_STREAM); a client that exceeds it after acknowledging loses the connection (nghttp2: GOAWAY).'),
            initialWindowSize: sizeSchema
              .refine((n) => n >= 65_535 && n <= 2 ** 31 - 1, { message: 'must be from 65535 bytes to 2GiB' })
              .default(256 * 1024)
              .describe('Flow-control window of each stream for request bodies (SETTINGS_INITIAL_WINDOW_SIZE): what a client may send before the proxy has passed it on.'),
            maxSessionMemory: sizeSchema
              .refine((n) => n >= 1024 * 1024, { message: 'must be at least 1mib' })
              .default(16 * 1024 * 1024)
              .describe('Memory one HTTP/2 connection may hold: with the HTTP/2 server codec, bytes queued towards a client that does not read (past it the connection is closed); with node:http2 (proxy.engine.http2Listener: node), header tables, queued frames and unsent data (past it new streams are refused, ENHANCE_YOUR_CALM).'),
            prematureResetLimit: z
              .number()
              .int()
              .min(1)
              .default(100)
              .describe('Rapid-reset protection: a connection whose client has cancelled this many streams before their response ended, at least half of all its streams, is closed (GOAWAY ENHANCE_YOUR_CALM).'),
          })
          .prefault({})
          .describe('HTTP/2 limits on client connections (h2 and h2c listeners). The header list is bounded by maxHeaderSize and maxHeaderCount like HTTP/1.1 heads; CONTINUATION, SETTINGS and PING floods are cut by the HTTP/2 server codec (or nghttp2 with proxy.engine.http2Listener: node; docs/security.md).'),
      })
      .prefault({})
      .describe('Limits on what clients may send (docs/security.md). maxBodySize and maxUpgrades follow a reload; the others apply at start.'),
    proxy: z
      .strictObject({
        trustForwardedHeaders: z
          .boolean()
          .default(false)
          .describe(
            'Trust every peer as a proxy (as if each were in trustedProxies, for the peer only): its X-Forwarded-For/-Proto/-Host and Forwarded are kept, and the client address is read from X-Forwarded-For. Only when nothing but trusted proxies can reach the listeners; prefer trustedProxies.',
          ),
        trustedProxies: z
          .array(addressRangeSchema)
          .default([])
          .describe(
            'Address ranges (CIDR, IPv4 and IPv6, e.g. "10.0.0.0/8", "::1/128") of the proxies in front of the router. A request from one of them keeps its X-Forwarded-For/-Proto/-Host and Forwarded, and its client address is the right-most X-Forwarded-For entry not in these ranges. A request from any other peer has those headers replaced: its client address is the peer (docs/security.md, "Client address").',
          ),
        trustedHops: z
          .number()
          .int()
          .min(0)
          .max(32)
          .default(0)
          .describe(
            'With a fixed chain of proxies: the client address is the n-th X-Forwarded-For entry from the right (1 = the address the proxy in front saw), or the peer when there are fewer entries. Without trustedProxies every peer is trusted; with them, only those peers. 0 = off (walk X-Forwarded-For past trustedProxies instead).',
          ),
        requestIdHeader: headerNameSchema
          .transform((h) => h.toLowerCase())
          .default('x-request-id')
          .describe('Request id header: propagated when the client sends a sane one (≤ 128 visible ASCII characters), generated (UUID) otherwise, and echoed in the response.'),
        via: z.string().regex(TOKEN, { message: 'must be a token such as "switchyard"' }).default('switchyard').describe('Pseudonym this proxy adds to the Via header.'),
        encodedSlashes: z
          .enum(['reject', 'keep'])
          .default('reject')
          .describe('Encoded "/" or "\\" (%2F, %5C) in a path: reject (400) or keep (forwarded encoded, never a separator).'),
        allowedUpgrades: z
          .array(z.string().regex(TOKEN, { message: 'must be a protocol token such as "websocket"' }).transform((p) => p.toLowerCase()))
          .default(['websocket'])
          .describe(
            'Upgrade protocols tunnelled (case-insensitive). A request asking for any other protocol (h2c among them) loses Upgrade, HTTP2-Settings and their Connection tokens and is proxied as a plain request (docs/security.md, "Upgrades").',
          ),
        engine: z
          .strictObject({
            listener: z
              .enum(['node', 'llhttp'])
              .default('llhttp')
              .describe(
                'What serves HTTP/1.1 clients: Switchyard\'s own codec on llhttp with every lenient flag off ("llhttp", the default: no per-request streams; upgrades are handed to node:http), or node:http\'s server ("node", the fallback, kept selectable for one release). Read at start. Why the codec is the default: docs/design.md, "Engines".',
              ),
            http2Listener: z
              .enum(['switchyard', 'node'])
              .default('switchyard')
              .describe(
                'What serves HTTP/2 clients (h2 by ALPN, h2c): Switchyard\'s own HTTP/2 server codec on the connection\'s socket ("switchyard", the default: frames, HPACK, flow control and the same limits and flood protections, without node:http2\'s per-stream objects), or node:http2\'s server ("node", the earlier engine, kept selectable). Read at start. docs/design.md, "Engines".',
              ),
            upstream: z
              .enum(['llhttp', 'undici'])
              .default('llhttp')
              .describe(
                'HTTP/1.1 client towards upstreams: "llhttp", our own pool on the llhttp parser, the only one. "undici" (the earlier fallback) still parses and is ignored with a warning at start and reload. HTTP/2 services use their own pool.',
              ),
          })
          .prefault({})
          .describe('The HTTP engines on the request path, client side (listener for HTTP/1.1, http2Listener for HTTP/2) and upstream side (upstream): our own codecs by default, node:http and node:http2 as the listener\'s fallbacks (docs/design.md, "Engines").'),
      })
      .prefault({})
      .describe('How requests are forwarded.'),
    tracing: z
      .strictObject({
        enabled: z
          .boolean()
          .default(false)
          .describe('Propagate W3C trace context (traceparent/tracestate), start a trace for requests without a valid traceparent, and log the trace id.'),
        sampled: z
          .boolean()
          .default(true)
          .describe('Whether traces the proxy starts are marked sampled (trace-flags 01) or not (00); an incoming traceparent keeps its flags.'),
        otlp: z
          .strictObject({
            endpoint: z
              .string()
              .refine((u) => /^https?:\/\/[^/\s]+/.test(u) && URL.canParse(u), { message: 'must be an http:// or https:// URL such as "http://127.0.0.1:4318"' })
              .describe('Base URL of the collector\'s OTLP/HTTP receiver; spans are POSTed to <endpoint>/v1/traces. Required.'),
            headers: z
              .record(
                headerNameSchema
                  .transform((h) => h.toLowerCase())
                  .refine((h) => !OTLP_OWN_HEADERS.has(h), { message: `is set by the exporter itself (${[...OTLP_OWN_HEADERS].join(', ')})` }),
                z
                  .string()
                  .refine((v) => !/[\r\n\0]/.test(v), { message: 'must not contain CR, LF or NUL' })
                  .meta({ writeOnly: true }),
              )
              .default({})
              .describe('Headers sent with every export request, e.g. authorization or an API key header of a hosted collector. The values are secrets: redacted in the admin API and logs (the names are shown).'),
            serviceName: z.string().min(1).default('switchyard').describe('The resource\'s service.name.'),
            maxQueue: z.number().int().min(1).max(1_000_000).default(2048).describe('Spans waiting for export at most; past it new spans are dropped (and counted).'),
            batchSize: z.number().int().min(1).max(10_000).default(512).describe('Spans per export request at most.'),
            flushInterval: durationSchema
              .refine((ms) => ms > 0, { message: 'must be a duration above 0' })
              .default(1_000)
              .describe('Longest a span waits before its batch is sent.'),
          })
          .optional()
          .describe('Export a server span per sampled request to an OpenTelemetry collector (OTLP/HTTP, JSON). Default: off.'),
      })
      .superRefine((t, ctx) => {
        if (t.otlp !== undefined && !t.enabled) ctx.addIssue({ code: 'custom', path: ['otlp'], message: 'needs tracing.enabled: true (spans belong to the trace context the proxy propagates)' });
      })
      .prefault({})
      .describe('W3C trace context on every route (docs/traffic.md).'),
    logging: z
      .strictObject({
        level: z.enum(LOG_LEVELS).default('info').describe('Process log level.'),
        accessLog: z.boolean().default(true).describe('One JSON access-log line per proxied request, whatever the level.'),
        accessLogThread: z
          .boolean()
          .optional()
          .describe('Removed: accepted but ignored, with a warning at start and on reload. Access-log lines are always formed on the event loop; the thread this chose measured slower on a busy host (docs/performance.md). Delete it from the file. Default: unset (leaving it out is what every value now means).'),
        maxBuffer: sizeSchema
          .refine((n) => n >= 16 * 1024, { message: 'must be at least 16kib' })
          .default(16 * 1024 * 1024)
          .describe('Log output waiting to be written (a slow reader, a full disk), at most; past it new lines are dropped and counted in switchyard_log_lines_dropped_total. Requests never wait for the log.'),
      })
      .prefault({})
      .describe('Process log and access log (docs/observability.md).'),
    shutdown: z
      .strictObject({
        drainDelay: durationSchema
          .default(5_000)
          .describe(
            'After SIGTERM, how long the router keeps accepting and serving while /readyz already answers 503, so load balancers and Kubernetes take it out of rotation before it stops accepting (Traefik requestAcceptGraceTimeout, Envoy drain time); HTTP/1.x responses meanwhile carry Connection: close, and a second SIGTERM ends the delay early. Then accepting stops and in-flight requests get gracePeriod. 5s covers a load balancer that checks /readyz every 2s and needs two failures; set it to your health check interval times its failure threshold, plus a margin. 0 = stop accepting at once.',
          ),
        gracePeriod: durationSchema
          .default(10_000)
          .describe('How long in-flight requests may take to finish once the listeners stop accepting (after drainDelay) before connections are cut.'),
      })
      .prefault({})
      .describe('Graceful shutdown.'),
    demo: z
      .strictObject({
        service: z.string().min(1).default('demo').describe('Name the demo instances are meant for (register them in the services file).'),
        address: z.string().default('127.0.0.1').describe('Address the demo instances bind.'),
        ports: z.array(portSchema).min(1).default([9101, 9102]).describe('One demo instance per port.'),
      })
      .optional()
      .describe('Start built-in demo upstreams (for the quick start only). Default: off.'),
    workers: z
      .union([z.literal('auto'), z.number({ error: WORKERS_MESSAGE }).int({ error: WORKERS_MESSAGE }).min(1, { error: WORKERS_MESSAGE }).max(1024, { error: WORKERS_MESSAGE })], {
        error: WORKERS_MESSAGE,
      })
      .default(1)
      .describe(
        'Processes serving the listeners (node:cluster): 1 to 1024, or auto (one per available CPU, os.availableParallelism()). Above 1, switchyard start runs a cluster primary that forks the workers (docs/operations.md, "Cluster mode"); 1 = no cluster. Changing it needs a restart.',
      ),
    rateLimitRedis: rateLimitRedisSchema
      .optional()
      .describe('The Redis server that holds the buckets of routes with rateLimit.store: redis, shared by every worker and router that names it (docs/traffic.md, "Shared rate limits"). Default: none.'),
    sidecar: sidecarSchema.optional().describe('Sidecar mode settings (switchyard sidecar --config <file>; docs/sidecar.md). Default: none.'),
  })
  .superRefine((config, ctx) => {
    if (config.admin.enabled && config.admin.token === undefined && !isLoopbackAddress(config.admin.address)) {
      ctx.addIssue({
        code: 'custom',
        path: ['admin', 'token'],
        message: `is required when the admin listener is not on a loopback address (admin.address is "${config.admin.address}"): set a random secret of 16+ characters, or bind the admin listener to 127.0.0.1`,
      });
    }
    if (config.admin.readToken !== undefined && config.admin.token === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['admin', 'readToken'],
        message: 'needs admin.token: with reads guarded and mutations open, anyone could drain or reload without a token; set admin.token too (it may be the same value)',
      });
    }
    const metrics = config.admin.metricsListener;
    if (metrics !== undefined && metrics.port !== 0) {
      const taken = [
        ...(config.admin.enabled ? [{ what: 'the admin listener (admin.address, admin.port)', address: config.admin.address, port: config.admin.port }] : []),
        ...config.listeners.map((l, i) => ({ what: `listeners[${i}]`, address: l.address, port: l.port })),
      ].find((t) => t.port === metrics.port && sameBindAddress(t.address, metrics.address));
      if (taken !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['admin', 'metricsListener', 'port'], message: `${metrics.address}:${metrics.port} is also ${taken.what}: give the metrics listener a port of its own` });
      }
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
      if (route.rateLimit?.store === 'redis' && config.rateLimitRedis === undefined) {
        ctx.addIssue({ code: 'custom', path: ['routes', i, 'rateLimit', 'store'], message: 'redis needs a top-level rateLimitRedis section (at least its address, e.g. rateLimitRedis: {address: "127.0.0.1:6379"})' });
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

/** Whether two listen addresses would contend for the same port (equal, or either is a wildcard). */
function sameBindAddress(a: string, b: string): boolean {
  const wildcard = (x: string) => x === '0.0.0.0' || x === '::' || x === '';
  return a.toLowerCase() === b.toLowerCase() || wildcard(a) || wildcard(b);
}

export type Config = z.output<typeof configSchema>;
export type RouteConfig = z.output<typeof routeSchema>;
export type RouteBackendConfig = z.output<typeof routeBackendSchema>;
export type StickyConfig = z.output<typeof stickySchema>;
export type RateLimitConfig = z.output<typeof rateLimitSchema>;
export type RateLimitRedisConfig = z.output<typeof rateLimitRedisSchema>;
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

import { configJsonSchema } from './input-json-schema.js';
import { REDACTED, secretShapeOf, secretStep, UNKNOWN_SHAPE, type SecretShape } from './secret-paths.js';

/**
 * Replaces every secret in a value (secret-paths.ts says which) with "(redacted)", and the
 * credentials in any URL string ("https://user:pass@host/?token=x" → "https://(redacted)@host/?token=(redacted)").
 * The single redactor behind GET /api/v1/config (router and cluster mode), configuration
 * error messages and the process log's formatter.
 *
 * Copies only what it changes: a value without secrets comes back as the same object, so a
 * log line without secrets costs a walk over its fields and nothing else. Plain objects and
 * arrays are walked; other objects (errors, buffers, class instances) are left as they are.
 */
export function redactSecrets<T>(value: T, shape: SecretShape = UNKNOWN_SHAPE): T {
  return redactValue(value, shape) as T;
}

/** The configuration (or any part of it from the root) as the admin API shows it. */
export function redactConfig<T>(config: T): T {
  return redactSecrets(config, configSecretShape());
}

/**
 * A log line's fields: judged by their names, and a `config` field (a whole configuration)
 * by the configuration's schema.
 */
export function redactLogFields<T extends object>(fields: T): T {
  return redactSecrets(fields, logShape());
}

/** A header map (name → value) as shown: the values of credential headers (Authorization, Cookie, *-token, …) hidden. */
export function redactHeaderMap<T extends Record<string, string>>(headers: T): T {
  return redactSecrets(headers, HEADER_MAP_SHAPE);
}

/**
 * Route overrides as the admin API lists them ([{id, override: {op, route?}, createdAt}]): an
 * added route's secrets hidden as in the configuration's routes.
 */
export function redactOverrides<T>(overrides: T): T {
  overridesShape ??= {
    ...UNKNOWN_SHAPE,
    items: { ...UNKNOWN_SHAPE, fields: new Map([['override', { ...UNKNOWN_SHAPE, fields: new Map([['route', configSecretShape().fields.get('routes')?.items ?? UNKNOWN_SHAPE]]) }]]) },
  };
  return redactSecrets(overrides, overridesShape);
}

const HEADER_MAP_SHAPE: SecretShape = { ...UNKNOWN_SHAPE, entries: UNKNOWN_SHAPE };

let overridesShape: SecretShape | null = null;
let configShape: SecretShape | null = null;
let logFieldsShape: SecretShape | null = null;

/** Where the secrets of a configuration are (built once, from its JSON Schema). */
export function configSecretShape(): SecretShape {
  configShape ??= secretShapeOf(configJsonSchema());
  return configShape;
}

function logShape(): SecretShape {
  logFieldsShape ??= { secret: false, fields: new Map([['config', configSecretShape()]]), entries: null, items: null };
  return logFieldsShape;
}

function redactValue(value: unknown, shape: SecretShape): unknown {
  if (typeof value === 'string') return redactUrlCredentials(value);
  if (value === null || typeof value !== 'object') return value;
  if (Array.isArray(value)) {
    let out: unknown[] | null = null;
    for (let i = 0; i < value.length; i++) {
      const item: unknown = value[i];
      const step = secretStep(shape, i, !isWalked(item));
      const next = step.secret ? hidden(item) : redactValue(item, step.shape);
      if (next !== item) {
        out ??= value.slice();
        out[i] = next;
      }
    }
    return out ?? value;
  }
  if (!isPlainObject(value)) return value;
  let out: Record<string, unknown> | null = null;
  for (const key of Object.keys(value)) {
    const item = (value as Record<string, unknown>)[key];
    const step = secretStep(shape, key, !isWalked(item));
    const next = step.secret ? hidden(item) : redactValue(item, step.shape);
    if (next !== item) {
      out ??= { ...(value as Record<string, unknown>) };
      out[key] = next;
    }
  }
  return out ?? value;
}

/** A secret's replacement: absent and null stay so (a field left unset is no secret). */
function hidden(value: unknown): unknown {
  return value === undefined || value === null ? value : REDACTED;
}

function isWalked(value: unknown): boolean {
  return value !== null && typeof value === 'object' && (Array.isArray(value) || isPlainObject(value));
}

function isPlainObject(value: object): boolean {
  const proto: unknown = Object.getPrototypeOf(value);
  return proto === Object.prototype || proto === null;
}

const URL_USERINFO = /([a-z][a-z0-9+.-]*:\/\/)[^/?#@\s]*@/gi;
const QUERY_PARAM = /([?&])([^=&#\s]*)=([^&#\s]*)/g;
const SECRET_PARAM = /token|passw(or)?d|passphrase|secret|credential|api[-_]?key|signature|sig$|^auth/i;

/**
 * A text with the credentials of the URLs in it hidden: the user information (user:password@)
 * and the values of query parameters named like secrets (token, api_key, signature, …).
 */
export function redactUrlCredentials(text: string): string {
  if (!text.includes('://')) return text;
  let out = text.includes('@') ? text.replace(URL_USERINFO, `$1${REDACTED}@`) : text;
  if (out.includes('?')) out = out.replace(QUERY_PARAM, (whole, sep: string, name: string) => (SECRET_PARAM.test(name) ? `${sep}${name}=${REDACTED}` : whole));
  return out;
}

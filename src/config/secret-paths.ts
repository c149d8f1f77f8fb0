import type { JsonSchema } from './input-json-schema.js';

/**
 * Which values of a configuration are secrets: the one rule behind every place that shows
 * configuration (the admin API, configuration errors) or writes it to a log.
 *
 * A value is secret when
 * - the schema declares it so (`.meta({ writeOnly: true })`, JSON Schema's "never returned"
 *   annotation): `admin.token`, `admin.readToken`, `registry.token`, `rateLimitRedis.password`, `tracing.otlp.headers`
 *   values, `sidecar.consul.token`, `sidecar.app.env` values;
 * - a field name on its path contains token, password, passwd, passphrase, secret,
 *   credential, api-key / apikey or private-key (any case), so a field added later is covered
 *   before anyone remembers to declare it;
 * - it is the value of a map entry (a header, environment or meta map) whose key matches the
 *   same words or names a credential header (Authorization, Proxy-Authorization, Cookie,
 *   Set-Cookie): `routes[].match.headers.authorization`, `sidecar.app.env.DB_PASSWORD`.
 *   A map key on the way to an object is a name, not a secret (`services.token-service`).
 *
 * The rule walks a shape derived from the configuration's JSON Schema (fields, map values,
 * list items; the variants of a field merged), so it knows a field name from a map key.
 */

/** What a secret is replaced with. */
export const REDACTED = '(redacted)';

/** Segments of a path into a value: field names, map keys, list indexes. */
export type ValuePath = readonly (string | number)[];

const SECRET_NAME = /token|passw(or)?d|passphrase|secret|credential|api[-_]?key|private[-_]?key/i;
const CREDENTIAL_HEADER = /^(proxy-)?authorization$|^(set-)?cookie$/i;

/** Where secrets are in a value of some schema. */
export interface SecretShape {
  /** Declared secret: the whole value is redacted. */
  readonly secret: boolean;
  /** Named fields (of every variant). */
  readonly fields: ReadonlyMap<string, SecretShape>;
  /** The values of a map (JSON Schema additionalProperties), or null when it is no map. */
  readonly entries: SecretShape | null;
  /** List items, or null when it is no list. */
  readonly items: SecretShape | null;
}

/** A value whose schema is not known: only the names on its path can make it secret. */
export const UNKNOWN_SHAPE: SecretShape = { secret: false, fields: new Map(), entries: null, items: null };

/** The shape of a JSON Schema (from `inputJsonSchema`): writeOnly marks, fields, map values, items. */
export function secretShapeOf(schema: JsonSchema): SecretShape {
  return collect([schema]);
}

function collect(nodes: readonly JsonSchema[]): SecretShape {
  const flat: JsonSchema[] = [];
  const flatten = (n: JsonSchema) => {
    flat.push(n);
    for (const variant of [...((n.anyOf as JsonSchema[] | undefined) ?? []), ...((n.oneOf as JsonSchema[] | undefined) ?? [])]) flatten(variant);
  };
  nodes.forEach(flatten);
  const fieldNodes = new Map<string, JsonSchema[]>();
  const entryNodes: JsonSchema[] = [];
  const itemNodes: JsonSchema[] = [];
  let secret = false;
  for (const n of flat) {
    if (n.writeOnly === true) secret = true;
    for (const [name, field] of Object.entries((n.properties ?? {}) as Record<string, JsonSchema>)) {
      const list = fieldNodes.get(name) ?? [];
      list.push(field);
      fieldNodes.set(name, list);
    }
    if (typeof n.additionalProperties === 'object' && n.additionalProperties !== null) entryNodes.push(n.additionalProperties as JsonSchema);
    if (typeof n.items === 'object' && n.items !== null) itemNodes.push(n.items as JsonSchema);
  }
  const fields = new Map<string, SecretShape>();
  for (const [name, list] of fieldNodes) fields.set(name, collect(list));
  return { secret, fields, entries: entryNodes.length > 0 ? collect(entryNodes) : null, items: itemNodes.length > 0 ? collect(itemNodes) : null };
}

/** One step down a path: whether the value at `segment` is secret, and the shape below it. */
export interface SecretStep {
  secret: boolean;
  shape: SecretShape;
}

/**
 * The step from a value of `shape` to its member `segment`. `leaf` says whether that member
 * holds a plain value (not an object or a list): a map key names a secret only then.
 */
export function secretStep(shape: SecretShape, segment: string | number, leaf: boolean): SecretStep {
  if (typeof segment === 'number') {
    const items = shape.items ?? UNKNOWN_SHAPE;
    return { secret: items.secret, shape: items };
  }
  const field = shape.fields.get(segment);
  if (field !== undefined) return { secret: field.secret || SECRET_NAME.test(segment), shape: field };
  if (shape.entries !== null) return { secret: shape.entries.secret || (leaf && isSecretName(segment)), shape: shape.entries };
  // Not in the schema (a log line's own fields, an unknown value): judged by its name.
  return { secret: SECRET_NAME.test(segment) || (leaf && CREDENTIAL_HEADER.test(segment)), shape: UNKNOWN_SHAPE };
}

/** Whether a map key or header name names a secret (an Authorization-like header, or a secret word). */
export function isSecretName(name: string): boolean {
  return SECRET_NAME.test(name) || CREDENTIAL_HEADER.test(name);
}

/**
 * Whether the value at `path` of a value of `shape` is secret (or lies inside a secret). The
 * last segment is taken to hold a plain value.
 */
export function isSecretPath(path: ValuePath, shape: SecretShape): boolean {
  let at = shape;
  for (let i = 0; i < path.length; i++) {
    const step = secretStep(at, path[i]!, i === path.length - 1);
    if (step.secret) return true;
    at = step.shape;
  }
  return false;
}

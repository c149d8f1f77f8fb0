import { ShapeError, type ResponseSchema } from './response-schema.js';

/**
 * Shapes of the Consul responses the registry reads. Objects are not strict (Consul adds
 * fields between versions); only the fields used are checked, so a garbage body that still
 * parses as JSON is rejected instead of being half applied.
 *
 * Checked by hand rather than with zod: at start-up the registry validates one answer per
 * service (10,000 and more in a row, each a fresh object graph), and zod, which copies every
 * object it validates and runs cold through most of that start-up, cost a third of the read
 * path's CPU there. These checks read the parsed JSON in place and hand it on as it is: the
 * accepted value is the parsed body itself (unknown fields included, never read).
 */

export type CheckStatus = 'passing' | 'warning' | 'critical' | 'maintenance';

export interface HealthCheck {
  Node: string;
  CheckID: string;
  Status: CheckStatus;
  ServiceID?: string | null;
  ServiceName?: string | null;
}

/** Relative weights of a service's instances, each >= 0. */
export interface ServiceWeights {
  Passing: number;
  Warning: number;
}

export interface HealthEntry {
  Node: { Node: string; Address: string };
  Service: {
    ID: string;
    Service: string;
    Tags?: string[] | null;
    Address?: string | null;
    /** An integer port, 0–65535. */
    Port: number;
    Meta?: Record<string, string> | null;
    Weights?: ServiceWeights | null;
  };
  Checks?: HealthCheck[] | null;
}

/** GET /v1/catalog/services: service name → union of its tags. */
export type CatalogServices = Record<string, string[] | null>;

/**
 * Where the check is in the body: keys and indexes are pushed while a field is checked and
 * popped after, so a passing body costs no path objects; a failure copies it.
 */
const at: (string | number)[] = [];

function fail(message: string): never {
  throw new ShapeError([...at], message);
}

function typeName(value: unknown): string {
  return value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;
}

function object(value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`expected object, received ${typeName(value)}`);
  return value as Record<string, unknown>;
}

function array(value: unknown): unknown[] {
  if (!Array.isArray(value)) fail(`expected array, received ${typeName(value)}`);
  return value;
}

function string(value: unknown): void {
  if (typeof value !== 'string') fail(`expected string, received ${typeName(value)}`);
}

function number(value: unknown, min: number, max = Infinity, integer = false): void {
  if (typeof value !== 'number' || Number.isNaN(value)) fail(`expected number, received ${typeName(value)}`);
  if (integer && !Number.isInteger(value)) fail('expected int, received number');
  if (value < min) fail(`too small: expected number to be >=${min}`);
  if (value > max) fail(`too big: expected number to be <=${max}`);
}

/** Checks `container[key]` with `check`, with `key` on the path meanwhile. */
function field<K extends string | number>(container: { [k in K]?: unknown }, key: K, check: (value: unknown) => void): void {
  at.push(key);
  check(container[key]);
  at.pop();
}

/** `check` for a field that may also be absent or null. */
function nullish(check: (value: unknown) => void): (value: unknown) => void {
  return (value) => {
    if (value !== undefined && value !== null) check(value);
  };
}

function each(check: (value: unknown) => void): (value: unknown) => void {
  return (value) => {
    const list = array(value);
    for (let i = 0; i < list.length; i++) field(list, i, check);
  };
}

const stringList = each(string);

const STATUSES: ReadonlySet<unknown> = new Set<CheckStatus>(['passing', 'warning', 'critical', 'maintenance']);

function status(value: unknown): void {
  if (!STATUSES.has(value)) fail('invalid option: expected one of "passing"|"warning"|"critical"|"maintenance"');
}

const nullishString = nullish(string);

function healthCheck(value: unknown): void {
  const c = object(value);
  field(c, 'Node', string);
  field(c, 'CheckID', string);
  field(c, 'Status', status);
  field(c, 'ServiceID', nullishString);
  field(c, 'ServiceName', nullishString);
}

function node(value: unknown): void {
  const n = object(value);
  field(n, 'Node', string);
  field(n, 'Address', string);
}

function port(value: unknown): void {
  number(value, 0, 65535, true);
}

function meta(value: unknown): void {
  const m = object(value);
  for (const key in m) field(m, key, string);
}

function weight(value: unknown): void {
  number(value, 0);
}

function weights(value: unknown): void {
  const w = object(value);
  field(w, 'Passing', weight);
  field(w, 'Warning', weight);
}

const nullishStringList = nullish(stringList);
const nullishMeta = nullish(meta);
const nullishWeights = nullish(weights);

function service(value: unknown): void {
  const s = object(value);
  field(s, 'ID', string);
  field(s, 'Service', string);
  field(s, 'Tags', nullishStringList);
  field(s, 'Address', nullishString);
  field(s, 'Port', port);
  field(s, 'Meta', nullishMeta);
  field(s, 'Weights', nullishWeights);
}

const nullishChecks = nullish(each(healthCheck));

function healthEntry(value: unknown): void {
  const e = object(value);
  field(e, 'Node', node);
  field(e, 'Service', service);
  field(e, 'Checks', nullishChecks);
}

function catalogServices(value: unknown): void {
  const services = object(value);
  for (const name in services) field(services, name, nullishStringList);
}

/** A ResponseSchema whose check throws ShapeError; the accepted value is the input itself. */
function responseSchema<T>(check: (value: unknown) => void): ResponseSchema<T> {
  return {
    safeParse(value: unknown) {
      at.length = 0;
      try {
        check(value);
        return { success: true, data: value as T };
      } catch (err) {
        if (!(err instanceof ShapeError)) throw err;
        return { success: false, error: { issues: [{ path: err.path, message: err.message }] } };
      }
    },
  };
}

/** GET /v1/catalog/services. */
export const catalogServicesSchema: ResponseSchema<CatalogServices> = responseSchema(catalogServices);

/** GET /v1/health/state/any: every check in the datacenter. */
export const healthStateSchema: ResponseSchema<HealthCheck[]> = responseSchema(each(healthCheck));

/** GET /v1/health/service/<name>: the instances of one service with their checks. */
export const healthServiceSchema: ResponseSchema<HealthEntry[]> = responseSchema(each(healthEntry));

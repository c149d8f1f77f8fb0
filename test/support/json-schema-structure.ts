/**
 * Structural check of a JSON Schema against the draft 2020-12 vocabularies (core, applicator,
 * unevaluated, validation, meta-data, format, content): every keyword is one the draft defines,
 * and its value has the shape the meta-schema requires (schemas where schemas go, non-negative
 * integers for length limits, ECMA-262 regular expressions for patterns, unique strings in
 * `required`, local `$ref`s that resolve). No JSON Schema validator is installed, so the
 * shipped configuration files are validated with the zod schema itself; this check makes sure
 * the generated JSON Schema that editors use is well formed.
 */
export const DRAFT_2020_12 = 'https://json-schema.org/draft/2020-12/schema';

const SCHEMA_VALUED = new Set(['additionalProperties', 'propertyNames', 'items', 'contains', 'not', 'if', 'then', 'else', 'unevaluatedItems', 'unevaluatedProperties', 'contentSchema']);
const SCHEMA_MAPS = new Set(['properties', 'patternProperties', 'dependentSchemas', '$defs']);
const SCHEMA_LISTS = new Set(['allOf', 'anyOf', 'oneOf', 'prefixItems']);
const NUMBERS = new Set(['maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum']);
const COUNTS = new Set(['maxLength', 'minLength', 'maxItems', 'minItems', 'maxContains', 'minContains', 'maxProperties', 'minProperties']);
const BOOLEANS = new Set(['uniqueItems', 'deprecated', 'readOnly', 'writeOnly']);
const STRINGS = new Set(['title', 'description', '$comment', 'format', 'contentEncoding', 'contentMediaType', '$anchor', '$dynamicAnchor', '$id', '$schema', '$dynamicRef']);
const ANY_VALUE = new Set(['const', 'default']);
const TYPES = new Set(['null', 'boolean', 'object', 'array', 'number', 'string', 'integer']);
const OTHERS = new Set(['type', 'enum', 'multipleOf', 'pattern', 'required', 'dependentRequired', 'examples', '$ref', '$vocabulary']);

type Json = { [key: string]: unknown };

/** Every structural problem of `root`, one line each naming the JSON pointer; [] when well formed. */
export function jsonSchemaStructureProblems(root: unknown): string[] {
  const problems: string[] = [];
  if (!isObject(root)) return ['#: the document must be a JSON object'];
  if (root.$schema !== DRAFT_2020_12) problems.push(`#/$schema: must be "${DRAFT_2020_12}" (got ${JSON.stringify(root.$schema)})`);
  checkSchema(root, '#', root, problems);
  return problems;
}

function checkSchema(node: unknown, at: string, root: Json, problems: string[]): void {
  if (typeof node === 'boolean') return;
  if (!isObject(node)) {
    problems.push(`${at}: a schema must be an object or a boolean (got ${JSON.stringify(node)})`);
    return;
  }
  for (const [keyword, value] of Object.entries(node)) {
    const here = `${at}/${keyword}`;
    if (SCHEMA_VALUED.has(keyword)) checkSchema(value, here, root, problems);
    else if (SCHEMA_MAPS.has(keyword)) {
      if (!isObject(value)) problems.push(`${here}: must be an object of schemas`);
      else
        for (const [name, sub] of Object.entries(value)) {
          if (keyword === 'patternProperties') checkPattern(name, `${here} key ${JSON.stringify(name)}`, problems);
          checkSchema(sub, `${here}/${name}`, root, problems);
        }
    } else if (SCHEMA_LISTS.has(keyword)) {
      if (!Array.isArray(value) || value.length === 0) problems.push(`${here}: must be a non-empty array of schemas`);
      else value.forEach((sub, i) => checkSchema(sub, `${here}/${i}`, root, problems));
    } else if (NUMBERS.has(keyword)) {
      if (typeof value !== 'number' || !Number.isFinite(value)) problems.push(`${here}: must be a number`);
    } else if (COUNTS.has(keyword)) {
      if (!Number.isInteger(value) || (value as number) < 0) problems.push(`${here}: must be a non-negative integer`);
    } else if (BOOLEANS.has(keyword)) {
      if (typeof value !== 'boolean') problems.push(`${here}: must be a boolean`);
    } else if (STRINGS.has(keyword)) {
      if (typeof value !== 'string') problems.push(`${here}: must be a string`);
    } else if (ANY_VALUE.has(keyword)) {
      // any JSON value
    } else if (OTHERS.has(keyword)) checkOther(keyword, value, here, root, problems);
    else problems.push(`${here}: "${keyword}" is not a draft 2020-12 keyword`);
  }
  if (Array.isArray(node.required) && isObject(node.properties)) {
    for (const name of node.required) if (typeof name === 'string' && !(name in node.properties)) problems.push(`${at}/required: "${name}" is required but not among the properties`);
  }
}

function checkOther(keyword: string, value: unknown, here: string, root: Json, problems: string[]): void {
  switch (keyword) {
    case 'type': {
      const names = Array.isArray(value) ? value : [value];
      if (names.length === 0 || new Set(names).size !== names.length || !names.every((t) => typeof t === 'string' && TYPES.has(t))) {
        problems.push(`${here}: must be one of ${[...TYPES].join(', ')} or a non-empty array of unique ones (got ${JSON.stringify(value)})`);
      }
      return;
    }
    case 'enum':
    case 'examples':
      if (!Array.isArray(value)) problems.push(`${here}: must be an array`);
      return;
    case 'multipleOf':
      if (typeof value !== 'number' || !(value > 0)) problems.push(`${here}: must be a number greater than 0`);
      return;
    case 'pattern':
      if (typeof value !== 'string') problems.push(`${here}: must be a string`);
      else checkPattern(value, here, problems);
      return;
    case 'required':
      if (!isUniqueStrings(value)) problems.push(`${here}: must be an array of unique strings`);
      return;
    case 'dependentRequired':
      if (!isObject(value) || !Object.values(value).every(isUniqueStrings)) problems.push(`${here}: must map names to arrays of unique strings`);
      return;
    case '$vocabulary':
      if (!isObject(value) || !Object.values(value).every((v) => typeof v === 'boolean')) problems.push(`${here}: must map URIs to booleans`);
      return;
    case '$ref':
      if (typeof value !== 'string') problems.push(`${here}: must be a string`);
      else if (value.startsWith('#') && resolvePointer(root, value) === undefined) problems.push(`${here}: "${value}" does not resolve in this document`);
      return;
  }
}

function checkPattern(pattern: string, here: string, problems: string[]): void {
  try {
    new RegExp(pattern, 'u');
  } catch (err) {
    problems.push(`${here}: not a valid ECMA-262 regular expression: ${(err as Error).message}`);
  }
}

function resolvePointer(root: Json, ref: string): unknown {
  let node: unknown = root;
  for (const raw of ref.slice(1).split('/').slice(1)) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (!isObject(node) && !Array.isArray(node)) return undefined;
    node = (node as Json)[key];
    if (node === undefined) return undefined;
  }
  return node;
}

function isObject(value: unknown): value is Json {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isUniqueStrings(value: unknown): boolean {
  return Array.isArray(value) && value.every((v) => typeof v === 'string') && new Set(value).size === value.length;
}

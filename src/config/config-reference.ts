import type { JsonSchema } from './input-json-schema.js';

/**
 * Renders the Markdown reference of a configuration JSON Schema (from `inputJsonSchema`):
 * one table per top-level section, one row per field (field, type, default, meaning), the
 * fields of nested objects, lists and maps as dotted paths (`listeners[].tls.cert`,
 * `services.<name>.balancer`), and one table per variant of a field whose value is one of
 * several object shapes told apart by `type` (the registry).
 *
 * Where a field has no JSON default, a closing "Default: …" sentence of its description fills
 * the default column, and "Required." marks a field that must be given.
 */
export function renderReferenceTables(schema: JsonSchema, headingLevel: number): string {
  const heading = '#'.repeat(headingLevel);
  const out: string[] = [];
  const properties = objectProperties(schema);
  // An overview of the top-level fields, unless there is only one (its own table follows).
  if (Object.keys(properties).length > 1) {
    out.push(TABLE_HEAD, ...Object.entries(properties).map(([name, field]) => row(name, field, isRequired(schema, name))), '');
  }
  for (const [name, field] of Object.entries(properties)) {
    const variants = objectVariants(field);
    if (variants.length > 0) {
      out.push(`${heading} \`${name}\``, '', meaningOf(field), '');
      for (const variant of variants) {
        out.push(`${heading}# \`${name}\` with \`type: ${variantName(variant)}\``, '', TABLE_HEAD);
        rowsOf(variant, name, out);
        out.push('');
      }
      continue;
    }
    const nested: string[] = [];
    rowsOf(field, name, nested);
    if (nested.length === 0) continue;
    out.push(`${heading} \`${name}\``, '', meaningOf(field), '', TABLE_HEAD, row(name, field, isRequired(schema, name)), ...nested, '');
  }
  return out.join('\n');
}

const TABLE_HEAD = '| field | type | default | meaning |\n|---|---|---|---|';

/** Rows for everything below `node` (not `node` itself), depth first. */
function rowsOf(node: JsonSchema, path: string, out: string[]): void {
  const inner = containerOf(node);
  if (!inner) return;
  const prefix = `${path}${inner.suffix}`;
  for (const [name, field] of Object.entries(objectProperties(inner.schema))) {
    const fieldPath = `${prefix}.${name}`;
    out.push(row(fieldPath, field, isRequired(inner.schema, name)));
    rowsOf(field, fieldPath, out);
  }
}

/** The object whose fields are documented below a field: the field itself, its list items or its map values. */
function containerOf(node: JsonSchema): { schema: JsonSchema; suffix: string } | undefined {
  if (hasProperties(node)) return { schema: node, suffix: '' };
  const items = node.items as JsonSchema | undefined;
  if (node.type === 'array' && items && hasProperties(items)) return { schema: items, suffix: '[]' };
  const values = node.additionalProperties as JsonSchema | boolean | undefined;
  if (node.type === 'object' && typeof values === 'object' && hasProperties(values)) return { schema: values, suffix: '.<name>' };
  return undefined;
}

function hasProperties(node: JsonSchema): boolean {
  return typeof node.properties === 'object' && node.properties !== null && Object.keys(node.properties).length > 0;
}

function objectProperties(node: JsonSchema): Record<string, JsonSchema> {
  return (node.properties ?? {}) as Record<string, JsonSchema>;
}

function isRequired(parent: JsonSchema, name: string): boolean {
  return Array.isArray(parent.required) && parent.required.includes(name);
}

/** The object shapes of a field that is one of several, each with a `type` constant. */
function objectVariants(node: JsonSchema): JsonSchema[] {
  const options = (node.oneOf ?? node.anyOf) as JsonSchema[] | undefined;
  if (!options || !options.every((o) => variantName(o) !== undefined)) return [];
  return options;
}

function variantName(node: JsonSchema): string | undefined {
  const type = objectProperties(node).type;
  return typeof type?.const === 'string' ? type.const : undefined;
}

const DEFAULT_SENTENCE = /\s*Default: (.+?)\.?$/;
const REQUIRED_SENTENCE = /\s*Required\.$/;

function row(path: string, node: JsonSchema, required: boolean): string {
  return `| \`${path}\` | ${cell(typeOf(node))} | ${cell(defaultOf(node, required))} | ${cell(meaningOf(node))} |`;
}

function meaningOf(node: JsonSchema): string {
  const description = typeof node.description === 'string' ? node.description : '';
  return description.replace(DEFAULT_SENTENCE, '').replace(REQUIRED_SENTENCE, '');
}

function defaultOf(node: JsonSchema, required: boolean): string {
  if (node.default !== undefined) return `\`${flow(node.default)}\``;
  const description = typeof node.description === 'string' ? node.description : '';
  const stated = DEFAULT_SENTENCE.exec(description);
  if (stated) return stated[1]!;
  return required ? 'required' : '—';
}

function typeOf(node: JsonSchema): string {
  if (node.title === 'duration' || node.title === 'size') return node.title;
  if (node.const !== undefined) return `\`${flow(node.const)}\``;
  if (Array.isArray(node.enum)) return node.enum.map((v) => `\`${flow(v)}\``).join(' \\| ');
  const variants = objectVariants(node);
  if (variants.length > 0) return variants.map((v) => `object with \`type: ${variantName(v)}\``).join(' or ');
  const options = (node.anyOf ?? node.oneOf) as JsonSchema[] | undefined;
  if (options) return options.map(typeOf).join(' or ');
  if (Array.isArray(node.type)) return node.type.join(' or ');
  switch (node.type) {
    case 'array':
      return `list of ${plural(typeOf((node.items ?? {}) as JsonSchema))}`;
    case 'object': {
      const values = node.additionalProperties;
      if (hasProperties(node) || typeof values !== 'object') return 'object';
      return `map of name → ${typeOf(values as JsonSchema)}`;
    }
    case 'integer':
    case 'number':
      return `${node.type}${range(node)}`;
    case 'string':
    case 'boolean':
      return node.type;
    default:
      return 'any';
  }
}

function plural(type: string): string {
  return /^(object|string|integer|number|boolean)$/.test(type) ? `${type}s` : type;
}

function range(node: JsonSchema): string {
  const min = typeof node.minimum === 'number' && Number.isSafeInteger(node.minimum) && node.minimum > Number.MIN_SAFE_INTEGER ? node.minimum : undefined;
  const max = typeof node.maximum === 'number' && node.maximum < Number.MAX_SAFE_INTEGER ? node.maximum : undefined;
  if (min !== undefined && max !== undefined) return ` ${min}–${max}`;
  if (min !== undefined) return ` ≥ ${min}`;
  if (max !== undefined) return ` ≤ ${max}`;
  return '';
}

/** A value in YAML flow style, as it would be written in the file: `{type: file, watch: true}`, `[GET, HEAD]`. */
function flow(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(flow).join(', ')}]`;
  if (value !== null && typeof value === 'object') {
    return `{${Object.entries(value).map(([k, v]) => `${k}: ${flow(v)}`).join(', ')}}`;
  }
  if (typeof value === 'string') return value === '' || /[:{}[\],#&*!|>'"%@`]|^\s|\s$/.test(value) ? JSON.stringify(value) : value;
  return String(value);
}

/** A Markdown table cell: one line, "|" escaped, and "<" / ">" outside code spans escaped so "<name>" shows as text, not as an HTML tag. */
function cell(text: string): string {
  const escaped = text
    .split('`')
    .map((part, i) => (i % 2 === 1 ? part : part.replace(/</g, '&lt;').replace(/>/g, '&gt;')))
    .join('`');
  return escaped.replace(/\|(?<!\\\|)/g, '\\|').replace(/\n/g, ' ');
}

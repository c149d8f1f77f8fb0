import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { z } from 'zod';
import { ConfigError, formatPath, type ConfigProblem } from './config-error.js';
import { inputJsonSchema } from './input-json-schema.js';
import { isSecretPath, secretShapeOf, type SecretShape } from './secret-paths.js';

/**
 * Parses YAML (JSON is valid YAML) and validates it against a zod schema. Every problem is
 * reported with the file name, the line and column of the offending node, and the field path.
 * A valid document as written (before defaults) is handed to `onDocument`.
 */
export function parseAndValidate<S extends z.ZodType>(file: string, text: string, schema: S, onDocument?: (document: object) => void): z.output<S> {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    throw new ConfigError(
      file,
      doc.errors.map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        return { path: '', message: `YAML syntax error: ${e.message.split('\n')[0]}`, line: pos.line, column: pos.col };
      }),
    );
  }
  const input: unknown = doc.toJS() ?? {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    throw new ConfigError(file, [{ path: '', message: 'must be a YAML mapping of settings at the top level', line: 1, column: 1 }]);
  }
  const result = schema.safeParse(input);
  if (result.success) {
    onDocument?.(input ?? {});
    return result.data;
  }

  const problems: ConfigProblem[] = [];
  for (const issue of result.error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const path = [...issue.path, key];
        problems.push({ path: formatPath(path), message: 'unknown field (check its spelling against the configuration reference)', ...locate(doc, lineCounter, path, true) });
      }
      continue;
    }
    const secret = isSecretPath(issue.path as (string | number)[], secretShape(schema));
    problems.push({ path: formatPath(issue.path), message: describe(issue, valueAt(input, issue.path), secret), ...locate(doc, lineCounter, issue.path, false) });
  }
  problems.sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.column ?? 0) - (b.column ?? 0));
  throw new ConfigError(file, problems);
}

function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let value = root;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}

const SHAPES = new WeakMap<z.ZodType, SecretShape>();

/** Where the secrets of a schema's values are: their values never appear in a problem's message. */
function secretShape(schema: z.ZodType): SecretShape {
  let shape = SHAPES.get(schema);
  if (shape === undefined) {
    shape = secretShapeOf(inputJsonSchema(schema, ''));
    SHAPES.set(schema, shape);
  }
  return shape;
}

function describe(issue: z.core.$ZodIssue, value: unknown, secret: boolean): string {
  if (issue.code === 'invalid_type') {
    if (value === undefined) return `is required (expected ${issue.expected})`;
    const got =
      value === null ? 'null' : Array.isArray(value) ? 'a list' : typeof value === 'object' ? 'a mapping' : secret ? `a ${typeof value} (a secret: value not shown)` : `${typeof value} ${JSON.stringify(value)}`;
    return `must be ${issue.expected === 'object' ? 'a mapping' : issue.expected === 'array' ? 'a list' : `a ${issue.expected}`} (got ${got})`;
  }
  if (issue.code === 'invalid_key' && issue.issues[0]) return issue.issues[0].message;
  if (issue.code === 'invalid_value') return `must be one of ${issue.values.map((v) => JSON.stringify(v)).join(', ')}`;
  return issue.message.replace(/^Invalid input: /, 'must be: ');
}

/** Finds the line and column of the node at `path`, or of its nearest ancestor that exists. */
function locate(doc: Document, lc: LineCounter, path: readonly PropertyKey[], keyOfLast: boolean): { line?: number; column?: number } {
  for (let depth = path.length; depth >= 0; depth--) {
    const sub = path.slice(0, depth) as (string | number)[];
    if (keyOfLast && depth === path.length && depth > 0) {
      const parent = doc.getIn(sub.slice(0, -1), true) as Node | undefined;
      if (isMap(parent)) {
        const pair = parent.items.find((it) => isPair(it) && isScalar(it.key) && it.key.value === sub[sub.length - 1]);
        const keyNode = pair?.key as Node | undefined;
        if (keyNode?.range) return position(lc, keyNode.range[0]);
      }
      continue;
    }
    const node = (depth === 0 ? doc.contents : doc.getIn(sub, true)) as Node | null | undefined;
    if (node && typeof node === 'object' && 'range' in node && node.range) return position(lc, node.range[0]);
  }
  return {};
}

function position(lc: LineCounter, offset: number): { line: number; column: number } {
  const p = lc.linePos(offset);
  return { line: p.line, column: p.col };
}

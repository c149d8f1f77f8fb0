/**
 * Configuration fields kept under an older spelling: still accepted (the schema lists them,
 * marked deprecated), and each use is reported so the operator can move to the new field.
 * One table; `deprecatedFieldUses` walks the document as written (before defaults).
 */

/** A use of a deprecated field in a configuration document. */
export interface DeprecatedFieldUse {
  /** Where it is, e.g. "services.api.tls.servername". */
  readonly field: string;
  /** The field to write instead, e.g. "services.api.tls.serverName". */
  readonly replacement: string;
  /** What to do, for the warning line. */
  readonly message: string;
}

interface DeprecatedField {
  /** Path from the document root; "*" matches any key of a map. */
  readonly path: readonly string[];
  readonly replacement: string;
  readonly how: string;
}

const DEPRECATED_FIELDS: readonly DeprecatedField[] = [
  { path: ['services', '*', 'tls', 'servername'], replacement: 'serverName', how: 'rename it to serverName (same value)' },
  { path: ['registry', 'tls', 'insecureSkipVerify'], replacement: 'verify', how: 'write verify: false instead of insecureSkipVerify: true (and drop insecureSkipVerify: false)' },
];

/** The deprecated fields a configuration document (the parsed YAML, before validation) uses. */
export function deprecatedFieldUses(document: unknown): DeprecatedFieldUse[] {
  const uses: DeprecatedFieldUse[] = [];
  for (const field of DEPRECATED_FIELDS) collect(document, field, 0, [], uses);
  return uses;
}

function collect(node: unknown, field: DeprecatedField, depth: number, at: string[], uses: DeprecatedFieldUse[]): void {
  if (node === null || typeof node !== 'object' || Array.isArray(node)) return;
  const key = field.path[depth]!;
  const keys = key === '*' ? Object.keys(node) : Object.hasOwn(node, key) ? [key] : [];
  for (const k of keys) {
    const child = (node as Record<string, unknown>)[k];
    const path = [...at, k];
    if (depth === field.path.length - 1) {
      const parent = path.slice(0, -1).join('.');
      uses.push({ field: path.join('.'), replacement: `${parent}.${field.replacement}`, message: `${path.join('.')} is deprecated: ${field.how} (${parent}.${field.replacement})` });
    } else {
      collect(child, field, depth + 1, path, uses);
    }
  }
}

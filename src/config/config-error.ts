/** One problem found in a configuration or registry file, located as precisely as the file allows. */
export interface ConfigProblem {
  /** Dotted field path such as `routes[2].match.path`; empty for whole-file problems. */
  path: string;
  message: string;
  line?: number;
  column?: number;
}

/**
 * A file that cannot be used. The message lists every problem as
 * `file:line:column: field.path: what is expected`, one per line.
 */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';

  constructor(
    readonly file: string,
    readonly problems: readonly ConfigProblem[],
  ) {
    super(problems.map((p) => formatProblem(file, p)).join('\n'));
  }
}

export function formatProblem(file: string, p: ConfigProblem): string {
  const where = p.line !== undefined ? `${file}:${p.line}:${p.column ?? 1}` : file;
  return p.path ? `${where}: ${p.path}: ${p.message}` : `${where}: ${p.message}`;
}

/** ["routes", 2, "match", "path"] → "routes[2].match.path" */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out ? `.${String(part)}` : String(part);
  }
  return out;
}

/**
 * Field-name characters (RFC 9110 §5.6.2 tchar), lower case only: HTTP/2 names are lower case
 * (RFC 9113 §8.2.1). 1: allowed, 2: an upper-case letter.
 */
const NAME_CHARS = (() => {
  const table = new Uint8Array(256);
  for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyz") table[c.charCodeAt(0)] = 1;
  for (let c = 65; c <= 90; c++) table[c] = 2;
  return table;
})();

/**
 * Why a decoded field is malformed (RFC 9113 §8.2.1), or null: an empty name or one with a
 * character outside tchar or in upper case; a value with NUL, CR, LF or another control
 * character but HTAB (RFC 9110 §5.5), or starting or ending with a space or tab. Both codec
 * directions check every field with it before a name or value can reach an HTTP/1.1 head,
 * where a CR or LF would start a field or a message of the peer's making.
 */
export function fieldProblem(name: string, value: string): string | null {
  if (name.length === 0) return 'with an empty name';
  for (let i = 0; i < name.length; i++) {
    const kind = name.charCodeAt(i) > 255 ? 0 : NAME_CHARS[name.charCodeAt(i)]!;
    if (kind === 2) return 'whose name is in upper case';
    if (kind === 0) return 'whose name has a character outside RFC 9110 tchar';
  }
  return valueProblem(value);
}

/** Why a field value is malformed (control characters but HTAB, edge white space), or null. */
export function valueProblem(value: string): string | null {
  const n = value.length;
  if (n === 0) return null;
  for (let i = 0; i < n; i++) {
    const c = value.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09) || c === 0x7f) return `whose value has the control character 0x${c.toString(16).padStart(2, '0')}`;
  }
  const first = value.charCodeAt(0);
  const last = value.charCodeAt(n - 1);
  if (first === 0x20 || first === 0x09 || last === 0x20 || last === 0x09) return 'whose value starts or ends with white space';
  return null;
}

/** A token (RFC 9110 §5.6.2), any case: what a method must be. */
export function isToken(s: string): boolean {
  if (s.length === 0) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255 || NAME_CHARS[c] === 0) return false;
  }
  return true;
}

/** Connection-specific fields (RFC 9113 §8.2.2): a message carrying one is malformed. */
export const CONNECTION_SPECIFIC: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade']);

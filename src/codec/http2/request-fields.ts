import { contentLengthValue } from '../../upstream/content-length-value.js';
import { CONNECTION_SPECIFIC, fieldProblem, isToken, valueProblem } from './field-validation.js';

/**
 * The checks of a request's decoded header list that make it well-formed HTTP/2 (RFC 9113
 * §8.2, §8.3.1), and what they read of it. One instance per connection, read right after
 * `check` (nothing is allocated per request here):
 * - pseudo-header fields first, each at most once, only :method, :scheme, :path and
 *   :authority (no :status, no :protocol: extended CONNECT is not offered);
 * - :method a token; CONNECT with :authority and neither :scheme nor :path (the proxy then
 *   answers 501); any other method with :scheme (a scheme's characters) and a :path that is "*"
 *   (OPTIONS only) or starts with "/", without white space or control characters, since it
 *   becomes an HTTP/1.1 request line;
 * - every regular field as fieldProblem() wants it (lower-case tchar names, no CR, LF, NUL or
 *   other control character but HTAB in values, no edge white space), no connection-specific
 *   field, TE only "trailers", Content-Length a number that every repeat agrees with.
 */
export class RequestFields {
  method = '';
  path = '';
  scheme = '';
  authority: string | undefined = undefined;
  /** Content-Length, or -1 when absent. */
  contentLength = -1;
  /** Pseudo-header fields at the list's start (their names and values take 2× this many slots). */
  pseudoCount = 0;

  /** Why the request list `fields` is malformed, or null (then the properties above describe it). */
  check(fields: readonly string[]): string | null {
    this.method = '';
    this.path = '';
    this.scheme = '';
    this.authority = undefined;
    this.contentLength = -1;
    let pseudo = 0;
    let i = 0;
    for (; i < fields.length; i += 2) {
      const name = fields[i]!;
      if (name.charCodeAt(0) !== 58 /* : */) break;
      const value = fields[i + 1]!;
      pseudo++;
      switch (name) {
        case ':method':
          if (this.method !== '') return 'with :method twice';
          if (!isToken(value)) return 'whose :method is not a token';
          this.method = value;
          break;
        case ':path':
          if (this.path !== '') return 'with :path twice';
          if (value === '') return 'with an empty :path';
          if (!pathCharacters(value)) return 'whose :path has white space or a control character';
          this.path = value;
          break;
        case ':scheme':
          if (this.scheme !== '') return 'with :scheme twice';
          if (!schemeCharacters(value)) return 'whose :scheme is not a URI scheme';
          this.scheme = value;
          break;
        case ':authority':
          if (this.authority !== undefined) return 'with :authority twice';
          if (valueProblem(value) !== null || value.indexOf(' ') >= 0) return 'whose :authority has white space or a control character';
          this.authority = value;
          break;
        default:
          return `with the pseudo-header field ${name}, which a request may not carry`;
      }
    }
    this.pseudoCount = pseudo;
    if (this.method === '') return 'without :method';
    if (this.method === 'CONNECT') {
      if (this.scheme !== '' || this.path !== '') return 'CONNECT with :scheme or :path';
      if (this.authority === undefined) return 'CONNECT without :authority';
    } else {
      if (this.scheme === '') return 'without :scheme';
      if (this.path === '') return 'without :path';
      const first = this.path.charCodeAt(0);
      if (first !== 47 /* / */ && !(this.path === '*' && this.method === 'OPTIONS')) return 'whose :path is neither "/…" nor "*" for OPTIONS';
    }
    for (; i < fields.length; i += 2) {
      const name = fields[i]!;
      const value = fields[i + 1]!;
      if (name.charCodeAt(0) === 58) return `with the pseudo-header field ${name} after a regular field`;
      const problem = regularFieldProblem(name, value);
      if (problem !== null) return problem;
      if (name === 'content-length') {
        const length = contentLengthValue(value);
        if (length === -1 || (this.contentLength !== -1 && this.contentLength !== length)) return `with an invalid Content-Length ${JSON.stringify(value)}`;
        this.contentLength = length;
      }
    }
    return null;
  }
}

/** Why a trailer list is malformed (any pseudo-header field, or a field as regularFieldProblem finds it), or null. */
export function trailerProblem(fields: readonly string[]): string | null {
  for (let i = 0; i < fields.length; i += 2) {
    const name = fields[i]!;
    if (name.charCodeAt(0) === 58) return `with the pseudo-header field ${name} in trailers`;
    const problem = regularFieldProblem(name, fields[i + 1]!);
    if (problem !== null) return problem;
  }
  return null;
}

function regularFieldProblem(name: string, value: string): string | null {
  const problem = fieldProblem(name, value);
  if (problem !== null) return `with a field ${JSON.stringify(name)} ${problem}`;
  if (CONNECTION_SPECIFIC.has(name)) return `with the connection-specific field ${name}`;
  if (name === 'te' && value !== 'trailers') return 'with TE other than "trailers"';
  return null;
}

/** :path bytes: visible ASCII and above (no space, no control character, no DEL). */
function pathCharacters(path: string): boolean {
  for (let i = 0; i < path.length; i++) {
    const c = path.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return false;
  }
  return true;
}

/** RFC 3986 §3.1: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ). */
function schemeCharacters(scheme: string): boolean {
  if (scheme.length === 0) return false;
  for (let i = 0; i < scheme.length; i++) {
    const c = scheme.charCodeAt(i) | 0x20;
    const alpha = c >= 97 && c <= 122;
    if (alpha) continue;
    const d = scheme.charCodeAt(i);
    if (i > 0 && ((d >= 48 && d <= 57) || d === 43 || d === 45 || d === 46)) continue;
    return false;
  }
  return true;
}

/**
 * Request path normalisation, applied before route matching; the normalised path is what is
 * forwarded, so the upstream sees the path the route was chosen for.
 *
 * Policy (RFC 3986 §6.2.2 plus what upstream frameworks are known to read differently):
 * - percent-encoded unreserved characters (ALPHA DIGIT "-" "." "_" "~") are decoded, so
 *   "/%61dmin" and "/%2e%2e/" are read as "/admin" and "/../"; other escapes are kept, hex
 *   upper-cased; "%25" stays "%25" (no double decoding);
 * - a malformed escape ("%zz", "%4") or an encoded NUL is rejected;
 * - an encoded slash or backslash (%2F, %5C) is rejected, or kept encoded and never treated
 *   as a separator (`proxy.encodedSlashes: keep`);
 * - a raw backslash is a separator, as browsers and several servers read it;
 * - runs of "/" collapse to one;
 * - "." and ".." segments are removed; ".." at the root stays at the root;
 * - a dot segment carrying parameters ("..;x", ".;", "..%3B") is rejected: some servers strip
 *   the parameters and then read it as "..".
 *
 * The common path needs none of this: one scan without allocation decides, and then the
 * input string itself is returned.
 */

/** Why a path was refused. */
export interface PathRejection {
  readonly reason: string;
}

const MALFORMED_ESCAPE: PathRejection = { reason: 'the path has a malformed percent-escape' };
const ENCODED_NUL: PathRejection = { reason: 'the path has an encoded NUL (%00)' };
const ENCODED_SLASH: PathRejection = { reason: 'the path has an encoded "/" or "\\" (%2F, %5C)' };
const DOT_SEGMENT_PARAMS: PathRejection = { reason: 'the path has a dot segment with parameters (such as "..;")' };

const SLASH = 47;
const DOT = 46;
const PERCENT = 37;
const BACKSLASH = 92;
const SEMICOLON = 59;

/** Whether `path` (no query) may change under normalisation. No allocation. */
export function needsNormalization(path: string): boolean {
  const n = path.length;
  for (let i = 0; i < n; i++) {
    const c = path.charCodeAt(i);
    if (c === PERCENT || c === BACKSLASH) return true;
    if (c !== SLASH) continue;
    const next = path.charCodeAt(i + 1);
    if (next === SLASH) return true;
    if (next !== DOT) continue;
    // "/." then end, "/", ";" or a second "." (then end, "/" or ";"): a dot segment.
    const after = path.charCodeAt(i + 2);
    if (Number.isNaN(after) || after === SLASH || after === SEMICOLON) return true;
    if (after === DOT) {
      const third = path.charCodeAt(i + 3);
      if (Number.isNaN(third) || third === SLASH || third === SEMICOLON) return true;
    }
  }
  return false;
}

/**
 * The normalised form of `path` (starts with "/", no query), or why it is refused. Returns
 * `path` itself when nothing changes.
 */
export function normalizePath(path: string, keepEncodedSlashes: boolean): string | PathRejection {
  if (!needsNormalization(path)) return path;
  const decoded = decodeUnreserved(path, keepEncodedSlashes);
  if (typeof decoded !== 'string') return decoded;
  return removeDotSegments(decoded);
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 65 && c <= 70) return c - 55;
  if (c >= 97 && c <= 102) return c - 87;
  return -1;
}

function isUnreserved(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || (c >= 48 && c <= 57) || c === 45 || c === DOT || c === 95 || c === 126;
}

const HEX = '0123456789ABCDEF';

/** Decodes escapes of unreserved characters, upper-cases the others, turns "\" into "/". */
function decodeUnreserved(path: string, keepEncodedSlashes: boolean): string | PathRejection {
  let out = '';
  const n = path.length;
  for (let i = 0; i < n; i++) {
    const c = path.charCodeAt(i);
    if (c === BACKSLASH) {
      out += '/';
    } else if (c === PERCENT) {
      const hi = hexValue(path.charCodeAt(i + 1));
      const lo = hexValue(path.charCodeAt(i + 2));
      if (hi < 0 || lo < 0) return MALFORMED_ESCAPE;
      const value = hi * 16 + lo;
      i += 2;
      if (value === 0) return ENCODED_NUL;
      if (value === SLASH || value === BACKSLASH) {
        if (!keepEncodedSlashes) return ENCODED_SLASH;
      } else if (isUnreserved(value)) {
        out += String.fromCharCode(value);
        continue;
      }
      out += `%${HEX[hi]}${HEX[lo]}`;
    } else {
      out += path[i];
    }
  }
  return out;
}

/** ".;x", "..;x", or the same with ";" encoded (escapes are upper-cased by now). */
function isDotSegmentWithParams(s: string): boolean {
  return s.startsWith('.;') || s.startsWith('..;') || s.startsWith('.%3B') || s.startsWith('..%3B');
}

/** RFC 3986 §5.2.4 on a path whose only separators are "/", plus collapsing empty segments. */
function removeDotSegments(path: string): string | PathRejection {
  const segments = path.split('/');
  const out: string[] = [];
  // segments[0] is "" (the path starts with "/"). A trailing "/" (or a trailing dot segment)
  // leaves the result ending in "/".
  let trailingSlash = false;
  for (let i = 1; i < segments.length; i++) {
    const s = segments[i]!;
    const last = i === segments.length - 1;
    if (s === '') {
      if (last) trailingSlash = true;
      continue;
    }
    if (s === '.') {
      if (last) trailingSlash = true;
      continue;
    }
    if (s === '..') {
      out.pop();
      if (last) trailingSlash = true;
      continue;
    }
    if (s.charCodeAt(0) === DOT && isDotSegmentWithParams(s)) return DOT_SEGMENT_PARAMS;
    out.push(s);
    trailingSlash = false;
  }
  if (out.length === 0) return '/';
  const joined = `/${out.join('/')}`;
  return trailingSlash ? `${joined}/` : joined;
}

import type { IncomingHttpHeaders } from 'node:http';

/**
 * Fields of which node:http keeps the first and drops repeats (its `matchKnownFields`): the
 * header object of a request parsed by our codec reads exactly like an IncomingMessage's, so
 * validation, routing and every filter see one meaning whatever the codec.
 */
const FIRST_WINS = new Set([
  'content-type', 'content-length', 'user-agent', 'referer', 'host', 'authorization', 'proxy-authorization',
  'if-modified-since', 'if-unmodified-since', 'from', 'location', 'max-forwards', 'retry-after', 'etag',
  'last-modified', 'server', 'age', 'expires',
]);

/**
 * The lower-case header object of a raw [name, value, ...] list, with node:http's rules for
 * repeats: the fields above keep their first value, `set-cookie` becomes an array, `cookie`
 * values are joined with "; " and any other repeat with ", ". `start`: the index of the first
 * name to take (an HTTP/2 list's regular fields follow its pseudo-header fields).
 */
export function headerObject(raw: readonly string[], start = 0): IncomingHttpHeaders {
  const headers: Record<string, string | string[]> = {};
  for (let i = start; i < raw.length; i += 2) {
    const name = lowerCaseName(raw[i]!);
    const value = raw[i + 1]!;
    const seen = headers[name];
    if (seen === undefined) {
      headers[name] = name === 'set-cookie' ? [value] : value;
    } else if (name === 'set-cookie') {
      (seen as string[]).push(value);
    } else if (!FIRST_WINS.has(name)) {
      headers[name] = `${seen as string}${name === 'cookie' ? '; ' : ', '}${value}`;
    }
  }
  return headers as IncomingHttpHeaders;
}

/** Lower-cases a field name, allocating only when it has an upper-case letter. */
export function lowerCaseName(name: string): string {
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) return name.toLowerCase();
  }
  return name;
}

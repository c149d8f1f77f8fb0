import { HEADER_RULE_VARIABLES, type HeaderRuleVariable } from '../config/schema.js';
import type { FilterExchange } from './route-filter.js';

/** Variable ids in a compiled template (negative numbers; literal parts are strings). */
const CLIENT_ADDRESS = -1;
const REQUEST_ID = -2;
const ROUTE = -3;
const HOST = -4;

const VARIABLE_IDS: Record<HeaderRuleVariable, number> = { clientAddress: CLIENT_ADDRESS, requestId: REQUEST_ID, route: ROUTE, host: HOST };

/**
 * A header rule value compiled once, at route table build: literal text and `${variable}`
 * references (the schema has checked them). A value without variables is a plain string and
 * costs nothing per request; one with variables is one concatenation per request.
 *
 * Variables: `clientAddress` (the client's address as resolved for the request: the peer, or
 * behind a trusted proxy the address it forwarded), `requestId`, `route` (the route's name, with
 * characters not allowed in a header value replaced by "_"), `host` (the request's Host,
 * without the port, as matched).
 */
export class HeaderValueTemplate {
  /** The value when it has no variables, else null. */
  readonly constant: string | null;
  private readonly parts: readonly (string | number)[];

  constructor(
    source: string,
    private readonly routeName: string,
  ) {
    const parts: (string | number)[] = [];
    let literal = '';
    let i = 0;
    while (i < source.length) {
      const c = source[i]!;
      if (c === '$' && source[i + 1] === '$') {
        literal += '$';
        i += 2;
      } else if (c === '$' && source[i + 1] === '{') {
        const end = source.indexOf('}', i);
        const name = source.slice(i + 2, end) as HeaderRuleVariable;
        if (!HEADER_RULE_VARIABLES.includes(name)) throw new Error(`unknown header rule variable "\${${name}}"`);
        if (literal !== '') parts.push(literal);
        literal = '';
        parts.push(VARIABLE_IDS[name]);
        i = end + 1;
      } else {
        literal += c;
        i++;
      }
    }
    if (literal !== '' || parts.length === 0) parts.push(literal);
    this.parts = parts;
    this.constant = parts.length === 1 && typeof parts[0] === 'string' ? parts[0] : null;
  }

  /** The value for one request. */
  render(x: FilterExchange): string {
    if (this.constant !== null) return this.constant;
    let out = '';
    const parts = this.parts;
    for (let i = 0; i < parts.length; i++) {
      const p = parts[i]!;
      if (typeof p === 'string') out += p;
      else if (p === CLIENT_ADDRESS) out += x.clientAddress;
      else if (p === REQUEST_ID) out += x.requestId;
      else if (p === ROUTE) out += this.routeName;
      else out += hostWithoutPort(x.req.headers.host);
    }
    return out;
  }
}

/** The Host header without its port ("[::1]:80" → "[::1]"), or "" without one. */
function hostWithoutPort(host: string | undefined): string {
  if (host === undefined) return '';
  const colon = host.lastIndexOf(':');
  if (colon < 0 || host.indexOf(']', colon) > 0) return host;
  return host.slice(0, colon);
}

/** A route name as a header value: characters outside visible ASCII and space become "_". */
export function headerSafe(text: string): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    out += (c >= 0x20 && c < 0x7f) || c === 0x09 ? text[i] : '_';
  }
  return out;
}

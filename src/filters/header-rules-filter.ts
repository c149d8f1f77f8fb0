import type { HeaderEditsConfig, HeaderRulesConfig } from '../config/schema.js';
import { HeaderValueTemplate, headerSafe } from './header-value-template.js';
import type { FilterExchange, FilterRefusal, RequestFilter, ResponseFilter } from './route-filter.js';

/** One direction's edits, compiled: lower-case names, values as templates. */
class HeaderEdits {
  /** Names removed or set (set replaces): every header of these names is dropped first. */
  private readonly dropped: readonly string[];
  private readonly setNames: readonly string[];
  private readonly setValues: readonly HeaderValueTemplate[];
  private readonly addNames: readonly string[];
  private readonly addValues: readonly HeaderValueTemplate[];
  readonly empty: boolean;

  constructor(config: HeaderEditsConfig, routeName: string) {
    this.setNames = Object.keys(config.set);
    this.setValues = Object.values(config.set).map((v) => new HeaderValueTemplate(v, routeName));
    this.addNames = Object.keys(config.add);
    this.addValues = Object.values(config.add).map((v) => new HeaderValueTemplate(v, routeName));
    this.dropped = [...new Set([...config.remove, ...this.setNames])];
    this.empty = this.dropped.length === 0 && this.addNames.length === 0;
  }

  /** Applies the edits to a flat [name, value, ...] list in place. */
  apply(x: FilterExchange, headers: string[]): void {
    if (this.dropped.length > 0) removeNamed(headers, this.dropped);
    for (let i = 0; i < this.setNames.length; i++) headers.push(this.setNames[i]!, this.setValues[i]!.render(x));
    for (let i = 0; i < this.addNames.length; i++) headers.push(this.addNames[i]!, this.addValues[i]!.render(x));
  }
}

/**
 * A route's header rules: remove, then set (replace), then add (append) headers on the request
 * sent upstream and on the response sent to the client. Runs after the proxy's own header
 * handling, on the lists it built, so it sees what is actually sent; the headers it may not
 * touch (hop-by-hop, framing, forwarding, Via, trace context, the request id) are refused by
 * the configuration schema (config/protected-headers.ts).
 */
export class HeaderRulesFilter implements RequestFilter, ResponseFilter {
  private readonly requestEdits: HeaderEdits;
  private readonly responseEdits: HeaderEdits;

  constructor(config: HeaderRulesConfig, routeName: string) {
    const safeName = headerSafe(routeName);
    this.requestEdits = new HeaderEdits(config.request, safeName);
    this.responseEdits = new HeaderEdits(config.response, safeName);
  }

  get editsRequest(): boolean {
    return !this.requestEdits.empty;
  }

  get editsResponse(): boolean {
    return !this.responseEdits.empty;
  }

  onRequest(x: FilterExchange, headers: string[]): FilterRefusal | null {
    this.requestEdits.apply(x, headers);
    return null;
  }

  onResponse(x: FilterExchange, headers: string[]): void {
    this.responseEdits.apply(x, headers);
  }
}

/** Removes every pair whose name is one of `lowerNames` (compared case-insensitively), compacting in place. */
function removeNamed(headers: string[], lowerNames: readonly string[]): void {
  let to = 0;
  for (let from = 0; from < headers.length; from += 2) {
    const name = headers[from]!;
    let drop = false;
    for (let k = 0; k < lowerNames.length; k++) {
      if (equalsLowerCase(name, lowerNames[k]!)) {
        drop = true;
        break;
      }
    }
    if (drop) continue;
    if (to !== from) {
      headers[to] = name;
      headers[to + 1] = headers[from + 1]!;
    }
    to += 2;
  }
  headers.length = to;
}

/** Whether `name` equals the lower-case `lower`, ignoring ASCII case, without allocating. */
function equalsLowerCase(name: string, lower: string): boolean {
  if (name.length !== lower.length) return false;
  for (let i = 0; i < name.length; i++) {
    let c = name.charCodeAt(i);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== lower.charCodeAt(i)) return false;
  }
  return true;
}

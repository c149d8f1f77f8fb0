import type { FilterExchange, FilterRefusal, RequestFilter } from './route-filter.js';
import { TraceIdSource } from './trace-id-source.js';

/** Length of a version-00 traceparent: "00-" + 32 + "-" + 16 + "-" + 2. */
const TRACEPARENT_LENGTH = 55;

/**
 * W3C trace context (https://www.w3.org/TR/trace-context/).
 *
 * Without span export the proxy records no span of its own, so a request with a valid
 * `traceparent` keeps it, its flags (sampled or not) and its `tracestate` unchanged. With span
 * export (`participate`) the proxy is a participant: it sends upstream a traceparent with the
 * same trace id and flags and its own span id as parent id, keeps `tracestate`, and records
 * the caller's span id as its span's parent.
 *
 * A request without a traceparent, or with one that does not parse (several, a bad length or
 * character, an all-zero id, version ff), starts a trace: a new trace id and parent id with the
 * configured sampled flag, and any `tracestate` is dropped (the spec ties it to the
 * traceparent it came with). The trace id goes to the access log line (`traceId`).
 */
export class TraceContextFilter implements RequestFilter {
  private readonly ids = new TraceIdSource();
  private readonly flags: string;

  constructor(
    private readonly startSampled: boolean,
    private readonly participate: boolean,
  ) {
    this.flags = startSampled ? '01' : '00';
  }

  onRequest(x: FilterExchange, headers: string[]): FilterRefusal | null {
    const incoming = x.req.headers.traceparent;
    if (typeof incoming === 'string' && isValidTraceparent(incoming)) {
      const traceId = incoming.slice(3, 35);
      x.traceId = traceId;
      if (this.participate) {
        const flags = incoming.slice(53, 55);
        const spanId = this.ids.next(8);
        x.spanId = spanId;
        x.parentSpanId = incoming.slice(36, 52);
        x.sampled = (parseInt(flags, 16) & 1) === 1;
        setTraceparent(headers, `00-${traceId}-${spanId}-${flags}`);
      }
      return null;
    }
    if (incoming !== undefined || x.req.headers.tracestate !== undefined) removeTraceHeaders(headers);
    const traceId = this.ids.next(16);
    const spanId = this.ids.next(8);
    x.traceId = traceId;
    if (this.participate) {
      x.spanId = spanId;
      x.parentSpanId = '';
      x.sampled = this.startSampled;
    }
    headers.push('traceparent', `00-${traceId}-${spanId}-${this.flags}`);
    return null;
  }
}

/**
 * Whether a traceparent value parses: version (2 hex, not "ff"), trace id (32 hex, not all
 * zeros), parent id (16 hex, not all zeros), flags (2 hex). A version above 00 may carry more
 * after a "-"; version 00 has exactly 55 characters. Lower-case hex only, as the spec requires.
 */
export function isValidTraceparent(value: string): boolean {
  if (value.length < TRACEPARENT_LENGTH) return false;
  if (value.charCodeAt(2) !== 45 || value.charCodeAt(35) !== 45 || value.charCodeAt(52) !== 45) return false;
  if (!isHex(value, 0, 2) || !isHex(value, 3, 35) || !isHex(value, 36, 52) || !isHex(value, 53, 55)) return false;
  const version = value.slice(0, 2);
  if (version === 'ff') return false;
  if (version === '00' ? value.length !== TRACEPARENT_LENGTH : value.length > TRACEPARENT_LENGTH && value.charCodeAt(TRACEPARENT_LENGTH) !== 45) return false;
  return !isZeros(value, 3, 35) && !isZeros(value, 36, 52);
}

function isHex(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (!((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

function isZeros(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) if (s.charCodeAt(i) !== 48) return false;
  return true;
}

/** Drops traceparent and tracestate pairs from a flat header list, in place. */
function removeTraceHeaders(headers: string[]): void {
  let to = 0;
  for (let from = 0; from < headers.length; from += 2) {
    const name = headers[from]!;
    if ((name.length === 11 || name.length === 10) && isTraceHeader(name)) continue;
    if (to !== from) {
      headers[to] = name;
      headers[to + 1] = headers[from + 1]!;
    }
    to += 2;
  }
  headers.length = to;
}

function isTraceHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return lower === 'traceparent' || lower === 'tracestate';
}

/** Replaces the value of the traceparent pair in a flat header list (there is exactly one: it was valid). */
function setTraceparent(headers: string[], value: string): void {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!;
    if (name.length === 11 && name.toLowerCase() === 'traceparent') {
      headers[i + 1] = value;
      return;
    }
  }
  headers.push('traceparent', value);
}

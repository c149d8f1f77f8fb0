import { fieldNamed } from '../codec/field-named.js';
import { connectionTokens, HOP_BY_HOP } from './hop-by-hop.js';

/**
 * Raised for an upstream response whose framing is ambiguous: the proxy answers 502 and drops
 * the upstream connection instead of passing on a message the client could read differently.
 */
export class UpstreamFramingError extends Error {
  readonly code = 'SWITCHYARD_UPSTREAM_FRAMING';
}

/**
 * Which fields of an upstream response head pass to the client: the result of
 * selectClientFields, read before its next call (one selection serves the process: one event
 * loop, and the caller uses it at once).
 */
export interface ClientFieldSelection {
  /** passes[i] is 1 when field i (raw[2i], raw[2i + 1]) passes. */
  passes: Uint8Array;
  /** The request id field must be added: the upstream sent none, or its own is dropped (named in Connection). */
  addRequestId: boolean;
  /** Bytes of the passed fields as a head writes them: `name: value\r\n` each. */
  passedBytes: number;
}

const selection: ClientFieldSelection = { passes: new Uint8Array(64), addRequestId: false, passedBytes: 0 };

/**
 * Selects the fields of undici's raw response headers ([name, value, ...] as Buffers) that pass
 * to the client: not hop-by-hop, not named in Connection. Throws UpstreamFramingError when the
 * response has several Content-Length fields, a Content-Length that is not a number, both
 * Content-Length and Transfer-Encoding, or a Transfer-Encoding other than "chunked" (the body
 * would reach the client re-framed and still coded).
 *
 * Names are matched on their bytes, ignoring case (fieldNamed), and no string is made for a
 * field except a Connection value that names more than the usual tokens: lower-casing every
 * name and probing a Set with it made and hashed a string per field (about 1 % of a GET's CPU,
 * docs/performance.md "Third pass").
 */
export function selectClientFields(raw: readonly Buffer[], requestIdHeader: string): ClientFieldSelection {
  const fields = raw.length >> 1;
  if (selection.passes.length < fields) selection.passes = new Uint8Array(fields * 2);
  const passes = selection.passes;
  let extraHop: Set<string> | null = null;
  let sawRequestId = false;
  let contentLengths = 0;
  let transferEncoding = false;
  let passedBytes = 0;
  for (let f = 0; f < fields; f++) {
    const name = raw[2 * f]!;
    const length = name.length;
    passes[f] = 0;
    if (length === 14 && fieldNamed(name, 'content-length')) {
      contentLengths++;
      if (contentLengths > 1 || !isDigits(raw[2 * f + 1]!)) throw new UpstreamFramingError('the upstream response has an invalid or repeated Content-Length');
    } else if (length === 17 && fieldNamed(name, 'transfer-encoding')) {
      if (transferEncoding || raw[2 * f + 1]!.toString('latin1').trim().toLowerCase() !== 'chunked') {
        throw new UpstreamFramingError('the upstream response has a Transfer-Encoding other than "chunked"');
      }
      transferEncoding = true;
    }
    if (length === 10 && fieldNamed(name, 'connection')) {
      const value = raw[2 * f + 1]!;
      // The usual values name nothing beyond HOP_BY_HOP: no string is made for them.
      if (fieldNamed(value, 'keep-alive') || fieldNamed(value, 'close')) continue;
      const tokens = connectionTokens([value.toString('latin1')]);
      if (tokens !== null) {
        if (extraHop === null) extraHop = tokens;
        else for (const t of tokens) extraHop.add(t);
      }
      continue;
    }
    if (isHopByHop(name)) continue;
    if (length === requestIdHeader.length && fieldNamed(name, requestIdHeader)) sawRequestId = true;
    passes[f] = 1;
    passedBytes += length + raw[2 * f + 1]!.length + 4;
  }
  if (transferEncoding && contentLengths > 0) throw new UpstreamFramingError('the upstream response has both Content-Length and Transfer-Encoding');
  if (extraHop !== null) {
    for (let f = 0; f < fields; f++) {
      if (passes[f] === 1 && extraHop.has(raw[2 * f]!.toString('latin1').toLowerCase())) {
        passes[f] = 0;
        passedBytes -= raw[2 * f]!.length + raw[2 * f + 1]!.length + 4;
      }
    }
    // The upstream may have named the request id header in Connection: the id is still echoed.
    selection.addRequestId = !sawRequestId || extraHop.has(requestIdHeader);
  } else {
    selection.addRequestId = !sawRequestId;
  }
  selection.passedBytes = passedBytes;
  return selection;
}

/**
 * The fields selectClientFields passes, as the flat string list for `writeHead`, with the
 * request id field added when the upstream did not send one. Throws UpstreamFramingError as
 * selectClientFields does.
 */
export function buildClientHeaders(raw: readonly Buffer[], requestIdHeader: string, requestId: string): string[] {
  const { passes, addRequestId } = selectClientFields(raw, requestIdHeader);
  const out: string[] = [];
  const fields = raw.length >> 1;
  for (let f = 0; f < fields; f++) if (passes[f] === 1) out.push(raw[2 * f]!.toString('latin1'), raw[2 * f + 1]!.toString('latin1'));
  if (addRequestId) out.push(requestIdHeader, requestId);
  return out;
}

/** HOP_BY_HOP by name length: the names a field of that length may be. */
const HOP_BY_HOP_BY_LENGTH: readonly (readonly string[] | undefined)[] = (() => {
  const byLength: string[][] = [];
  for (const name of HOP_BY_HOP) (byLength[name.length] ??= []).push(name);
  return byLength;
})();

/** Whether a field name (bytes, any case) is one of HOP_BY_HOP. */
function isHopByHop(name: Buffer): boolean {
  const candidates = HOP_BY_HOP_BY_LENGTH[name.length];
  if (candidates === undefined) return false;
  for (let i = 0; i < candidates.length; i++) if (fieldNamed(name, candidates[i]!)) return true;
  return false;
}

function isDigits(value: Buffer): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c < 48 || c > 57) return false;
  }
  return true;
}

/** Fields never passed on as trailers (RFC 9110 §6.5.1: framing, routing, connection). */
const NOT_TRAILERS = new Set(['content-length', 'content-type', 'content-encoding', 'host', 'authorization', 'set-cookie', 'cache-control', 'expect', 'max-forwards', 'pragma', 'range']);

/**
 * The upstream's trailers as the object `res.addTrailers` takes, without hop-by-hop fields and
 * fields that must not be trailers. undici hands HTTP/1.1 trailers as a raw [name, value, ...]
 * list of Buffers and HTTP/2 trailers as an object.
 */
export function buildClientTrailers(trailers: RawTrailers): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  if (Array.isArray(trailers)) {
    for (let i = 0; i < trailers.length; i += 2) {
      const name = latin1(trailers[i]!).toLowerCase();
      if (keepsTrailer(name)) addField(out, name, latin1(trailers[i + 1]!));
    }
    return out;
  }
  for (const name in trailers) {
    const value = (trailers as Record<string, string | string[] | undefined>)[name];
    if (value !== undefined && keepsTrailer(name)) out[name] = value;
  }
  return out;
}

/** Trailers as undici reports them: a raw list (HTTP/1.1) or an object (HTTP/2). */
export type RawTrailers = readonly (Buffer | string)[] | Record<string, string | string[] | undefined>;

function latin1(value: Buffer | string): string {
  return typeof value === 'string' ? value : value.toString('latin1');
}

/** Whether a trailer field (lower-case name) may be passed on, either way through the proxy. */
export function keepsTrailer(name: string): boolean {
  return name.charCodeAt(0) !== 58 /* : */ && !HOP_BY_HOP.has(name) && !NOT_TRAILERS.has(name);
}

function addField(out: Record<string, string | string[]>, name: string, value: string): void {
  const existing = out[name];
  if (existing === undefined) out[name] = value;
  else if (Array.isArray(existing)) existing.push(value);
  else out[name] = [existing, value];
}

/** The grpc-status of a response's headers (a trailers-only gRPC response), or -1 without one. */
export function grpcStatusIn(raw: readonly Buffer[]): number {
  for (let i = 0; i < raw.length; i += 2) {
    if (fieldNamed(raw[i]!, 'grpc-status')) {
      const status = Number(raw[i + 1]!.toString('latin1'));
      return Number.isInteger(status) && status >= 0 ? status : -1;
    }
  }
  return -1;
}

import { connectionTokens, HOP_BY_HOP } from './hop-by-hop.js';

/**
 * Raised for an upstream response whose framing is ambiguous: the proxy answers 502 and drops
 * the upstream connection instead of passing on a message the client could read differently.
 */
export class UpstreamFramingError extends Error {
  readonly code = 'SWITCHYARD_UPSTREAM_FRAMING';
}

/**
 * Converts undici's raw response headers ([name, value, ...] as Buffers) into the flat string
 * list for `res.writeHead`, dropping hop-by-hop headers and those named in Connection. Adds the
 * request id header when the upstream did not send one. Throws UpstreamFramingError when the
 * response has several Content-Length fields, a Content-Length that is not a number, both
 * Content-Length and Transfer-Encoding, or a Transfer-Encoding other than "chunked" (the body
 * would reach the client re-framed and still coded).
 */
export function buildClientHeaders(raw: readonly Buffer[], requestIdHeader: string, requestId: string): string[] {
  const out: string[] = [];
  let extraHop: Set<string> | null = null;
  let sawRequestId = false;
  let contentLengths = 0;
  let transferEncoding = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1');
    const lower = name.toLowerCase();
    if (lower === 'content-length') {
      contentLengths++;
      if (contentLengths > 1 || !isDigits(raw[i + 1]!)) throw new UpstreamFramingError('the upstream response has an invalid or repeated Content-Length');
    } else if (lower === 'transfer-encoding') {
      if (transferEncoding || raw[i + 1]!.toString('latin1').trim().toLowerCase() !== 'chunked') {
        throw new UpstreamFramingError('the upstream response has a Transfer-Encoding other than "chunked"');
      }
      transferEncoding = true;
    }
    if (lower === 'connection') {
      const tokens = connectionTokens([raw[i + 1]!.toString('latin1')]);
      if (tokens !== null) {
        if (extraHop === null) extraHop = tokens;
        else for (const t of tokens) extraHop.add(t);
      }
      continue;
    }
    if (HOP_BY_HOP.has(lower)) continue;
    if (lower === requestIdHeader) sawRequestId = true;
    out.push(name, raw[i + 1]!.toString('latin1'));
  }
  if (transferEncoding && contentLengths > 0) throw new UpstreamFramingError('the upstream response has both Content-Length and Transfer-Encoding');
  if (extraHop !== null) {
    const filtered: string[] = [];
    for (let i = 0; i < out.length; i += 2) {
      if (!extraHop.has(out[i]!.toLowerCase())) filtered.push(out[i]!, out[i + 1]!);
    }
    // The upstream may have named the request id header in Connection: the id is still echoed.
    if (!sawRequestId || extraHop.has(requestIdHeader)) filtered.push(requestIdHeader, requestId);
    return filtered;
  }
  if (!sawRequestId) out.push(requestIdHeader, requestId);
  return out;
}

function isDigits(value: Buffer): boolean {
  if (value.length === 0) return false;
  for (let i = 0; i < value.length; i++) {
    const c = value[i]!;
    if (c < 48 || c > 57) return false;
  }
  return true;
}

import { connectionTokens, HOP_BY_HOP } from './hop-by-hop.js';

/**
 * Converts undici's raw response headers ([name, value, ...] as Buffers) into the flat string
 * list for `res.writeHead`, dropping hop-by-hop headers and those named in Connection. Adds the
 * request id header when the upstream did not send one.
 */
export function buildClientHeaders(raw: readonly Buffer[], requestIdHeader: string, requestId: string): string[] {
  const out: string[] = [];
  let extraHop: Set<string> | null = null;
  let sawRequestId = false;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!.toString('latin1');
    const lower = name.toLowerCase();
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
  if (extraHop !== null) {
    const filtered: string[] = [];
    for (let i = 0; i < out.length; i += 2) {
      if (!extraHop.has(out[i]!.toLowerCase())) filtered.push(out[i]!, out[i + 1]!);
    }
    if (!sawRequestId) filtered.push(requestIdHeader, requestId);
    return filtered;
  }
  if (!sawRequestId) out.push(requestIdHeader, requestId);
  return out;
}

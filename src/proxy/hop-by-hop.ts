/**
 * Hop-by-hop headers (RFC 9110 §7.6.1): they describe one connection and are never forwarded.
 * `Expect` is handled by the listener (100-continue) and not forwarded either.
 */
export const HOP_BY_HOP = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
]);

/**
 * Whole `Connection` values seen on nearly every message that name nothing beyond HOP_BY_HOP:
 * one Set probe instead of split/trim/lower-case (which allocate) on every request and response.
 */
const PLAIN_CONNECTION_VALUES = new Set(['keep-alive', 'Keep-Alive', 'close', 'Close', 'upgrade', 'Upgrade']);

/**
 * Extra header names a `Connection` header declares hop-by-hop, lower-case. Returns null for
 * the common values ("keep-alive", "close", "upgrade") that name nothing beyond HOP_BY_HOP.
 */
export function connectionTokens(values: readonly string[]): Set<string> | null {
  let tokens: Set<string> | null = null;
  for (const value of values) {
    if (PLAIN_CONNECTION_VALUES.has(value)) continue;
    for (const part of value.split(',')) {
      const token = part.trim().toLowerCase();
      if (token === '' || token === 'close' || HOP_BY_HOP.has(token)) continue;
      (tokens ??= new Set()).add(token);
    }
  }
  return tokens;
}

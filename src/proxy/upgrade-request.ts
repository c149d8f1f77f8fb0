import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';

/**
 * What to do with a request that Node's parser handed over as an upgrade (it has `Upgrade`
 * and `Connection: upgrade`): the Upgrade value to offer the upstream (only the allowed
 * protocols, lower-case, comma-separated), or null to serve it as a plain request.
 *
 * A request is tunnelled only when every condition of a clean handshake holds:
 * - it names at least one allowed protocol (`proxy.allowedUpgrades`, default websocket);
 * - it has no body (no Content-Length other than 0, no Transfer-Encoding): the bytes after
 *   the head are then either nothing or data for the new protocol, never a body whose
 *   framing the proxy would have to judge;
 * - a WebSocket handshake is a GET with a Sec-WebSocket-Key (RFC 6455 §4.1), so the
 *   upstream's Sec-WebSocket-Accept can be checked.
 */
export function upgradeToOffer(req: IncomingMessage, allowed: readonly string[]): string | null {
  const value = req.headers.upgrade;
  if (value === undefined || allowed.length === 0) return null;
  const length = req.headers['content-length'];
  if (req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')) return null;
  let offer: string | null = null;
  for (const part of value.split(',')) {
    const protocol = part.trim().toLowerCase();
    if (protocol === '' || !allowed.includes(protocol)) continue;
    if (protocol === 'websocket' && (req.method !== 'GET' || req.headers['sec-websocket-key'] === undefined)) continue;
    offer = offer === null ? protocol : `${offer}, ${protocol}`;
  }
  return offer;
}

/** Header fields that only mean something for an upgrade, removed when it is not tunnelled. */
const UPGRADE_ONLY = new Set(['upgrade', 'http2-settings']);

/**
 * The request head again without the upgrade: `Upgrade` and `HTTP2-Settings` removed, and
 * their tokens removed from `Connection` (the header dropped when nothing is left). Built from
 * what Node's parser accepted, so it is at least as well-formed as what the client sent.
 */
export function plainRequestHead(req: IncomingMessage): Buffer {
  let head = `${req.method} ${req.url} HTTP/${req.httpVersion}\r\n`;
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    const lower = name.toLowerCase();
    if (UPGRADE_ONLY.has(lower)) continue;
    let value = raw[i + 1]!;
    if (lower === 'connection') {
      value = value
        .split(',')
        .map((t) => t.trim())
        .filter((t) => t !== '' && !UPGRADE_ONLY.has(t.toLowerCase()))
        .join(', ');
      if (value === '') continue;
    }
    head += `${name}: ${value}\r\n`;
  }
  return Buffer.from(`${head}\r\n`, 'latin1');
}

/**
 * Hands a connection that Node's parser gave up for an upgrade back to the listener's HTTP
 * parser, `bytes` first (the rebuilt head, then what the client sent after it), so the
 * request and everything after it are parsed, routed and checked like any other.
 */
export type ParseAgain = (socket: Duplex, bytes: readonly Buffer[]) => void;

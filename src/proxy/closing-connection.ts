import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

const kClosing = Symbol('switchyard.closingConnection');
type MarkedSocket = Socket & { [kClosing]?: boolean };

/**
 * Marks a client connection as closing after a refused request. Node parses pipelined requests
 * that were already received and hands them to the handler even though the refusal's response
 * ends with "Connection: close"; the handler drops those (no upstream request, no response)
 * and the connection closes after the refusal is written.
 */
export function markClosing(socket: Socket | null | undefined): void {
  if (socket) (socket as MarkedSocket)[kClosing] = true;
}

export function isClosing(socket: Socket): boolean {
  return (socket as MarkedSocket)[kClosing] === true;
}

/**
 * Writes `data` (a complete raw response) and closes the connection once it is flushed, even
 * if the client never reads or closes its side: `end()` alone would leave the socket half-open
 * for as long as the client likes (a slow-client hold on file descriptors).
 */
export function endConnection(socket: Duplex, data?: string): void {
  socket.end(data);
  const destroySoon = (socket as Duplex & { destroySoon?: () => void }).destroySoon;
  if (typeof destroySoon === 'function') destroySoon.call(socket);
  else if (socket.writableFinished) socket.destroy();
  else socket.once('finish', () => socket.destroy());
}

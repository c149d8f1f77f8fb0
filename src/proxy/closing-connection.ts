import type { Socket } from 'node:net';

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

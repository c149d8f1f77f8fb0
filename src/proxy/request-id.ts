import { randomUUID } from 'node:crypto';

const MAX_ID_LENGTH = 128;

/** Whether a client-supplied request id is safe to propagate: short, visible ASCII. */
function isAcceptableId(id: string): boolean {
  if (id.length === 0 || id.length > MAX_ID_LENGTH) return false;
  for (let i = 0; i < id.length; i++) {
    const c = id.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f) return false;
  }
  return true;
}

/** Propagates the client's request id when acceptable, otherwise makes a new one (UUID v4). */
export function requestIdFor(supplied: string | string[] | undefined): string {
  if (typeof supplied === 'string' && isAcceptableId(supplied)) return supplied;
  return randomUUID();
}

import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * Binds an HTTP server and resolves with its address, or rejects with the bind error.
 * Exclusive: in a node:cluster worker the port is this process's own, never shared.
 */
export async function listenExclusive(server: Server, port: number, address: string): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ port, host: address, exclusive: true }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}

/** Closes a server and every connection it holds (admin traffic needs no drain). */
export function closeNow(server: Server): Promise<void> {
  return new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

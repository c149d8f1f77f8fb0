import { createServer, type AddressInfo } from 'node:net';

/**
 * A free port on 127.0.0.1: bound, read, released. Nothing listens on it afterwards, so it
 * also serves as "a port that refuses connections".
 */
export async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

/** `count` consecutive free ports on 127.0.0.1 (app instances need consecutive ports). */
export async function freePorts(count: number): Promise<number[]> {
  for (let attempt = 0; attempt < 50; attempt++) {
    // Below the ephemeral range (32768+), so outgoing connections cannot take them meanwhile.
    const base = 12_000 + Math.floor(Math.random() * 18_000);
    const ports = Array.from({ length: count }, (_, i) => base + i);
    let ok = true;
    for (const p of ports) if (!(await portFree(p))) ok = false;
    if (ok) return ports;
  }
  throw new Error(`no ${count} consecutive free ports found`);
}

import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** The first bytes of every HTTP/2 prior-knowledge connection; no HTTP/1.x method starts with "PRI". */
const H2_PREFACE_START = Buffer.from('PRI');

/**
 * One port in front of two servers on 127.0.0.1: connections that open with the HTTP/2
 * connection preface (cleartext prior knowledge, h2c) are piped to `h2Port` (e.g. a gRPC
 * server), all others to `http1Port`. An instance that serves its HTTP/1.1 API and its gRPC
 * health service on one address:port, as a dual-protocol service does.
 */
export class ProtocolSplitUpstream {
  private constructor(
    private readonly server: Server,
    readonly port: number,
    /** Client and backend connections, destroyed by close(). */
    private readonly sockets: Set<Socket>,
  ) {}

  static async start(h2Port: number, http1Port: number): Promise<ProtocolSplitUpstream> {
    const sockets = new Set<Socket>();
    const server = createServer((client) => {
      sockets.add(client);
      client.on('close', () => sockets.delete(client));
      let head = Buffer.alloc(0);
      const onData = (chunk: Buffer): void => {
        head = Buffer.concat([head, chunk]);
        if (head.length < H2_PREFACE_START.length) return;
        client.off('data', onData);
        client.pause();
        const backend = connect(head.subarray(0, 3).equals(H2_PREFACE_START) ? h2Port : http1Port, '127.0.0.1');
        sockets.add(backend);
        backend.on('close', () => sockets.delete(backend));
        backend.on('error', () => client.destroy());
        client.on('error', () => backend.destroy());
        backend.write(head);
        client.pipe(backend).pipe(client);
        client.resume();
      };
      client.on('data', onData);
    });
    const port = await new Promise<number>((resolve) => server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)));
    return new ProtocolSplitUpstream(server, port, sockets);
  }

  close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }
}

import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';

/** What a raw upstream does with each request head it receives on a connection. */
export type RawUpstreamBehaviour = (socket: Socket, requestHead: string) => void;

/**
 * A TCP server that plays a misbehaving HTTP upstream: it answers each request head with
 * whatever bytes the behaviour writes (garbage, broken framing, nothing at all). It counts
 * connections, requests and the connections closed by the proxy.
 */
export interface RawUpstream {
  readonly server: Server;
  readonly port: number;
  connections: number;
  requests: number;
  /** Connections the peer (the proxy) closed. */
  closedByPeer: number;
  behaviour: RawUpstreamBehaviour;
  close(): Promise<void>;
}

export async function startRawUpstream(behaviour: RawUpstreamBehaviour): Promise<RawUpstream> {
  const sockets = new Set<Socket>();
  const up: RawUpstream = {
    server: createServer(),
    port: 0,
    connections: 0,
    requests: 0,
    closedByPeer: 0,
    behaviour,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        up.server.close(() => resolve());
      }),
  };
  up.server.on('connection', (socket: Socket) => {
    up.connections++;
    sockets.add(socket);
    let buffered = '';
    // The proxy closing shows as the end of its stream (FIN) or a reset.
    let peerClosed = false;
    socket.once('end', () => (peerClosed = true));
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      buffered += d;
      let end: number;
      while ((end = buffered.indexOf('\r\n\r\n')) >= 0) {
        const head = buffered.slice(0, end);
        buffered = buffered.slice(end + 4);
        up.requests++;
        up.behaviour(socket, head);
      }
    });
    socket.on('error', () => {
      // A reset by the proxy is expected in these tests; it counts as closed by the peer.
      peerClosed = true;
    });
    socket.on('close', () => {
      sockets.delete(socket);
      if (peerClosed) up.closedByPeer++;
    });
  });
  await new Promise<void>((resolve) => up.server.listen(0, '127.0.0.1', () => resolve()));
  (up as { port: number }).port = (up.server.address() as AddressInfo).port;
  return up;
}

/** A behaviour that writes the same raw bytes (latin1) for every request. */
export function answerWith(raw: string): RawUpstreamBehaviour {
  return (socket) => {
    socket.write(Buffer.from(raw, 'latin1'));
  };
}

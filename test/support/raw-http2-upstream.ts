import { createServer, type Server, type Socket } from 'node:net';
import { PREFACE, settingsFrame } from './raw-http2-client.js';

/** A frame a client sent to the raw upstream. */
export interface ClientFrame {
  type: number;
  flags: number;
  streamId: number;
  payload: Buffer;
}

/** One client connection to the raw upstream: every byte it sent, its frames, and the socket to answer on. */
export interface RawHttp2Peer {
  readonly socket: Socket;
  /** Every byte received, preface included, in order. */
  readonly bytes: Buffer[];
  readonly frames: ClientFrame[];
  /** Whether the client preface arrived intact. */
  prefaceOk: boolean;
}

export interface RawHttp2Upstream {
  readonly port: number;
  readonly peers: RawHttp2Peer[];
  close(): Promise<void>;
}

/**
 * A TCP server that speaks HTTP/2 only as far as a test scripts it: it sends `settings` (as a
 * SETTINGS frame) on accept unless `settings` is null, checks the client preface, splits the
 * client's frames and hands each to `onFrame`, which answers with whatever bytes the test
 * crafts (bad frame sizes, CONTINUATION floods, HPACK errors...). Records every byte received.
 */
export async function startRawHttp2Upstream(
  onFrame: (peer: RawHttp2Peer, frame: ClientFrame) => void,
  settings: ReadonlyArray<readonly [number, number]> | null = [],
): Promise<RawHttp2Upstream> {
  const peers: RawHttp2Peer[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined); // a reset by the client under test is one of the outcomes
    const peer: RawHttp2Peer = { socket, bytes: [], frames: [], prefaceOk: false };
    peers.push(peer);
    if (settings !== null) socket.write(settingsFrame(settings));
    let pending = Buffer.alloc(0);
    let prefaceSeen = false;
    socket.on('data', (chunk: Buffer) => {
      peer.bytes.push(chunk);
      pending = Buffer.concat([pending, chunk]);
      if (!prefaceSeen) {
        if (pending.length < PREFACE.length) return;
        peer.prefaceOk = pending.subarray(0, PREFACE.length).equals(PREFACE);
        prefaceSeen = true;
        pending = pending.subarray(PREFACE.length);
      }
      while (pending.length >= 9) {
        const length = pending.readUIntBE(0, 3);
        if (pending.length < 9 + length) break;
        const frame: ClientFrame = { type: pending[3]!, flags: pending[4]!, streamId: pending.readUInt32BE(5) & 0x7fffffff, payload: Buffer.from(pending.subarray(9, 9 + length)) };
        pending = pending.subarray(9 + length);
        peer.frames.push(frame);
        if (!socket.destroyed) onFrame(peer, frame);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    peers,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

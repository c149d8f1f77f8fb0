import { createHash } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';

/** One connection the proxy opened to a recording upstream, with every byte it sent. */
export interface RecordedConnection {
  readonly socket: Socket;
  /** Everything received on this connection, as latin1 text, in order. */
  received: string;
  /** Request heads seen so far (up to and excluding the blank line). */
  heads: string[];
  /** Events in order: 'head', 'wrote:<what>', 'data-after-head', 'closed'. */
  events: string[];
}

/** Called for each request head; writes whatever it likes (a 101, a refusal, nothing). */
export type RecordingBehaviour = (conn: RecordedConnection, head: string) => void;

/**
 * A TCP server that plays an upstream and records exactly which bytes reached it, per
 * connection. After the first request head of a connection it keeps looking for further heads
 * only while `parseHeads` says so (an upstream that switched protocols treats the rest as data).
 */
export interface RecordingUpstream {
  readonly port: number;
  readonly connections: RecordedConnection[];
  /** All bytes received on all connections since the last reset, in connection order. */
  readonly allReceived: string;
  /** Connections that received bytes since the last reset (pooled connections are reused). */
  readonly used: RecordedConnection[];
  /** Forgets what was recorded (connections stay open and are recorded afresh). */
  reset(): void;
  behaviour: RecordingBehaviour;
  close(): Promise<void>;
}

export async function startRecordingUpstream(behaviour: RecordingBehaviour): Promise<RecordingUpstream> {
  const server: Server = createServer();
  const connections: RecordedConnection[] = [];
  const up: RecordingUpstream = {
    port: 0,
    connections,
    get allReceived() {
      return connections.map((c) => c.received).join('');
    },
    get used() {
      return connections.filter((c) => c.received.length > 0);
    },
    reset() {
      for (const c of connections) {
        c.received = '';
        c.heads = [];
        c.events = [];
      }
    },
    behaviour,
    close: () =>
      new Promise<void>((resolve) => {
        for (const c of connections) c.socket.destroy();
        server.close(() => resolve());
      }),
  };
  server.on('connection', (socket: Socket) => {
    const conn: RecordedConnection = { socket, received: '', heads: [], events: [] };
    connections.push(conn);
    let pending = '';
    let switched = false;
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      conn.received += d;
      if (switched) {
        conn.events.push('data-after-head');
        return;
      }
      pending += d;
      let end: number;
      while (!switched && (end = pending.indexOf('\r\n\r\n')) >= 0) {
        const head = pending.slice(0, end);
        pending = pending.slice(end + 4);
        conn.heads.push(head);
        conn.events.push('head');
        // After an upgrade request the rest of the connection is the new protocol's data.
        if (/\r\nupgrade:/i.test(head)) switched = true;
        up.behaviour(conn, head);
      }
      if (switched && pending.length > 0) {
        conn.events.push('data-after-head');
        pending = '';
      }
    });
    socket.on('error', () => {
      // The proxy resetting the connection is part of what these tests provoke.
    });
    socket.on('close', () => conn.events.push('closed'));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  (up as { port: number }).port = (server.address() as AddressInfo).port;
  return up;
}

/** Writes raw latin1 bytes and records that it did. */
export function write(conn: RecordedConnection, what: string, bytes: string): void {
  conn.events.push(`wrote:${what}`);
  conn.socket.write(Buffer.from(bytes, 'latin1'));
}

/** The Sec-WebSocket-Accept value for a Sec-WebSocket-Key (RFC 6455 §4.2.2). */
export function websocketAccept(key: string): string {
  return createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
}

/** The value of a header in a raw request head (first occurrence), or undefined. */
export function headerOf(head: string, name: string): string | undefined {
  for (const line of head.split('\r\n').slice(1)) {
    const colon = line.indexOf(':');
    if (line.slice(0, colon).toLowerCase() === name) return line.slice(colon + 1).trim();
  }
  return undefined;
}

import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';

/** RFC 9113 §3.4: what an HTTP/2 client with prior knowledge sends first. */
const PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n', 'latin1');

type Destination = (socket: Duplex) => void;

/**
 * Tells cleartext HTTP/2 (h2c with prior knowledge) from HTTP/1.x on one port by the first
 * bytes a client sends: the 24-byte HTTP/2 connection preface, which no HTTP/1.x request can
 * begin with ("PRI" is not a method HTTP/1.x servers accept with that target and version).
 * Reads as few bytes as it needs (one byte tells most HTTP/1.x requests apart), puts them back
 * in front of the socket's stream and hands the connection to the HTTP/2 or HTTP/1.x server.
 * A client that sends nothing within `timeoutMs` is disconnected, as a stalled request head
 * would be.
 */
export class ProtocolSniffer {
  constructor(
    private readonly toHttp2: Destination,
    private readonly toHttp1: Destination,
    private readonly timeoutMs: number,
  ) {}

  readonly classify = (socket: Socket): void => {
    new PendingConnection(this.toHttp2, this.toHttp1, socket, this.timeoutMs);
  };
}

/** One connection whose protocol is not known yet. */
class PendingConnection {
  private chunks: Buffer[] = [];
  private length = 0;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly toHttp2: Destination,
    private readonly toHttp1: Destination,
    private readonly socket: Socket,
    timeoutMs: number,
  ) {
    this.timer = setTimeout(this.onTimeout, timeoutMs);
    socket.on('data', this.onData);
    socket.once('close', this.onClose);
    socket.on('error', this.onError);
  }

  private readonly onData = (chunk: Buffer): void => {
    this.chunks.push(chunk);
    this.length += chunk.length;
    const verdict = this.verdict();
    if (verdict === 'more') return;
    this.release();
    const socket = this.socket;
    socket.pause();
    socket.unshift(this.chunks.length === 1 ? this.chunks[0]! : Buffer.concat(this.chunks, this.length));
    this.chunks = [];
    if (verdict === 'h2') {
      // node:http2 reads what is buffered in the stream before it takes over the socket.
      this.toHttp2(socket);
      return;
    }
    // node:http's parser reads straight from the socket's handle when the handle is not yet
    // taken, which would skip the bytes put back above; marked as taken, the parser reads
    // through the stream (the same path it uses for a connection handed over after an
    // upgrade), where those bytes come first. Covered by a test with pipelined requests.
    const handle = (socket as Socket & { _handle?: { _consumed?: boolean } | null })._handle;
    if (handle) handle._consumed = true;
    this.toHttp1(socket);
    socket.resume();
  };

  /** 'h2' once the whole preface is in, 'http1' at the first byte that differs, else 'more'. */
  private verdict(): 'h2' | 'http1' | 'more' {
    let at = 0;
    for (const chunk of this.chunks) {
      for (let i = 0; i < chunk.length && at < PREFACE.length; i++, at++) {
        if (chunk[i] !== PREFACE[at]) return 'http1';
      }
      if (at === PREFACE.length) return 'h2';
    }
    return 'more';
  }

  private release(): void {
    clearTimeout(this.timer);
    this.socket.removeListener('data', this.onData);
    this.socket.removeListener('close', this.onClose);
    this.socket.removeListener('error', this.onError);
  }

  private readonly onTimeout = (): void => {
    this.release();
    this.socket.destroy();
  };

  private readonly onClose = (): void => {
    this.release();
  };

  private readonly onError = (): void => {
    // The connection failed before it sent a request: nothing to answer, nothing to log.
    this.release();
    this.socket.destroy();
  };
}

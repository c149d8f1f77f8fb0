import type { Socket } from 'node:net';
import type { Logger } from '../observability/logger.js';
import type { AddressRanges } from './address-ranges.js';
import { setConnectionClientAddress } from './client-connection.js';
import { readProxyHeader } from './proxy-protocol-header.js';

type Destination = (socket: Socket) => void;

/**
 * The PROXY protocol in front of a listener (listeners[].proxyProtocol), run on each TCP
 * connection before anything else reads it: before TLS, before the HTTP/1.1 engine (node:http or
 * the llhttp codec) and before the HTTP/2 preface check.
 *
 * - A connection from a trusted source (`trustedSources`, the load balancers) must start with a
 *   valid v1 or v2 header (proxy-protocol-header.ts). The address it carries becomes the
 *   connection's client address (client-connection.ts); the bytes after it go on to the
 *   listener as if they were the first. No header, an invalid one, or none complete within
 *   `timeoutMs` (limits.headersTimeout): the connection is closed.
 * - A connection from any other address is served as it is, unless it starts with a PROXY
 *   signature: a client cannot claim another address that way, so it is closed.
 *
 * Only the first bytes of a connection are looked at, once; the request path is not involved.
 */
export class ProxyProtocolStage {
  constructor(
    private readonly trustedSources: AddressRanges,
    private readonly next: Destination,
    private readonly timeoutMs: number,
    private readonly logger: Logger,
    private readonly listener: string,
  ) {}

  readonly accept = (socket: Socket): void => {
    const peer = socket.remoteAddress;
    if (peer === undefined) {
      // Closed before it was accepted; nothing to serve.
      socket.destroy();
      return;
    }
    new PendingHeader(this, socket, peer, this.trustedSources.contains(peer));
  };

  /** @internal What a pending connection reports. */
  refused(socket: Socket, peer: string, trusted: boolean, reason: string): void {
    // A trusted load balancer that sends a bad header is a misconfiguration the operator must see;
    // an untrusted client trying one is refused without filling the log.
    const fields = { listener: this.listener, remoteAddress: peer, trustedSource: trusted, reason };
    if (trusted) this.logger.warn(fields, 'connection refused: PROXY protocol');
    else this.logger.debug(fields, 'connection refused: PROXY protocol');
    socket.destroy();
  }

  /** @internal */
  passOn(socket: Socket, rest: Buffer | null): void {
    socket.pause();
    if (rest !== null) socket.unshift(rest);
    // node:http reads a fresh connection straight from its handle, past the stream where the
    // bytes are unshifted; marked as taken, it reads through the stream, where they come first
    // (as after ProtocolSniffer). TLS and node:http2 take the handle over and first read what the
    // stream holds; neither looks at the mark.
    const handle = (socket as Socket & { _handle?: { _consumed?: boolean } | null })._handle;
    if (handle) handle._consumed = true;
    this.next(socket);
    // Flowing again for a reader on the stream (node:http, the codec, the HTTP/2 preface check).
    if (socket.listenerCount('data') > 0) socket.resume();
  }

  /** @internal */
  get timeout(): number {
    return this.timeoutMs;
  }
}

/** One connection whose first bytes are being read. */
class PendingHeader {
  private chunks: Buffer | null = null;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly stage: ProxyProtocolStage,
    private readonly socket: Socket,
    private readonly peer: string,
    private readonly trusted: boolean,
  ) {
    this.timer = setTimeout(this.onTimeout, stage.timeout);
    socket.on('data', this.onData);
    socket.once('end', this.onEnd);
    socket.once('close', this.onClose);
    socket.on('error', this.onError);
  }

  private readonly onData = (chunk: Buffer): void => {
    const bytes = this.chunks === null ? chunk : Buffer.concat([this.chunks, chunk]);
    const reading = readProxyHeader(bytes);
    if (reading.kind === 'more') {
      this.chunks = bytes;
      return;
    }
    this.release();
    const socket = this.socket;
    if (!this.trusted) {
      if (reading.kind === 'none') this.stage.passOn(socket, bytes);
      else this.stage.refused(socket, this.peer, false, 'a PROXY header from an address not in proxyProtocol.trustedSources (if it is a load balancer, add its range there)');
      return;
    }
    if (reading.kind === 'none') {
      this.stage.refused(socket, this.peer, true, 'no PROXY header from a trusted source (proxyProtocol.trustedSources must send one on every connection)');
      return;
    }
    if (reading.kind === 'invalid') {
      this.stage.refused(socket, this.peer, true, reading.reason);
      return;
    }
    if (reading.clientAddress !== null) setConnectionClientAddress(socket, reading.clientAddress);
    this.stage.passOn(socket, reading.length < bytes.length ? bytes.subarray(reading.length) : null);
  };

  private release(): void {
    clearTimeout(this.timer);
    this.socket.removeListener('data', this.onData);
    this.socket.removeListener('end', this.onEnd);
    this.socket.removeListener('close', this.onClose);
    this.socket.removeListener('error', this.onError);
  }

  private readonly onTimeout = (): void => {
    this.release();
    if (this.trusted || this.chunks !== null) {
      this.stage.refused(this.socket, this.peer, this.trusted, 'no complete PROXY header within limits.headersTimeout');
    } else {
      // An untrusted client that sent nothing: as a stalled request head would be.
      this.socket.destroy();
    }
  };

  /** The client finished sending before the header (or its first bytes) was complete. */
  private readonly onEnd = (): void => {
    this.release();
    if (this.trusted) this.stage.refused(this.socket, this.peer, true, this.chunks === null ? 'closed before a PROXY header' : 'closed inside the PROXY header (truncated)');
    else this.socket.destroy();
  };

  private readonly onClose = (): void => {
    this.release();
  };

  private readonly onError = (): void => {
    // The connection failed before the listener saw a request: nothing to answer.
    this.release();
    this.socket.destroy();
  };
}

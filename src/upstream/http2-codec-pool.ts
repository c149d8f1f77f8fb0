import { EventEmitter } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';
import type { Dispatcher } from 'undici';
import { Http2ClientConnection, type ConnectionOwner } from './http2-client-connection.js';
import { Http2ClientRequest, type RequestOwner } from './http2-client-request.js';
import type { Http2PoolOptions } from './http2-pool.js';
import { sniServerName } from './sni-server-name.js';
import { UpstreamError } from './upstream-error.js';

/**
 * Upstream connections for h2 and h2c services on Switchyard's own HTTP/2 client codec
 * (Http2ClientConnection): the same pooling as Http2Pool (up to `maxConcurrentStreams` streams a
 * connection, fewer if the instance's SETTINGS say so; more connections up to `connections`;
 * requests beyond wait in a queue) and the same contract — undici-style `dispatch()`, `close()`,
 * 'connect'/'disconnect' events, `stats.free` — so exchanges, breakers, retries and gRPC
 * handling do not know which one they talk to. Chosen by the service setting `http2Client`.
 */
export class Http2CodecPool extends EventEmitter implements ConnectionOwner, RequestOwner {
  private readonly connections: Http2ClientConnection[] = [];
  private readonly queue: Http2ClientRequest[] = [];
  private connecting = 0;
  private closed = false;
  private closeWaiters: (() => void)[] = [];
  private readonly host: string;
  private readonly port: number;
  private readonly https: boolean;
  private readonly authority: string;

  constructor(
    private readonly origin: string,
    private readonly options: Http2PoolOptions,
  ) {
    super();
    const url = new URL(origin);
    this.host = url.hostname.replace(/^\[|\]$/g, '');
    this.port = Number(url.port);
    this.https = options.tls !== null;
    this.authority = url.host;
  }

  get stats(): { free: number } {
    let free = 0;
    for (const c of this.connections) if (c.usable && c.active < c.limit) free++;
    return { free };
  }

  /**
   * Bytes written to the pool's sockets that the kernel has not taken yet: what a slow
   * upstream makes the proxy hold. Request bodies stop while a socket is full, so this stays
   * near one high-water mark and one frame a connection.
   */
  get writeBuffered(): number {
    let bytes = 0;
    for (const c of this.connections) bytes += c.bufferedBytes;
    return bytes;
  }

  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const request = new Http2ClientRequest(this, options, handler);
    if (this.closed) {
      request.fail(new UpstreamError('the upstream pool is closed', 'UND_ERR_CLOSED', 'ClientClosedError'));
      return false;
    }
    const connection = this.connectionWithRoom();
    if (connection !== null) request.start(connection, this.https, this.authority);
    else {
      this.queue.push(request);
      this.grow();
    }
    return true;
  }

  close(): Promise<void> {
    this.closed = true;
    const queued = this.queue.splice(0);
    for (const r of queued) r.fail(new UpstreamError('the upstream pool is closed', 'UND_ERR_CLOSED', 'ClientClosedError'));
    for (const c of this.connections) c.close();
    if (this.connections.length === 0 && this.connecting === 0) return Promise.resolve();
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  dequeue(request: Http2ClientRequest): void {
    const i = this.queue.indexOf(request);
    if (i >= 0) this.queue.splice(i, 1);
  }

  streamEnded(): void {
    if (this.queue.length > 0) this.drainQueue();
  }

  connectionReady(connection: Http2ClientConnection): void {
    this.connecting--;
    if (this.closed) {
      connection.close();
      return;
    }
    this.connections.push(connection);
    this.emit('connect', this.origin, [this]);
    this.drainQueue();
    connection.idleIfUnused();
  }

  connectionClosed(connection: Http2ClientConnection, error: Error | null): void {
    const i = this.connections.indexOf(connection);
    if (i >= 0) {
      this.connections.splice(i, 1);
      this.emit('disconnect', this.origin, [this], error);
    } else if (!connection.ready) {
      this.connecting--;
      // Nothing to connect to: the requests waiting fail as undici's would (ECONNREFUSED,
      // connect timeout, TLS errors), so they can be retried elsewhere.
      if (this.connections.length === 0 && this.connecting === 0) {
        const err = error ?? new UpstreamError('the upstream connection closed before it was set up', 'UND_ERR_SOCKET', 'SocketError');
        for (const r of this.queue.splice(0)) r.fail(err);
      }
      if (!this.closed) return;
    }
    if (this.closed && this.connections.length === 0 && this.connecting === 0) {
      for (const resolve of this.closeWaiters.splice(0)) resolve();
    } else {
      this.drainQueue();
    }
  }

  private connectionWithRoom(): Http2ClientConnection | null {
    // The busiest connection with room: streams gather on few connections, so idle ones close.
    let best: Http2ClientConnection | null = null;
    for (const c of this.connections) {
      if (!c.usable || c.active >= c.limit) continue;
      if (best === null || c.active > best.active) best = c;
    }
    return best;
  }

  private drainQueue(): void {
    while (this.queue.length > 0) {
      const connection = this.connectionWithRoom();
      if (connection === null) {
        this.grow();
        return;
      }
      this.queue.shift()!.start(connection, this.https, this.authority);
    }
  }

  private grow(): void {
    if (this.closed || this.queue.length === 0) return;
    if (this.connecting * this.options.maxConcurrentStreams >= this.queue.length) return;
    if (this.connections.length + this.connecting >= this.options.connections) return;
    this.connecting++;
    this.openConnection();
  }

  private openConnection(): void {
    const { tls, connectTimeout, servername, keepAliveTimeout, maxConcurrentStreams } = this.options;
    let socket: Socket;
    if (tls !== null) {
      const tlsSocket = tlsConnect({ ...tls, host: this.host, port: this.port, servername: sniServerName(servername, this.host), ALPNProtocols: ['h2'] });
      socket = tlsSocket;
      tlsSocket.once('secureConnect', () => {
        if (tlsSocket.alpnProtocol !== 'h2') {
          connection.destroy(new UpstreamError(`the upstream did not agree to HTTP/2 by ALPN (it chose ${tlsSocket.alpnProtocol || 'nothing'}); serve h2 on TLS or use protocol http1`, 'UND_ERR_SOCKET', 'SocketError'));
          return;
        }
        connection.start();
      });
    } else {
      socket = netConnect({ host: this.host, port: this.port });
      socket.once('connect', () => connection.start());
    }
    const connection = new Http2ClientConnection(this, socket, maxConcurrentStreams, keepAliveTimeout, connectTimeout);
  }
}

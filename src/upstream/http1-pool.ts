import { EventEmitter } from 'node:events';
import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import type { Dispatcher } from 'undici';
import { Http1UpstreamConnection, type Http1ConnectionOwner, type Http1ConnectionSettings } from './http1-upstream-connection.js';
import { Http1UpstreamRequest } from './http1-upstream-request.js';
import { sniServerName } from './sni-server-name.js';
import { UpstreamError } from './upstream-error.js';

/** Settings of an Http1Pool, from the service's settings. */
export interface Http1PoolOptions {
  /** Most connections to the instance. */
  readonly connections: number;
  readonly connectTimeout: number;
  /** An idle connection is closed after this long (unless the server's Keep-Alive hint says sooner). */
  readonly keepAliveTimeout: number;
  /** The most a server's Keep-Alive: timeout hint may keep an idle connection (default 10 minutes, as undici). */
  readonly keepAliveMaxTimeout?: number;
  /** Largest response head in bytes (default 16 KiB, Node's and undici's). */
  readonly maxHeaderSize?: number;
  /** TLS options (https), or null for cleartext. `servername` there fixes SNI and the certificate name. */
  readonly tls: ConnectionOptions | null;
}

/**
 * Upstream HTTP/1.1 connections to one instance (an endpoint's pool) on our own codec: llhttp
 * (src/codec/llhttp.ts) parses responses; requests are written by Http1UpstreamConnection. Up
 * to `connections` connections, one request at a time each; requests beyond wait in a FIFO
 * queue and take the next connection that frees up. A new connection is opened for a queued
 * request while the limit allows; when connecting fails, the request it was opened for fails
 * with the connect error (ECONNREFUSED, UND_ERR_CONNECT_TIMEOUT, a TLS error), as undici's
 * per-connection queue does. Idle connections are reused most-recent first, so the rest idle
 * out after keepAliveTimeout.
 *
 * Written here rather than taken from undici, whose Pool the proxy used for HTTP/1.1 until the
 * codec replaced it: one parser binding and one set of strictness flags for both
 * sides of the proxy (the listener's codec runs on the same llhttp build), no per-request
 * closures for socket and body events, an unsolicited 100 Continue skipped like any 1xx
 * without patching a dependency, and the TLS server name fixed by configuration rather than
 * taken from each request's Host (which undici's Pool needed a custom connector for). It implements the part of
 * undici's Dispatcher the proxy uses — `dispatch()` with the same handler callbacks
 * (onConnect, onHeaders, onData, onComplete, onError, onUpgrade), `close()`,
 * 'connect'/'disconnect' events and `stats.free` — and raises undici's error codes
 * (see UpstreamError), so the exchanges, retries, the circuit breaker and outlier detection do
 * not know which pool they talk to.
 *
 * TLS: the server name is `tls.servername` when configured, else the instance address (no SNI
 * for an IP address), never the client's Host; the certificate is verified unless the service
 * says `verify: false` (upstreamTlsOptions). TLS sessions are resumed across the pool's
 * connections.
 */
export class Http1Pool extends EventEmitter implements Http1ConnectionOwner {
  readonly settings: Http1ConnectionSettings;
  tlsSession: Buffer | null = null;
  /** Every connection: connecting, idle, validating for a request, busy. */
  private readonly connections: Http1UpstreamConnection[] = [];
  /** Idle connections, the most recently used last. */
  private readonly idleList: Http1UpstreamConnection[] = [];
  /** Requests waiting for a connection, from `queueHead` on (FIFO). */
  private queue: Http1UpstreamRequest[] = [];
  private queueHead = 0;
  private connecting = 0;
  private closed = false;
  private closeWaiters: (() => void)[] = [];
  /** `host` sent when the request's list has none: the instance's address and port. */
  private readonly hostFallback: string;
  readonly stats: { readonly free: number };

  constructor(
    private readonly origin: string,
    address: string,
    port: number,
    private readonly options: Http1PoolOptions,
  ) {
    super();
    const tls = options.tls;
    this.settings = {
      address,
      port,
      tls,
      servername: tls === null ? undefined : sniServerName(tls.servername, address),
      connectTimeout: options.connectTimeout,
      keepAliveTimeout: options.keepAliveTimeout,
      keepAliveMaxTimeout: options.keepAliveMaxTimeout ?? 600_000,
      keepAliveTimeoutThreshold: 2_000,
      maxHeaderSize: options.maxHeaderSize ?? 16 * 1024,
    };
    this.hostFallback = `${isIP(address) === 6 ? `[${address}]` : address}:${port}`;
    const idle = this.idleList;
    this.stats = {
      /** Connected connections with no request (the circuit breaker's "no new connection needed"). */
      get free(): number {
        return idle.length;
      },
    };
  }

  /** Requests waiting for a connection. */
  get queued(): number {
    return this.queue.length - this.queueHead;
  }

  /** Open connections (connecting included). */
  get size(): number {
    return this.connections.length;
  }

  /**
   * Sends a request. Returns false when it had to wait for a connection (the pool is busy),
   * or failed at once (the pool is closed, the request cannot be framed: handler.onError).
   */
  dispatch(options: Dispatcher.DispatchOptions, handler: Dispatcher.DispatchHandler): boolean {
    const request = new Http1UpstreamRequest(options, handler, this.hostFallback);
    if (this.closed) {
      request.fail(new UpstreamError('the upstream pool is closed', 'UND_ERR_CLOSED', 'ClientClosedError'));
      return false;
    }
    if (request.head instanceof UpstreamError) {
      request.fail(request.head);
      return false;
    }
    const idle = this.idleList.pop();
    if (idle !== undefined) {
      idle.assign(request);
      return true;
    }
    this.queue.push(request);
    return this.grow();
  }

  /**
   * Closes the pool: new requests fail (UND_ERR_CLOSED); queued and running requests finish,
   * as with undici; each connection closes once it has nothing left to do. Resolves when all
   * connections are closed.
   */
  close(): Promise<void> {
    this.closed = true;
    if (this.queued === 0) for (const c of this.idleList.splice(0)) c.destroy(null);
    if (this.connections.length === 0) return Promise.resolve();
    return new Promise((resolve) => this.closeWaiters.push(resolve));
  }

  /** Opens connections for queued requests while the limit allows; true when one was opened. */
  private grow(): boolean {
    let opened = false;
    while (!this.closedAndDrained() && this.queued > this.connecting && this.connections.length < this.options.connections) {
      this.connecting++;
      this.connections.push(new Http1UpstreamConnection(this));
      opened = true;
    }
    return opened;
  }

  private closedAndDrained(): boolean {
    return this.closed && this.queued === 0;
  }

  private nextQueued(): Http1UpstreamRequest | undefined {
    let request = this.takeQueued();
    // A request whose body failed while it waited was answered already (Http1UpstreamRequest).
    while (request !== undefined && request.done) request = this.takeQueued();
    return request;
  }

  private takeQueued(): Http1UpstreamRequest | undefined {
    if (this.queueHead >= this.queue.length) return undefined;
    const request = this.queue[this.queueHead]!;
    this.queue[this.queueHead++] = undefined as unknown as Http1UpstreamRequest;
    if (this.queueHead === this.queue.length) {
      this.queue.length = 0;
      this.queueHead = 0;
    } else if (this.queueHead > 1024 && this.queueHead * 2 > this.queue.length) {
      this.queue = this.queue.slice(this.queueHead);
      this.queueHead = 0;
    }
    return request;
  }

  // ---- Http1ConnectionOwner ----------------------------------------------------------------

  connectionReady(connection: Http1UpstreamConnection): void {
    this.connecting--;
    this.emit('connect', this.origin, [this]);
    this.connectionReleased(connection);
  }

  connectionReleased(connection: Http1UpstreamConnection): void {
    const next = this.nextQueued();
    if (next !== undefined) {
      connection.assign(next);
      return;
    }
    if (this.closed) {
      connection.destroy(null);
      return;
    }
    this.idleList.push(connection);
    connection.becameIdle();
  }

  connectionClosed(connection: Http1UpstreamConnection, connected: boolean, err: Error | null, unsent: Http1UpstreamRequest | null): void {
    const i = this.connections.indexOf(connection);
    if (i < 0) return;
    this.connections.splice(i, 1);
    const idle = this.idleList.indexOf(connection);
    if (idle >= 0) this.idleList.splice(idle, 1);
    if (connected) {
      this.emit('disconnect', this.origin, [this], err);
    } else {
      this.connecting--;
      // The request this connection was opened for fails with the connect error; the others
      // wait for a connection that frees up or the next attempt.
      const first = this.nextQueued();
      if (first !== undefined) first.fail(err ?? new UpstreamError('the upstream connection closed before it was set up', 'UND_ERR_SOCKET', 'SocketError'));
    }
    if (unsent !== null) {
      // Closed while validated for a request that was never written: it goes first in line,
      // to another idle connection if there is one.
      unsent.carrier = null;
      const other = this.idleList.pop();
      if (other !== undefined) other.assign(unsent);
      else if (this.queueHead > 0) this.queue[--this.queueHead] = unsent;
      else this.queue.unshift(unsent);
    }
    this.grow();
    if (this.closed && this.connections.length === 0) {
      for (const resolve of this.closeWaiters.splice(0)) resolve();
    }
  }

  connectionUpgraded(connection: Http1UpstreamConnection): void {
    const i = this.connections.indexOf(connection);
    if (i >= 0) this.connections.splice(i, 1);
    this.emit('disconnect', this.origin, [this], new UpstreamError('upgrade', 'UND_ERR_INFO', 'InformationalError'));
    this.grow();
    if (this.closed && this.connections.length === 0) {
      for (const resolve of this.closeWaiters.splice(0)) resolve();
    }
  }
}

import { verifyParserStrictness } from '../codec/parser-strictness.js';
import { createServer, type IncomingMessage, type Server, type ServerOptions, type ServerResponse } from 'node:http';
import type { Http2Server } from 'node:http2';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import net, { type AddressInfo, type Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import type { Duplex } from 'node:stream';
import { ConnectionSweep, Http1ServerConnection, type Http1ServerSettings, type Http1StreamHandler } from '../codec/http1-server-connection.js';
import type { ServerStream } from '../codec/server-stream.js';
import { listenerProtocols, type Config, type ListenerConfig, type ListenerProtocol } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import { AddressRanges } from './address-ranges.js';
import type { CertificateStore } from './certificate-store.js';
import { ClientCertificateNames } from './client-certificate-names.js';
import { noteSecureConnection } from './client-connection.js';
import { endConnection } from './closing-connection.js';
import { closingProxyErrorResponse } from './proxy-error.js';
import { Http2CodecSessions } from './http2-codec-sessions.js';
import { Http2Sessions } from './http2-sessions.js';
import { HttpsRedirect } from './https-redirect.js';
import { ProtocolSniffer } from './protocol-sniffer.js';
import { ProxyProtocolStage } from './proxy-protocol-stage.js';
import type { ProxyHandler } from './proxy-handler.js';

/**
 * The certificates of a TLS listener: a CertificateStore (files from the config), or another
 * source with the same surface (the sidecar's Connect identity from the Consul agent).
 */
export type ListenerCertificates = Pick<CertificateStore, 'serverOptions' | 'clientCertificateNames' | 'close' | 'reload' | 'onDefaultChange'>;

/** What a listener hands requests to: a ProxyHandler, or something in front of one. */
export type RequestHandlers = Pick<ProxyHandler, 'handleRequest' | 'handleUpgrade' | 'handleStream'>;

/** How long a connection must stay idle during a drain before it is closed. */
const DRAIN_IDLE_QUIET_MS = 500;

/**
 * One client-facing listener (node:http, or node:https when `certificates` is given) with the
 * configured limits. With `redirectToHttps` it answers every request with a redirect instead
 * of proxying.
 *
 * HTTP/2 (`protocols` h2 or h2c) is served by a node:http2 server that never listens itself
 * (proxy.engine.http2Listener "node"), or by Switchyard's own HTTP/2 server codec on the
 * socket ("switchyard", Http2CodecSessions): the listener's server accepts every connection
 * (and, with TLS, completes the handshake with its certificates and SNI), then hands HTTP/2
 * connections over — by ALPN on TLS, by the connection preface on cleartext — and keeps
 * HTTP/1.x on the HTTP/1.1 codec (or node:http's parser, engine "node"). HTTP/2 requests are
 * Http2ServerStreams (node:http2's stream API) or Http2CodecStreams, HTTP/1.1 requests
 * Http1Streams: all reach the handler's `handleStream`, so routing, balancing, limits,
 * metrics and the access log are one code path whatever the protocol.
 */
export class ProxyListener {
  readonly server: Server | HttpsServer;
  /** The protocols served, in ALPN preference order. */
  readonly protocols: readonly ListenerProtocol[];
  /** HTTP/2 sessions, when h2 or h2c is served. */
  private readonly http2: Http2Sessions | Http2CodecSessions | null = null;
  private readonly sockets = new Set<Socket>();
  /** Connections served by the HTTP/1.1 codec (engine "llhttp"), with their deadlines; null on node:http. */
  private readonly codec: ConnectionSweep | null = null;
  /** Set by beginDrain(): every HTTP/1.x response from then on carries `Connection: close`. */
  private draining = false;

  constructor(
    readonly config: ListenerConfig,
    limits: Config['limits'],
    proxyHandler: RequestHandlers,
    private readonly logger: Logger,
    private readonly certificates: ListenerCertificates | null = null,
    engine: 'node' | 'llhttp' = 'node',
    http2Engine: 'node' | 'switchyard' = 'switchyard',
  ) {
    // TLS is on when certificates are given (the sidecar's listeners have no tls section).
    this.protocols = listenerProtocols({ protocols: config.protocols, tls: certificates ?? undefined });
    const options: ServerOptions = {
      maxHeaderSize: limits.maxHeaderSize,
      headersTimeout: limits.headersTimeout,
      requestTimeout: limits.requestTimeout,
      keepAliveTimeout: limits.keepAliveTimeout,
      connectionsCheckingInterval: timeoutCheckInterval(limits),
      // The handler answers a missing Host itself (JSON error, connection closed).
      requireHostHeader: false,
    };
    const redirectTo = config.redirectToHttps === true ? 443 : config.redirectToHttps;
    const handler = redirectTo === false ? proxyHandler : new HttpsRedirect(redirectTo);
    if (certificates !== null) {
      // A client that stalls the handshake is held no longer than one that stalls its headers.
      const alpn = this.protocols.map((p) => (p === 'http1' ? 'http/1.1' : p));
      const server = createHttpsServer({ ...options, ...certificates.serverOptions, ALPNProtocols: alpn, handshakeTimeout: limits.headersTimeout }, handler.handleRequest);
      certificates.onDefaultChange = (tlsOptions) => server.setSecureContext(tlsOptions);
      server.on('tlsClientError', (err: Error & { code?: string }) => {
        this.logger.debug({ listener: this.name, errorCode: err.code, error: err.message }, 'TLS handshake failed');
      });
      this.server = server;
    } else {
      this.server = createServer(options, handler.handleRequest);
    }
    // One more than the limit, so the handler sees that there were too many (Node drops the
    // excess silently) and answers 431.
    this.server.maxHeadersCount = limits.maxHeaderCount + 1;
    this.server.maxConnections = limits.maxConnections;
    this.server.on('upgrade', (req: IncomingMessage, socket: Duplex, head: Buffer) => handler.handleUpgrade(req, socket, head, this.parseAgain));
    this.server.on('connect', (_req, socket: Socket) => {
      // CONNECT tunnels are not offered: without this listener Node drops the socket silently.
      endConnection(socket, CONNECT_REFUSED);
    });
    this.server.on('drop', (data?: { remoteAddress?: string }) => {
      this.logger.warn({ listener: this.name, remoteAddress: data?.remoteAddress, limit: limits.maxConnections }, 'connection refused: limits.maxConnections reached');
    });
    const track = (socket: Socket): void => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    };
    this.server.on('connection', track);
    const http1 = this.protocols.includes('http1');
    const event = certificates !== null ? 'secureConnection' : 'connection';
    // node:http's own connection handler (its HTTP/1.x parser).
    const httpConnection = this.server.listeners(event)[0] as (socket: Duplex) => void;
    const server = this.server;
    let toHttp1 = http1 ? (socket: Duplex) => httpConnection.call(server, socket) : refuseHttp1;
    const handleStream = handler === proxyHandler ? proxyHandler.handleStream : undefined;
    if (http1 && engine === 'llhttp' && handleStream !== undefined) {
      // The codec serves HTTP/1.1; upgrades (and CONNECT) go to node:http's parser with the bytes read.
      // First, proof that the loaded llhttp is strict (throws, naming the flag, if not).
      verifyParserStrictness();
      const sweep = new ConnectionSweep(timeoutCheckInterval(limits));
      this.codec = sweep;
      const settings: Http1ServerSettings = {
        maxHeaderSize: limits.maxHeaderSize,
        headersTimeout: limits.headersTimeout,
        requestTimeout: limits.requestTimeout,
        keepAliveTimeout: limits.keepAliveTimeout,
      };
      const streams: Http1StreamHandler = {
        onStream: handleStream as (stream: ServerStream) => void,
        onUpgrade: (socket: Socket, bytes: Buffer[]) => {
          // node:http reads a fresh connection straight from its handle, past the stream where
          // the bytes are unshifted; marked consumed (as after one of its own upgrades), it reads
          // through the stream, so the request is parsed first, in order.
          const handle = (socket as Socket & { _handle?: { _consumed?: boolean } | null })._handle;
          if (handle != null) handle._consumed = true;
          // Paused while no one listens, so that the unshifted bytes wait for node:http's parser.
          socket.pause();
          this.parseAgain(socket, bytes);
          socket.resume();
        },
      };
      this.upgradeTo = httpConnection;
      toHttp1 = (socket: Duplex) => void new Http1ServerConnection(socket as Socket, settings, streams, sweep);
      this.server.removeListener(event, httpConnection);
      if (!this.protocols.includes('h2') && !this.protocols.includes('h2c')) this.server.on(event, toHttp1);
    }
    if (this.protocols.includes('h2') || this.protocols.includes('h2c')) {
      // HTTP/2 streams go to the handler's stream entry, whichever engine serves HTTP/1.1.
      const http2 = http2Engine === 'switchyard' ? new Http2CodecSessions(limits, handler.handleStream, logger, this.name) : new Http2Sessions(limits, handler.handleStream, logger, this.name);
      this.http2 = http2;
      if (this.codec === null) this.server.removeListener(event, httpConnection);
      if (certificates !== null) {
        this.server.on('secureConnection', (socket: Socket & { alpnProtocol?: string | false }) => {
          if (socket.alpnProtocol === 'h2') http2.accept(socket);
          else toHttp1(socket);
        });
      } else if (http1) {
        const sniffer = new ProtocolSniffer(http2.accept, toHttp1, limits.headersTimeout);
        this.server.on('connection', sniffer.classify);
      } else {
        this.server.on('connection', http2.accept);
      }
    }
    const names = certificates !== null ? ClientCertificateNames.from(certificates.clientCertificateNames) : null;
    if (names !== null) this.checkClientNames(names);
    if (certificates !== null) {
      // First of its listeners (set last, as the code above finds node:http's as the first): the TLS
      // connection takes the client address of the TCP one under it and notes its TLS version,
      // before any engine reads a request from it.
      this.server.prependListener('secureConnection', noteSecureConnection);
    }
    if (config.proxyProtocol !== undefined) {
      // Before anything reads the connection (TLS, either HTTP/1.1 engine, the HTTP/2 preface
      // check): every 'connection' listener but the tracking runs once the header is read.
      const downstream = this.server.listeners('connection').filter((l) => l !== track) as ((socket: Socket) => void)[];
      for (const l of downstream) this.server.removeListener('connection', l);
      const server = this.server;
      const stage = new ProxyProtocolStage(
        AddressRanges.parse(config.proxyProtocol.trustedSources),
        (socket) => {
          for (const l of downstream) l.call(server, socket);
        },
        limits.headersTimeout,
        logger,
        this.name,
      );
      this.server.on('connection', stage.accept);
    }
    this.server.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
      this.logger.debug({ listener: this.name, errorCode: err.code, error: err.message }, 'malformed request rejected');
      // A response already under way on this connection cannot be followed by an error status.
      const inProgress = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (!socket.writable || (inProgress != null && inProgress.headersSent)) {
        socket.destroy();
        return;
      }
      endConnection(socket, clientErrorResponse(err.code));
    });
  }

  /**
   * Puts the client certificate name check in front of every handler of a new TLS connection
   * (HTTP/1.1 and HTTP/2 alike): a connection whose verified certificate carries none of the
   * listed names is destroyed before any of its bytes are read as a request.
   */
  private checkClientNames(names: ClientCertificateNames): void {
    const handlers = this.server.listeners('secureConnection') as ((socket: TLSSocket) => void)[];
    this.server.removeAllListeners('secureConnection');
    const server = this.server;
    this.server.on('secureConnection', (socket: TLSSocket) => {
      const { accepted, names: presented } = names.check(socket);
      if (!accepted) {
        this.logger.debug({ listener: this.name, remoteAddress: socket.remoteAddress, certificateNames: presented }, 'client certificate refused: none of its names is in tls.clientCertificate');
        socket.destroy();
        return;
      }
      for (const handler of handlers) handler.call(server, socket);
    });
  }

  /**
   * Gives a connection that Node's parser handed over for an upgrade back to a new parser on
   * this server, `bytes` first. Node's server emits 'connection' (plain) or
   * 'secureConnection' (TLS, the handshake already done) for each new connection; emitting it
   * again sets up a fresh parser with the listener's limits and timeouts. The bytes are
   * unshifted into the socket's stream, and the new parser reads through that stream (the
   * socket's handle stays marked consumed after an upgrade), so they are parsed first, in
   * order, before anything that arrives later.
   */
  private readonly parseAgain = (socket: Duplex, bytes: readonly Buffer[]): void => {
    for (let i = bytes.length - 1; i >= 0; i--) if (bytes[i]!.length > 0) socket.unshift(bytes[i]!);
    if (this.upgradeTo !== null) this.upgradeTo.call(this.server, socket);
    else this.server.emit(this.certificates !== null ? 'secureConnection' : 'connection', socket);
  };

  /** Reads this listener's certificate files (and client CA) again; a bad set is logged and the running one stays. */
  async reloadCertificates(): Promise<void> {
    await this.certificates?.reload();
  }

  /** With the codec: node:http's connection handler, which parses upgrade requests handed over. */
  private upgradeTo: ((socket: Duplex) => void) | null = null;

  /** node:http2's server, for tests and the status page; null when HTTP/2 is not served or Switchyard's codec serves it. */
  get http2Server(): Http2Server | null {
    return this.http2?.server ?? null;
  }

  /** HTTP/2 connections now open. */
  get http2Sessions(): number {
    return this.http2?.open ?? 0;
  }

  /** Client connections now open. */
  get openConnections(): number {
    return this.sockets.size;
  }

  get secure(): boolean {
    return this.certificates !== null;
  }

  get name(): string {
    return this.config.name ?? `${this.config.address}:${this.config.port}`;
  }

  async listen(): Promise<AddressInfo> {
    const { address, port } = this.config;
    await new Promise<void>((resolve, reject) => {
      const fail = (err: Error & { code?: string }) => {
        const why = err.code === 'EADDRINUSE' ? 'the port is already in use' : err.code === 'EACCES' ? 'permission denied' : err.message;
        reject(new Error(`listener "${this.name}" cannot listen on ${address}:${port}: ${why}. Free the port or change the listener's port in the config.`, { cause: err }));
      };
      this.server.once('error', fail);
      this.server.listen(port, address, () => {
        this.server.off('error', fail);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  get address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  /**
   * Starts a drain while still accepting (the shutdown drain delay): from now on every HTTP/1.x
   * response, on open connections and on new ones, carries `Connection: close`, so each client
   * leaves its connection after the exchange under way and opens a new one (through its load
   * balancer, which by then is taking this router out of rotation) rather than sending its
   * next request into a connection that will be closed. A response whose head has gone out
   * keeps its connection until it ends; it is the client's last on it. HTTP/2 connections get
   * their GOAWAY at close(). Idempotent.
   */
  beginDrain(): void {
    if (this.draining) return;
    this.draining = true;
    // Requests that arrive from now on (node:http).
    this.server.prependListener('request', closeAfterResponse);
    // Requests already in progress whose response head has not gone out yet. `_httpMessage`
    // is Node's link from a socket to its current response; no public API reaches it.
    for (const socket of this.sockets) {
      const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (res && !res.headersSent) res.shouldKeepAlive = false;
    }
    this.codec?.drainAll();
  }

  /**
   * Graceful close: stops accepting; lets in-flight requests finish; answers every response
   * from now on with `Connection: close` (beginDrain(), if the drain delay has not already),
   * so clients leave each connection after its current exchange instead of sending another
   * request into a closing socket. Connections that stay idle through a short quiet period are
   * then closed (the same race any keep-alive timeout has, but only for a client idle since
   * before the drain began: every connection used since has been told to close). Connections
   * still busy after `graceMs` are cut.
   */
  async close(graceMs: number): Promise<void> {
    this.certificates?.close();
    // HTTP/2: GOAWAY now; each connection closes when its open streams are done.
    this.http2?.drain();
    this.beginDrain();
    // net.Server's close stops accepting without http.Server's immediate closeIdleConnections(),
    // which would reset connections a client is writing its next request into right now.
    const closed = new Promise<void>((resolve) => net.Server.prototype.close.call(this.server, () => resolve()));
    let sweep: NodeJS.Timeout | undefined;
    const quiet = setTimeout(() => {
      this.closeIdle();
      sweep = setInterval(() => this.closeIdle(), DRAIN_IDLE_QUIET_MS);
    }, Math.min(DRAIN_IDLE_QUIET_MS, graceMs));
    const cut = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
    }, graceMs);
    await closed;
    clearTimeout(quiet);
    clearInterval(sweep);
    clearTimeout(cut);
    // Lets http.Server release what it keeps for open connections (its header-timeout timer).
    this.server.close();
    this.codec?.stop();
  }

  private closeIdle(): void {
    closeIdleHttpConnections(this.server);
    if (this.codec !== null) for (const c of this.codec.all()) c.closeIfIdle();
  }
}

/** node:http's per-server list of connections (its parsers); no public API reaches it. */
interface HttpConnectionList {
  idle(): { socket: Socket; outgoing?: unknown[] }[];
}

let connectionsSymbol: symbol | null | undefined;

/**
 * Closes the connections on which node:http is reading no request, as its
 * closeIdleConnections() does, but not one whose response is still being written. Node's own
 * skips a connection only while its response is not `finished`, which end() sets before the last
 * bytes are flushed: destroying the socket then loses them, and a request the upstream served
 * reaches its client as a reset (seen in a rolling restart under connection churn). Here a
 * connection is left alone while a response is attached to it (node detaches it once flushed),
 * responses are queued behind it, or bytes wait in the socket.
 */
function closeIdleHttpConnections(server: Server | HttpsServer): void {
  connectionsSymbol ??= Object.getOwnPropertySymbols(server).find((sym) => sym.description === 'http.server.connections') ?? null;
  const list = connectionsSymbol === null ? undefined : ((server as unknown as Record<symbol, HttpConnectionList | undefined>)[connectionsSymbol]);
  if (list === undefined) {
    // A Node without the list: its own method (the race above remains).
    server.closeIdleConnections();
    return;
  }
  for (const parser of list.idle()) {
    const socket = parser.socket as Socket & { _httpMessage?: unknown };
    if (socket._httpMessage != null || (parser.outgoing?.length ?? 0) > 0 || socket.writableLength > 0) continue;
    socket.destroy();
  }
}

/** A TLS connection that did not negotiate h2 on a listener without http1. */
function refuseHttp1(socket: Duplex): void {
  socket.destroy();
}

const CONNECT_REFUSED = closingProxyErrorResponse('method_not_supported');
const HEADERS_TOO_LARGE = closingProxyErrorResponse('header_fields_too_large');
const REQUEST_TIMEOUT = closingProxyErrorResponse('request_timeout');
const BAD_REQUEST = closingProxyErrorResponse('bad_request');

/** The raw response for a request Node's parser refused or timed out; the connection closes. */
function clientErrorResponse(code: string | undefined): string {
  if (code === 'HPE_HEADER_OVERFLOW') return HEADERS_TOO_LARGE;
  if (code === 'ERR_HTTP_REQUEST_TIMEOUT') return REQUEST_TIMEOUT;
  return BAD_REQUEST;
}

/**
 * How often Node checks connections against headersTimeout/requestTimeout (its default, 30 s,
 * would let a slow client hold a connection that long past a shorter limit).
 */
function timeoutCheckInterval(limits: Config['limits']): number {
  const shortest = limits.requestTimeout > 0 ? Math.min(limits.headersTimeout, limits.requestTimeout) : limits.headersTimeout;
  return Math.min(1_000, Math.max(100, Math.floor(shortest / 4)));
}

function closeAfterResponse(_req: IncomingMessage, res: ServerResponse): void {
  res.shouldKeepAlive = false;
}

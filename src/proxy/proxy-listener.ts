import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import net, { type AddressInfo, type Socket } from 'node:net';
import type { Config, ListenerConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { ProxyHandler } from './proxy-handler.js';

/** How long a connection must stay idle during a drain before it is closed. */
const DRAIN_IDLE_QUIET_MS = 500;

/** One client-facing listener (node:http) with the configured limits. */
export class ProxyListener {
  readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(
    readonly config: ListenerConfig,
    limits: Config['limits'],
    handler: ProxyHandler,
    private readonly logger: Logger,
  ) {
    this.server = createServer(
      {
        maxHeaderSize: limits.maxHeaderSize,
        headersTimeout: limits.headersTimeout,
        requestTimeout: limits.requestTimeout,
        keepAliveTimeout: limits.keepAliveTimeout,
        requireHostHeader: false,
      },
      handler.handleRequest,
    );
    this.server.on('upgrade', handler.handleUpgrade);
    this.server.on('connection', (socket: Socket) => {
      this.sockets.add(socket);
      socket.once('close', () => this.sockets.delete(socket));
    });
    this.server.on('clientError', (err: Error & { code?: string }, socket: Socket) => {
      this.logger.debug({ listener: this.name, errorCode: err.code, error: err.message }, 'malformed request rejected');
      if (!socket.writable) {
        socket.destroy();
        return;
      }
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? '431 Request Header Fields Too Large' : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? '408 Request Timeout' : '400 Bad Request';
      socket.end(`HTTP/1.1 ${status}\r\nconnection: close\r\ncontent-length: 0\r\n\r\n`);
    });
  }

  get name(): string {
    return this.config.name ?? `${this.config.address}:${this.config.port}`;
  }

  async listen(): Promise<AddressInfo> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.config.port, this.config.address, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    return this.server.address() as AddressInfo;
  }

  get address(): AddressInfo {
    return this.server.address() as AddressInfo;
  }

  /** Client connections now open. */
  get openConnections(): number {
    return this.sockets.size;
  }

  /**
   * Graceful close: stops accepting; lets in-flight requests finish; answers every response
   * from now on with `Connection: close`, so clients leave each connection after its current
   * exchange instead of sending another request into a closing socket. Connections that
   * stay idle through a short quiet period are then closed (the same race any keep-alive
   * timeout has, but only for clients idle that long). Connections still busy after
   * `graceMs` are cut.
   */
  async close(graceMs: number): Promise<void> {
    // Requests that arrive on kept-alive connections during the drain.
    this.server.prependListener('request', closeAfterResponse);
    // Requests already in progress whose response head has not gone out yet. `_httpMessage`
    // is Node's link from a socket to its current response; no public API reaches it.
    for (const socket of this.sockets) {
      const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (res && !res.headersSent) res.shouldKeepAlive = false;
    }
    // net.Server's close stops accepting without http.Server's immediate closeIdleConnections(),
    // which would reset connections a client is writing its next request into right now.
    const closed = new Promise<void>((resolve) => net.Server.prototype.close.call(this.server, () => resolve()));
    let sweep: NodeJS.Timeout | undefined;
    const quiet = setTimeout(() => {
      this.server.closeIdleConnections();
      sweep = setInterval(() => this.server.closeIdleConnections(), DRAIN_IDLE_QUIET_MS);
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
  }
}

function closeAfterResponse(_req: IncomingMessage, res: ServerResponse): void {
  res.shouldKeepAlive = false;
}

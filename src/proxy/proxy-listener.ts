import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Config, ListenerConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { ProxyHandler } from './proxy-handler.js';

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
   * Graceful close: stops accepting, closes idle keep-alive connections, lets in-flight
   * requests finish, and answers every response from now on with `Connection: close` so
   * clients do not send another request on a connection that is about to go. Connections
   * still busy after `graceMs` are cut.
   */
  async close(graceMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    // Requests that arrive on kept-alive connections during the drain.
    this.server.prependListener('request', closeAfterResponse);
    // Requests already in progress whose response head has not gone out yet.
    for (const socket of this.sockets) {
      const res = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (res && !res.headersSent) res.shouldKeepAlive = false;
    }
    this.server.closeIdleConnections();
    // A response whose head was already sent with keep-alive leaves its connection idle
    // afterwards; close such connections as they become idle.
    const sweep = setInterval(() => this.server.closeIdleConnections(), 50);
    const timer = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
    }, graceMs);
    await closed;
    clearInterval(sweep);
    clearTimeout(timer);
  }
}

function closeAfterResponse(_req: IncomingMessage, res: ServerResponse): void {
  res.shouldKeepAlive = false;
}

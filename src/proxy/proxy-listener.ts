import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Config, ListenerConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { ProxyHandler } from './proxy-handler.js';

/** What a listener hands requests to: a ProxyHandler, or something in front of one. */
export type RequestHandlers = Pick<ProxyHandler, 'handleRequest' | 'handleUpgrade'>;

/** One client-facing listener (node:http) with the configured limits. */
export class ProxyListener {
  readonly server: Server;
  private readonly sockets = new Set<Socket>();

  constructor(
    readonly config: ListenerConfig,
    limits: Config['limits'],
    handler: RequestHandlers,
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

  /** Stops accepting, closes idle keep-alive connections, waits for in-flight requests. */
  async close(graceMs: number): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.server.closeIdleConnections();
    const timer = setTimeout(() => {
      for (const s of this.sockets) s.destroy();
    }, graceMs);
    await closed;
    clearTimeout(timer);
  }
}

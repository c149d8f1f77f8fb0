import { createHash } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import type { Dispatcher } from 'undici';
import type { Route } from '../routing/route.js';
import type { Endpoint } from '../upstream/endpoint.js';
import { ClientClosedError } from './client-closed-error.js';
import { writeInformational } from './informational-response.js';
import type { ProxyContext } from './proxy-context.js';
import { RecordedExchange } from './recorded-exchange.js';
import { requestTlsVersion } from './request-connection.js';
import { classifyUpstreamError, sendProxyError, type ProxyErrorCode } from './proxy-error.js';
import type { ExchangeRecord, TunnelRecord } from './request-observer.js';
import { buildClientHeaders } from './response-headers.js';

/** RFC 6455 §1.3: the GUID appended to Sec-WebSocket-Key before hashing. */
const WEBSOCKET_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';

const BREAKER_ERRORS = { requests: 'breaker_requests', pending: 'breaker_pending', connections: 'breaker_connections' } as const;

/**
 * One HTTP/1.1 upgrade (WebSocket, or another protocol allowed in `proxy.allowedUpgrades`).
 * The request goes upstream through the endpoint's undici pool with the upgrade offered; the
 * client connection becomes a tunnel only when the upstream answers `101 Switching Protocols`
 * with `Connection: upgrade`, an `Upgrade` naming a protocol the client offered, and (for
 * WebSocket) the `Sec-WebSocket-Accept` that the client's key calls for. Until then nothing
 * the client sent after its request head is read, let alone forwarded.
 *
 * Any other final answer is relayed as an ordinary response through `res` (the same header
 * filtering as every response) and the client connection is closed after it: bytes the client
 * sent after the head never reach an upstream. A 101 that fails the checks gets a 502
 * `upstream_bad_upgrade` and both connections are closed. 103 Early Hints before the answer
 * are relayed; other 1xx are dropped.
 *
 * Limits: the circuit breaker admits the upgrade like a request and counts it as an active
 * request for the tunnel's whole life (as Envoy counts an upgraded stream); limits.maxUpgrades
 * is checked by the handler. Upgrades are not retried.
 *
 * The exchange ends in one place, finish(): the handshake outcome is reported to the observer
 * as a request (access log line, request metrics) unless a tunnel opened; a tunnel is reported
 * when it closes (tunnelEnded: one access log line with its duration and bytes each way).
 */
export class UpgradeExchange extends RecordedExchange implements Dispatcher.DispatchHandler, ExchangeRecord, TunnelRecord {
  upstreamStartedAt = 0;
  upstreamEndedAt = 0;
  upstreamStatus = 0;
  bytesOut = 0;
  readonly retries = 0;
  /** Upgrades are never gRPC. */
  readonly grpc = false;
  readonly grpcStatus = -1;
  /** Upgrade requests do not run route filters: no trace id, no span. */
  readonly traceId = undefined;
  readonly spanId = undefined;
  readonly parentSpanId = '';
  readonly sampled = false;
  failure: (Error & { code?: string }) | null = null;
  /** The protocol the upstream switched to. */
  protocol = '';
  openedAt = 0;
  bytesFromClient = 0;
  bytesToClient = 0;
  private upstream: Socket | null = null;
  private abortUpstream: ((err?: Error) => void) | null = null;
  private resumeUpstream: (() => void) | null = null;
  private admitted = false;
  private finished = false;
  private tunnelled = false;

  constructor(
    private readonly ctx: ProxyContext,
    readonly req: IncomingMessage,
    /** Writes ordinary responses on the client connection (closed after them). */
    readonly res: ServerResponse,
    private readonly client: Duplex,
    /** What the client sent after its request head. */
    private readonly head: Buffer,
    readonly route: Route,
    readonly endpoint: Endpoint,
    readonly requestId: string,
    readonly startedAt: number,
    /** The Upgrade value offered upstream (allowed protocols only, lower-case). */
    private readonly offer: string,
    /** Resolved once by the handler (proxy/client-address.ts). */
    clientAddress: string,
  ) {
    super(clientAddress, requestTlsVersion(req));
  }

  /** From the tunnel's opening to its close, in milliseconds. */
  get tunnelMs(): number {
    return this.endedAt - this.openedAt;
  }

  start(path: string, headers: string[]): void {
    const cluster = this.route.cluster;
    const refused = cluster.breaker.admitRequest() ?? cluster.breaker.admitDispatch(this.endpoint);
    if (refused !== null) {
      this.route.metrics.upstream.breakerRejected();
      this.route.metrics.upgrades.refused('breaker');
      const code = BREAKER_ERRORS[refused];
      sendProxyError(this.res, code, this.ctx.headers.requestIdHeader, this.requestId, `service "${cluster.name}"`);
      this.ctx.observer.requestRejected(this.req, this.res, this.route, this.requestId, code, this.startedAt, this.clientAddress);
      this.finished = true;
      return;
    }
    this.admitted = true;
    cluster.breaker.activeRequests++;
    this.endpoint.tries++;
    this.client.on('close', this.clientClosed);
    this.client.on('error', this.clientError);
    this.upstreamStartedAt = performance.now();
    this.endpoint.pool.dispatch(
      {
        path,
        method: this.req.method as Dispatcher.HttpMethod,
        headers,
        body: null,
        upgrade: this.offer,
        headersTimeout: this.route.timeouts.headers,
      },
      this,
    );
  }

  onConnect(abort: (err?: Error) => void): void {
    if (this.finished || this.client.destroyed) abort(new ClientClosedError());
    else this.abortUpstream = abort;
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    if (statusCode < 200) {
      writeInformational(this.res, statusCode, rawHeaders, this.ctx.logger, this.ctx.headers.requestIdHeader, this.requestId);
      return true;
    }
    // An ordinary answer: the upgrade is refused and the connection closes after the response.
    this.upstreamStatus = statusCode;
    this.resumeUpstream = resume;
    if (statusCode >= 500) this.route.cluster.outlier.failure(this.endpoint);
    else this.route.cluster.outlier.success(this.endpoint);
    this.route.metrics.upgrades.refused('upstream_refused');
    try {
      this.res.writeHead(statusCode, statusText || undefined, buildClientHeaders(rawHeaders, this.ctx.headers.requestIdHeader, this.requestId));
    } catch (err) {
      this.abortUpstream?.(err as Error);
      return false;
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    this.bytesOut += chunk.length;
    if (this.res.write(chunk)) return true;
    this.res.once('drain', this.resume);
    return false;
  }

  onComplete(): void {
    this.upstreamEndedAt = performance.now();
    this.res.end();
    this.finish();
  }

  onUpgrade(statusCode: number, rawHeaders: Buffer[], socket: Duplex): void {
    this.upstreamEndedAt = performance.now();
    this.upstreamStatus = statusCode;
    const upstream = socket as Socket;
    const problem = this.handshakeProblem(statusCode, rawHeaders);
    if (problem !== null) {
      upstream.destroy();
      this.route.cluster.outlier.failure(this.endpoint);
      this.route.metrics.upgrades.refused('bad_handshake');
      this.ctx.logger.warn({ requestId: this.requestId, route: this.route.name, service: this.route.cluster.name, endpoint: this.endpoint.key, offered: this.offer, problem }, 'upgrade refused: the upstream 101 does not complete the handshake');
      this.failure = Object.assign(new Error(`the upstream's 101 ${problem}`), { code: 'SWITCHYARD_BAD_UPGRADE' });
      this.respondWithError('upstream_bad_upgrade');
      this.finish();
      return;
    }
    let responseHead: string;
    try {
      responseHead = switchingProtocolsHead(rawHeaders, this.protocol, this.ctx.headers.requestIdHeader, this.requestId);
    } catch (err) {
      upstream.destroy();
      this.route.metrics.upgrades.refused('bad_handshake');
      this.failure = err as Error;
      this.respondWithError('upstream_bad_upgrade');
      this.finish();
      return;
    }
    this.route.cluster.outlier.success(this.endpoint);
    this.tunnelled = true;
    this.upstream = upstream;
    this.openedAt = performance.now();
    this.route.metrics.upgrades.opened();
    // The client connection leaves the response machinery: from here on it carries raw bytes.
    this.res.detachSocket(this.client as Socket);
    this.client.write(responseHead);
    upstream.setNoDelay(true);
    if (this.head.length > 0) {
      this.bytesFromClient += this.head.length;
      upstream.write(this.head);
    }
    upstream.on('data', this.countToClient);
    this.client.on('data', this.countFromClient);
    upstream.on('error', this.upstreamSocketError);
    upstream.on('close', this.upstreamClosed);
    upstream.pipe(this.client);
    this.client.pipe(upstream);
  }

  onError(err: Error & { code?: string }): void {
    this.upstreamEndedAt = performance.now();
    if (this.finished) return;
    this.failure = err;
    if (err instanceof ClientClosedError || this.client.destroyed) {
      this.route.metrics.upgrades.refused('client_closed');
      this.finish();
      return;
    }
    if (this.res.headersSent) {
      // The refusal's body broke off: cut the connection so the truncation is visible.
      this.client.destroy();
      this.finish();
      return;
    }
    const code = classifyUpstreamError(err);
    if (this.route.cluster.outlier.failure(this.endpoint)) this.route.metrics.upstream.ejected();
    this.route.metrics.upgrades.refused('upstream_failed');
    this.ctx.logger.warn(
      { requestId: this.requestId, route: this.route.name, service: this.route.cluster.name, endpoint: this.endpoint.key, errorCode: err.code, error: err.message },
      'upgrade failed: no answer from the upstream',
    );
    this.respondWithError(code);
    this.finish();
  }

  /**
   * Why a 101 does not complete the handshake the client asked for, or null when it does:
   * Connection must name "upgrade", Upgrade must name one protocol that was offered, and a
   * WebSocket accept key must match the client's key (RFC 6455 §4.1, §4.2.2).
   */
  private handshakeProblem(statusCode: number, rawHeaders: Buffer[]): string | null {
    if (statusCode !== 101) return `has status ${statusCode}`;
    let upgrade: string | null = null;
    let connectionUpgrade = false;
    let accept: string | null = null;
    for (let i = 0; i < rawHeaders.length; i += 2) {
      const name = rawHeaders[i]!.toString('latin1').toLowerCase();
      const value = rawHeaders[i + 1]!.toString('latin1');
      if (name === 'upgrade') {
        if (upgrade !== null) return 'has more than one Upgrade header';
        upgrade = value.trim().toLowerCase();
      } else if (name === 'connection') {
        for (const token of value.split(',')) if (token.trim().toLowerCase() === 'upgrade') connectionUpgrade = true;
      } else if (name === 'sec-websocket-accept') {
        if (accept !== null) return 'has more than one Sec-WebSocket-Accept header';
        accept = value.trim();
      }
    }
    if (!connectionUpgrade) return 'has no "Connection: upgrade"';
    if (upgrade === null) return 'names no protocol in Upgrade';
    let offered = false;
    for (const token of this.offer.split(',')) if (token.trim() === upgrade) offered = true;
    if (!offered) return `switches to "${upgrade}", which the client did not ask for (offered: ${this.offer})`;
    if (upgrade === 'websocket') {
      const key = this.req.headers['sec-websocket-key'] ?? '';
      const expected = createHash('sha1').update(`${key.trim()}${WEBSOCKET_GUID}`).digest('base64');
      if (accept !== expected) return 'has a Sec-WebSocket-Accept that does not match the client\'s Sec-WebSocket-Key';
    }
    this.protocol = upgrade;
    return null;
  }

  /** Answers with a proxy error (the connection closes after it). */
  private respondWithError(code: ProxyErrorCode): void {
    if (this.res.headersSent || this.client.destroyed) return;
    sendProxyError(this.res, code, this.ctx.headers.requestIdHeader, this.requestId);
  }

  private readonly resume = (): void => {
    this.resumeUpstream?.();
  };

  private readonly countToClient = (chunk: Buffer): void => {
    this.bytesToClient += chunk.length;
  };

  private readonly countFromClient = (chunk: Buffer): void => {
    this.bytesFromClient += chunk.length;
  };

  private readonly clientClosed = (): void => {
    if (this.tunnelled) {
      this.upstream?.destroy();
      this.tunnelEnded();
    } else if (!this.finished) {
      this.abortUpstream?.(new ClientClosedError());
    }
  };

  private readonly clientError = (err: Error): void => {
    this.ctx.logger.debug({ requestId: this.requestId, error: err.message }, 'upgrade: client connection error');
  };

  private readonly upstreamSocketError = (err: Error): void => {
    this.ctx.logger.debug({ requestId: this.requestId, endpoint: this.endpoint.key, error: err.message }, 'upgrade: upstream connection error');
  };

  private readonly upstreamClosed = (): void => {
    this.client.destroy();
    this.tunnelEnded();
  };

  /** Either side of an open tunnel closed: report it once and release what it held. */
  private tunnelEnded(): void {
    if (this.finished) return;
    this.finished = true;
    this.release();
    this.endedAt = performance.now();
    this.route.metrics.upgrades.closed(this.tunnelMs / 1000, this.bytesFromClient, this.bytesToClient);
    this.ctx.observer.tunnelEnded(this);
  }

  /** The handshake ended without a tunnel: report it as a request and release what it held. */
  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.release();
    this.endedAt = performance.now();
    this.ctx.observer.requestEnded(this);
  }

  private release(): void {
    if (!this.admitted) return;
    this.admitted = false;
    this.route.cluster.breaker.activeRequests--;
    this.endpoint.triesEnded++;
  }
}

/**
 * The 101 sent to the client: the upstream's headers filtered like any response (hop-by-hop
 * and Connection-named fields dropped), then `Connection: upgrade` and `Upgrade` with the
 * protocol that was checked.
 */
function switchingProtocolsHead(rawHeaders: Buffer[], protocol: string, requestIdHeader: string, requestId: string): string {
  const headers = buildClientHeaders(rawHeaders, requestIdHeader, requestId);
  let head = 'HTTP/1.1 101 Switching Protocols\r\n';
  for (let i = 0; i < headers.length; i += 2) head += `${headers[i]}: ${headers[i + 1]}\r\n`;
  return `${head}connection: upgrade\r\nupgrade: ${protocol}\r\n\r\n`;
}

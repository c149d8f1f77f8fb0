import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { RequestHead, ServerStream } from '../codec/server-stream.js';
import type { FilterRefusal } from '../filters/route-filter.js';
import { rewritePath, type Route } from '../routing/route.js';
import { RouteTable } from '../routing/route-table.js';
import type { Endpoint } from '../upstream/endpoint.js';
import { guardChunkedBody } from './body-size-guard.js';
import { endConnection, isClosing } from './closing-connection.js';
import { Exchange } from './exchange.js';
import { ForwardExchange } from './forward-exchange.js';
import { isGrpcRequest } from './grpc-status.js';
import { grpcTimeoutMs } from './grpc-timeout.js';
import { normalizePath } from './path-normalization.js';
import type { ProxyContext } from './proxy-context.js';
import { sendProxyError, sendProxyErrorAndClose, sendStreamError, type ProxyErrorCode } from './proxy-error.js';
import { requestPeerAddress } from './request-connection.js';
import { buildUpstreamHeaders } from './request-headers.js';
import { requestIdFor } from './request-id.js';
import { absoluteFormPath, hasRequestBody, hostOf } from './request-target.js';
import { validateRequest } from './request-validation.js';
import { UpgradeExchange } from './upgrade-exchange.js';
import { plainRequestHead, upgradeToOffer, type ParseAgain } from './upgrade-request.js';
import { responseOnUpgradeConnection } from './upgrade-connection-response.js';

/** A routed request, or the reason it cannot be routed. */
type Resolution =
  | { ok: true; route: Route; endpoint: Endpoint; path: string }
  | { ok: false; code: ProxyErrorCode; detail?: string; close: boolean; route?: Route };

const NOT_A_PATH: Resolution = {
  ok: false,
  code: 'bad_request',
  detail: 'the request target must be a path starting with "/" (or an absolute http(s) URL for the Host header\'s host)',
  close: true,
};

/**
 * The request entry point: validate, normalise the path, match the route on the current
 * table, pick an endpoint, forward. `table` and `context` are replaced whole (one assignment
 * each) on reload; a request reads each once at its start.
 */
export class ProxyHandler {
  table: RouteTable = RouteTable.empty();
  /** Upgraded connections now open (bounded by limits.maxUpgrades). */
  private openUpgrades = 0;

  constructor(
    public context: ProxyContext,
    private readonly proto: 'http' | 'https',
  ) {}

  get upgrades(): number {
    return this.openUpgrades;
  }

  readonly handleRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const startedAt = performance.now();
    // A request pipelined behind a refused one on the same connection is dropped unanswered.
    if (isClosing(req.socket)) return;
    const ctx = this.context;
    // Who the client is, once per request: the connection's client address, or behind a
    // trusted proxy the address it forwarded. Without trusted proxies: one comparison.
    const peer = requestPeerAddress(req);
    const trust = ctx.headers.trust;
    const peerTrusted = trust !== null && trust.trustsPeer(peer);
    const clientAddress = peerTrusted ? trust.clientBehind(peer, forwardedFor(req)) : peer;
    const idHeader = ctx.headers.requestIdHeader;
    const requestId = requestIdFor(req.headers[idHeader]);
    const invalid = validateRequest(req, ctx.limits.maxHeaderCount);
    if (invalid !== null) {
      sendProxyErrorAndClose(res, invalid.code, idHeader, requestId, invalid.detail);
      ctx.observer.requestRejected(req, res, null, requestId, invalid.code, startedAt, clientAddress);
      return;
    }
    const r = this.resolve(req, clientAddress);
    if (!r.ok) {
      if (r.close) sendProxyErrorAndClose(res, r.code, idHeader, requestId, r.detail);
      else sendProxyError(res, r.code, idHeader, requestId, r.detail);
      ctx.observer.requestRejected(req, res, r.route ?? null, requestId, r.code, startedAt, clientAddress);
      return;
    }
    const contentLength = req.headers['content-length'];
    const transferEncoding = req.headers['transfer-encoding'];
    const hasBody = hasRequestBody(contentLength, transferEncoding);
    const bodyLimit = r.route.maxBodySize ?? ctx.limits.maxBodySize;
    if (bodyLimit > 0) {
      if (contentLength !== undefined) {
        if (Number(contentLength) > bodyLimit) {
          sendProxyErrorAndClose(res, 'body_too_large', idHeader, requestId, `Content-Length ${contentLength} is over ${bodyLimit} bytes`);
          ctx.observer.requestRejected(req, res, r.route, requestId, 'body_too_large', startedAt, clientAddress);
          return;
        }
      } else if (transferEncoding !== undefined) {
        guardChunkedBody(req, res, bodyLimit, idHeader, requestId);
      }
    }
    const headers = buildUpstreamHeaders(req, ctx.headers, requestId, r.route.hostRewrite, this.protoOf(req), null, peer, peerTrusted);
    const exchange = new ForwardExchange(ctx, req, res, r.route, r.endpoint, requestId, startedAt, clientAddress);
    const decision = r.route.filters === null ? null : r.route.filters.runRequest(exchange, headers);
    if (decision instanceof Promise) {
      // Rare: a filter asks first (a shared rate limit without local tokens; bounded by its timeout).
      decision.then((refusal) => this.forwardOrRefuse(exchange, req, res, r, headers, hasBody, refusal)).catch((err: unknown) => this.filterFailed(err, res, exchange));
      return;
    }
    this.forwardOrRefuse(exchange, req, res, r, headers, hasBody, decision);
  };

  /** A filter's promise failed (a bug, not a refusal): logged, and the client's connection cut so nothing hangs. */
  private filterFailed(err: unknown, res: ServerResponse | ServerStream, exchange: { requestId: string }): void {
    this.context.logger.error({ err, requestId: exchange.requestId }, 'a route filter failed; the request is cut');
    if ('abort' in res) res.abort();
    else res.destroy();
  }

  /** The end of handleRequest once the filters have decided: the refusal answered, or the request forwarded. */
  private forwardOrRefuse(
    exchange: ForwardExchange,
    req: IncomingMessage,
    res: ServerResponse,
    r: { route: Route; path: string },
    headers: string[],
    hasBody: boolean,
    refusal: FilterRefusal | null,
  ): void {
    if (refusal !== null) {
      for (let i = 0; i < refusal.headers.length; i += 2) res.setHeader(refusal.headers[i]!, refusal.headers[i + 1]!);
      sendProxyError(res, refusal.code, this.context.headers.requestIdHeader, exchange.requestId, refusal.detail);
      this.context.observer.requestRejected(req, res, r.route, exchange.requestId, refusal.code, exchange.startedAt, exchange.clientAddress);
      return;
    }
    if (isGrpcRequest(req)) exchange.startGrpc(r.path, headers, hasBody);
    else exchange.start(r.path, headers, hasBody);
  }

  /**
   * A request from a codec stream (HTTP/1.1 on llhttp, or HTTP/2 on node:http2's stream API):
   * the same checks, routing and filters as handleRequest, forwarded by an Exchange. A body of
   * unknown length (chunked, or an HTTP/2 body without Content-Length) is counted against the
   * size limit as it arrives (the exchange's `bodyLimit`).
   */
  readonly handleStream = (stream: ServerStream): void => {
    const startedAt = performance.now();
    const ctx = this.context;
    const peer = requestPeerAddress(stream);
    const trust = ctx.headers.trust;
    const peerTrusted = trust !== null && trust.trustsPeer(peer);
    const clientAddress = peerTrusted ? trust.clientBehind(peer, forwardedFor(stream)) : peer;
    const idHeader = ctx.headers.requestIdHeader;
    const requestId = requestIdFor(stream.headers[idHeader]);
    const invalid = validateRequest(stream, ctx.limits.maxHeaderCount);
    if (invalid !== null) {
      this.refuseStream(stream, null, requestId, invalid.code, invalid.detail, true, startedAt, clientAddress);
      return;
    }
    const r = this.resolve(stream, clientAddress);
    if (!r.ok) {
      this.refuseStream(stream, r.route ?? null, requestId, r.code, r.detail, r.close, startedAt, clientAddress);
      return;
    }
    const bodyLimit = r.route.maxBodySize ?? ctx.limits.maxBodySize;
    const contentLength = stream.headers['content-length'];
    if (bodyLimit > 0 && contentLength !== undefined && Number(contentLength) > bodyLimit) {
      this.refuseStream(stream, r.route, requestId, 'body_too_large', `Content-Length ${contentLength} is over ${bodyLimit} bytes`, true, startedAt, clientAddress);
      return;
    }
    const headers = buildUpstreamHeaders(stream, ctx.headers, requestId, r.route.hostRewrite, this.protoOf(stream), null, peer, peerTrusted);
    const exchange = new Exchange(ctx, stream, r.route, r.endpoint, requestId, startedAt, clientAddress);
    const bodyCheck = contentLength === undefined ? bodyLimit : 0;
    const decision = r.route.filters === null ? null : r.route.filters.runRequest(exchange, headers);
    if (decision instanceof Promise) {
      decision.then((refusal) => this.forwardOrRefuseStream(exchange, stream, r, headers, bodyCheck, refusal)).catch((err: unknown) => this.filterFailed(err, stream, exchange));
      return;
    }
    this.forwardOrRefuseStream(exchange, stream, r, headers, bodyCheck, decision);
  };

  /** The end of handleStream once the filters have decided. */
  private forwardOrRefuseStream(exchange: Exchange, stream: ServerStream, r: { route: Route; path: string }, headers: string[], bodyCheck: number, refusal: FilterRefusal | null): void {
    if (refusal !== null) {
      if (stream.hasBody) stream.closeAfterResponse();
      sendStreamError(stream, refusal.code, this.context.headers.requestIdHeader, exchange.requestId, refusal.detail, refusal.headers);
      this.context.observer.requestRejected(stream, stream, r.route, exchange.requestId, refusal.code, exchange.startedAt, exchange.clientAddress);
      return;
    }
    let deadline = 0;
    if (isGrpcRequest(stream)) {
      exchange.grpc = true;
      deadline = grpcTimeoutMs(stream.headers['grpc-timeout']);
    }
    exchange.start(r.path, headers, deadline, bodyCheck);
  }

  /** Answers a codec stream with a proxy error; `close`: its connection closes after it. */
  private refuseStream(
    stream: ServerStream,
    route: Route | null,
    requestId: string,
    code: ProxyErrorCode,
    detail: string | undefined,
    close: boolean,
    startedAt: number,
    clientAddress: string,
  ): void {
    // A body nobody reads leaves the connection unusable after the answer.
    if (close || stream.hasBody) stream.closeAfterResponse();
    sendStreamError(stream, code, this.context.headers.requestIdHeader, requestId, detail);
    this.context.observer.requestRejected(stream, stream, route, requestId, code, startedAt, clientAddress);
  }

  /**
   * A request Node's parser handed over as an upgrade. One that is not to be tunnelled (a
   * protocol not in proxy.allowedUpgrades such as h2c, a body, an incomplete WebSocket
   * handshake) goes back to the listener's parser without its upgrade headers and is served
   * as a plain request. The rest go to an UpgradeExchange, which opens a tunnel only on a
   * 101 that completes the handshake.
   */
  readonly handleUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer, parseAgain: ParseAgain): void => {
    if (isClosing(req.socket)) {
      endConnection(socket);
      return;
    }
    const ctx = this.context;
    const offer = upgradeToOffer(req, ctx.limits.allowedUpgrades);
    if (offer === null) {
      parseAgain(socket, [plainRequestHead(req), head]);
      return;
    }
    const startedAt = performance.now();
    const peer = requestPeerAddress(req);
    const trust = ctx.headers.trust;
    const peerTrusted = trust !== null && trust.trustsPeer(peer);
    const clientAddress = peerTrusted ? trust.clientBehind(peer, forwardedFor(req)) : peer;
    const idHeader = ctx.headers.requestIdHeader;
    const requestId = requestIdFor(req.headers[idHeader]);
    const res = responseOnUpgradeConnection(req, socket);
    const invalid = validateRequest(req, ctx.limits.maxHeaderCount);
    if (invalid !== null) {
      sendProxyError(res, invalid.code, idHeader, requestId, invalid.detail);
      ctx.observer.requestRejected(req, res, null, requestId, invalid.code, startedAt, clientAddress);
      return;
    }
    const r = this.resolve(req, clientAddress);
    if (!r.ok) {
      sendProxyError(res, r.code, idHeader, requestId, r.detail);
      ctx.observer.requestRejected(req, res, r.route ?? null, requestId, r.code, startedAt, clientAddress);
      return;
    }
    if (r.endpoint.protocol !== 'http1') {
      // HTTP/1.1 Upgrade has no HTTP/2 form (RFC 9113 §8.6; WebSocket over HTTP/2 is extended CONNECT).
      sendProxyError(res, 'upgrade_not_supported', idHeader, requestId, `service "${r.route.cluster.name}" has protocol ${r.endpoint.protocol}`);
      ctx.observer.requestRejected(req, res, r.route, requestId, 'upgrade_not_supported', startedAt, clientAddress);
      return;
    }
    if (this.openUpgrades >= ctx.limits.maxUpgrades) {
      ctx.logger.warn({ requestId, open: this.openUpgrades, limit: ctx.limits.maxUpgrades }, 'upgrade refused: limits.maxUpgrades reached');
      r.route.metrics.upgrades.refused('limit');
      sendProxyError(res, 'upgrade_limit', idHeader, requestId);
      ctx.observer.requestRejected(req, res, r.route, requestId, 'upgrade_limit', startedAt, clientAddress);
      return;
    }
    this.openUpgrades++;
    socket.once('close', this.upgradeClosed);
    const headers = buildUpstreamHeaders(req, ctx.headers, requestId, r.route.hostRewrite, this.protoOf(req), null, peer, peerTrusted);
    new UpgradeExchange(ctx, req, res, socket, head, r.route, r.endpoint, requestId, startedAt, offer, clientAddress).start(r.path, headers);
  };

  private readonly upgradeClosed = (): void => {
    this.openUpgrades--;
  };

  /** "https" on TLS connections, else the handler's default. */
  private protoOf(req: RequestHead): string {
    return (req.socket as { encrypted?: boolean }).encrypted === true ? 'https' : this.proto;
  }

  private resolve(req: RequestHead, clientAddress: string): Resolution {
    let url = req.url ?? '';
    const host = hostOf(req.headers.host);
    if (url.charCodeAt(0) !== 47 /* / */) {
      const origin = absoluteFormPath(url, host);
      if (origin === null) return NOT_A_PATH;
      url = origin;
    }
    const q = url.indexOf('?');
    const rawPath = q < 0 ? url : url.slice(0, q);
    const path = normalizePath(rawPath, this.context.limits.keepEncodedSlashes);
    if (typeof path !== 'string') return { ok: false, code: 'bad_request', detail: path.reason, close: true };
    const method = req.method ?? 'GET';
    const matched = this.table.match(host, path, method, req.headers);
    if (matched === undefined) return { ok: false, code: 'no_route', detail: `${method} ${path}`, close: false };
    const route = matched.split === null ? matched : matched.split.pick(req);
    const endpoint = route.cluster.pick(req, clientAddress);
    if (endpoint === undefined) return { ok: false, code: 'no_healthy_endpoint', detail: `service "${route.cluster.name}"`, close: false, route };
    return { ok: true, route, endpoint, path: rewritePath(route, path, q < 0 ? '' : url.slice(q)) };
  }
}

/** The X-Forwarded-For value (node:http and node:http2 join repeated fields with ", "). */
function forwardedFor(req: RequestHead): string | undefined {
  const value = req.headers['x-forwarded-for'];
  return typeof value === 'string' ? value : undefined;
}

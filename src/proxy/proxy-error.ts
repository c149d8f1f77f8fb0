import type { ServerResponse } from 'node:http';
import type { ServerStream } from '../codec/server-stream.js';
import { markClosing } from './closing-connection.js';
import { grpcErrorFields, GrpcStatus, isGrpcRequest, sendGrpcError } from './grpc-status.js';

/**
 * Every answer the proxy gives itself instead of an upstream's, in one table: the code (in the
 * `x-switchyard-error` header, the JSON body, the access log and
 * `switchyard_proxy_errors_total{code}`), the HTTP status, the gRPC status a gRPC client gets
 * instead (UNAVAILABLE for routing and capacity problems the client may retry, UNIMPLEMENTED
 * for what is not served here, DEADLINE_EXCEEDED for timeouts, RESOURCE_EXHAUSTED for limits on
 * what the client sent, INTERNAL for malformed requests and responses — gRPC's own mapping of
 * HTTP statuses where it applies), the message clients read, and what an operator does about
 * it. docs/error-codes.md is generated from this table (`npm run docs:config`).
 */
export const PROXY_ERRORS = {
  bad_request: {
    status: 400,
    grpc: GrpcStatus.INTERNAL,
    message: 'the request cannot be routed',
    action: 'The client sent something that is not a proxyable HTTP request: malformed syntax, a target that is not a path (e.g. `OPTIONS *`), a missing or repeated Host, Transfer-Encoding with Content-Length. Fix the client; the message names the problem.',
  },
  no_route: {
    status: 404,
    grpc: GrpcStatus.UNIMPLEMENTED,
    message: 'no route matches this request',
    action: 'Check the host and path against `GET /api/v1/routes` (or `switchyard routes`): a missing route, a host or header match that does not fit, or a Consul tag route that is not registered yet.',
  },
  request_timeout: {
    status: 408,
    grpc: GrpcStatus.DEADLINE_EXCEEDED,
    message: 'the request headers did not arrive in time',
    action: 'The client was slower than `limits.headersTimeout` / `limits.requestTimeout` (or the connection stalled). Raise the limit only if such clients are legitimate; the connection is closed.',
  },
  body_too_large: {
    status: 413,
    grpc: GrpcStatus.RESOURCE_EXHAUSTED,
    message: 'the request body is larger than this route accepts',
    action: 'Raise the route\'s `maxBodySize` (or `limits.maxBodySize`) if such bodies are expected; otherwise the client must send less.',
  },
  rate_limited: {
    status: 429,
    grpc: GrpcStatus.RESOURCE_EXHAUSTED,
    message: 'too many requests: the route\'s rate limit is reached',
    action: 'The route\'s `rateLimit` bucket is empty (`Retry-After` says when the next token comes). Raise `rateLimit` or change its key (`by`) if legitimate traffic is refused; `switchyard_rate_limit_requests_total{result="limited"}` counts refusals by route.',
  },
  rate_limit_store_unavailable: {
    status: 503,
    grpc: GrpcStatus.UNAVAILABLE,
    message: 'the shared rate limit store does not answer; try again later',
    action: 'The route has `rateLimit.store: redis` with `onStoreFailure: closed`, and Redis (`rateLimitRedis`) did not answer within `commandTimeout` or cannot be reached. The log says when the outage began and ended (once each); `switchyard_rate_limit_store_up` and `switchyard_rate_limit_store_calls_total` show it. Bring Redis back (the router reconnects by itself), or choose `onStoreFailure: open` to admit requests unlimited meanwhile.',
  },
  header_fields_too_large: {
    status: 431,
    grpc: GrpcStatus.INTERNAL,
    message: 'the request headers are too large',
    action: 'The headers exceed `limits.maxHeaderSize` or `limits.maxHeaderCount` (often an oversized cookie). Trim them at the client or raise the limit.',
  },
  method_not_supported: {
    status: 501,
    grpc: GrpcStatus.UNIMPLEMENTED,
    message: 'this method is not supported by the proxy',
    action: 'CONNECT tunnels (and methods the proxy cannot forward) are not offered. Use a forward proxy for tunnels.',
  },
  upgrade_not_supported: {
    status: 501,
    grpc: GrpcStatus.UNIMPLEMENTED,
    message: 'upgrades are not proxied to services that speak HTTP/2',
    action: 'The route\'s service has `protocol: h2` or `h2c` (or its instances declare HTTP/2): give WebSocket traffic its own service speaking http1.',
  },
  version_not_supported: {
    status: 505,
    grpc: GrpcStatus.INTERNAL,
    message: 'this HTTP version is not supported',
    action: 'The client spoke an HTTP version other than 1.0, 1.1 or 2. Fix the client.',
  },
  upgrade_limit: {
    status: 503,
    grpc: GrpcStatus.UNAVAILABLE,
    message: 'too many upgraded connections are open; try again later',
    action: '`limits.maxUpgrades` WebSocket (upgraded) connections are open. Raise the limit if the host has room (each holds two sockets), or look for clients that never close.',
  },
  no_healthy_endpoint: {
    status: 503,
    grpc: GrpcStatus.UNAVAILABLE,
    message: 'the service has no healthy instance',
    action: 'Every instance is down, drained, ejected by outlier detection or failing health checks (or the registry lists none). See `GET /api/v1/services` (`switchyard services`) for each endpoint\'s state and reason.',
  },
  over_capacity: {
    status: 503,
    grpc: GrpcStatus.UNAVAILABLE,
    message: 'the instance is at its concurrency limit and its queue is full',
    action: 'Sidecar inbound only: the app has `sidecar.inbound.maxConcurrent` requests in flight and `sidecar.inbound.queue` waiting. Add instances, or raise the limits if the app has headroom.',
  },
  upstream_connect_failed: {
    status: 502,
    grpc: GrpcStatus.UNAVAILABLE,
    message: 'could not connect to the upstream instance',
    action: 'Connection refused, unreachable or not resolvable: the instance is down or its registered address/port is wrong. Check the endpoint in `GET /api/v1/services` and the registry entry.',
  },
  upstream_reset: {
    status: 502,
    grpc: GrpcStatus.UNAVAILABLE,
    message: 'the upstream instance closed the connection before responding',
    action: 'The instance crashed, restarted, or closed an idle keep-alive connection the proxy reused. If it happens at idle times, set the service\'s `keepAliveTimeout` below the instance\'s own; otherwise read the instance\'s logs.',
  },
  upstream_bad_response: {
    status: 502,
    grpc: GrpcStatus.INTERNAL,
    message: 'the upstream instance sent an invalid response',
    action: 'The instance answered with bytes that are not valid HTTP (wrong protocol on the port, e.g. TLS or HTTP/2 where HTTP/1.1 is expected, or a body that does not match its length). Check the service\'s `protocol` and `tls`.',
  },
  upstream_bad_upgrade: {
    status: 502,
    grpc: GrpcStatus.INTERNAL,
    message: 'the upstream instance switched protocols without completing the handshake the client asked for',
    action: 'The instance answered a WebSocket upgrade with a 101 that does not match the request (wrong Sec-WebSocket-Accept or protocol). Fix the instance.',
  },
  upstream_tls_failed: {
    status: 502,
    grpc: GrpcStatus.UNAVAILABLE,
    message: 'the TLS handshake with the upstream instance failed (certificate not trusted or wrong name)',
    action: 'The instance\'s certificate is not signed by `services.<name>.tls.ca`, has expired, or does not cover `tls.serverName` (or the instance address); or the instance does not speak TLS. The access log line has the TLS error. (An instance that wants a client certificate the service does not present, `tls.cert` and `tls.key`, closes the connection after a TLS 1.3 handshake: that shows as `upstream_reset`.)',
  },
  upstream_timeout: {
    status: 504,
    grpc: GrpcStatus.DEADLINE_EXCEEDED,
    message: 'the upstream instance did not respond in time',
    action: 'No response headers within the route\'s `timeouts` (per try, or total with retries), or no connection within `connectTimeout`. Look at the instance\'s latency (`switchyard_upstream_attempt_duration_seconds`, `switchyard_upstream_timeouts_total`) before raising timeouts.',
  },
  breaker_requests: {
    status: 503,
    grpc: GrpcStatus.UNAVAILABLE,
    message: 'the service has too many requests in flight (circuit breaker maxRequests)',
    action: 'The service\'s `circuitBreaker.maxRequests` concurrent requests are in flight: the instances are slow or the limit is too low for the traffic (`switchyard_upstream_breaker_rejections_total`). Check upstream latency, then the limit.',
  },
  breaker_pending: {
    status: 503,
    grpc: GrpcStatus.UNAVAILABLE,
    message: 'too many requests are waiting for a connection to the service (circuit breaker maxPending)',
    action: 'More than `circuitBreaker.maxPending` requests wait for a pooled connection: raise the service\'s `connections` or `maxPending`, or find why requests are slow.',
  },
  breaker_connections: {
    status: 503,
    grpc: GrpcStatus.UNAVAILABLE,
    message: 'the service has reached its connection limit (circuit breaker maxConnections)',
    action: 'The service\'s `circuitBreaker.maxConnections` is reached across its instances. Raise it if the instances can take more connections.',
  },
} as const satisfies Record<string, { status: number; grpc: number; message: string; action: string }>;

export type ProxyErrorCode = keyof typeof PROXY_ERRORS;

/** The gRPC status a gRPC client gets for a proxy error. */
export function grpcStatusOf(code: ProxyErrorCode): number {
  return PROXY_ERRORS[code].grpc;
}

/** The header that tells clients (and tests) which proxy error this is. */
export const PROXY_ERROR_HEADER = 'x-switchyard-error';

/**
 * Answers with a short JSON body: {"error": code, "message": ..., "requestId": ...}. The
 * connection stays usable unless the request body was not read (then Node closes it).
 */
export function sendProxyError(res: ServerResponse, code: ProxyErrorCode, requestIdHeader: string, requestId: string, detail?: string): void {
  const { status, message } = PROXY_ERRORS[code];
  if (isGrpcRequest(res.req)) {
    sendGrpcError(res, code, grpcStatusOf(code), detail ? `${message}: ${detail}` : message, PROXY_ERROR_HEADER, requestIdHeader, requestId);
    return;
  }
  const body = proxyErrorBody(code, message, requestId, detail);
  res.writeHead(status, proxyErrorHeaders(code, body, requestIdHeader, requestId));
  res.end(body);
}

/**
 * The same answer on a codec stream (HTTP/1.1 on llhttp, HTTP/2 streams): JSON body, the same
 * headers; a gRPC request gets the error as a gRPC status, trailers-only (grpcErrorFields).
 */
export function sendStreamError(stream: ServerStream, code: ProxyErrorCode, requestIdHeader: string, requestId: string, detail?: string, extraHeaders?: readonly string[]): void {
  const { status, message } = PROXY_ERRORS[code];
  if (isGrpcRequest(stream)) {
    const headers = grpcErrorFields(code, grpcStatusOf(code), detail ? `${message}: ${detail}` : message, PROXY_ERROR_HEADER, requestIdHeader, requestId, stream.protocol !== 'HTTP/2');
    if (extraHeaders !== undefined) for (let i = 0; i < extraHeaders.length; i++) headers.push(extraHeaders[i]!);
    stream.respond(200, headers);
    return;
  }
  const body = proxyErrorBody(code, message, requestId, detail);
  const headers = proxyErrorHeaders(code, body, requestIdHeader, requestId);
  if (extraHeaders !== undefined) for (let i = 0; i < extraHeaders.length; i++) headers.push(extraHeaders[i]!);
  stream.respond(status, headers, body);
}

function proxyErrorBody(code: ProxyErrorCode, message: string, requestId: string, detail: string | undefined): string {
  return JSON.stringify({ error: code, message: detail ? `${message}: ${detail}` : message, requestId });
}

function proxyErrorHeaders(code: ProxyErrorCode, body: string, requestIdHeader: string, requestId: string): string[] {
  return ['content-type', 'application/json', 'content-length', String(Buffer.byteLength(body)), 'cache-control', 'no-store', PROXY_ERROR_HEADER, code, requestIdHeader, requestId];
}

/** Maps an undici / socket error raised before response headers to a proxy error code. */
export function classifyUpstreamError(err: Error & { code?: string }): ProxyErrorCode {
  if (err.name === 'HTTPParserError' || err.name === 'ResponseExceededMaxSizeError') return 'upstream_bad_response';
  switch (err.code) {
    case 'SWITCHYARD_TIMEOUT':
    case 'UND_ERR_CONNECT_TIMEOUT':
    case 'UND_ERR_HEADERS_TIMEOUT':
    case 'UND_ERR_BODY_TIMEOUT':
    case 'ETIMEDOUT':
      return 'upstream_timeout';
    case 'ECONNREFUSED':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EADDRNOTAVAIL':
    case 'ENOTFOUND':
    case 'EAI_AGAIN':
      return 'upstream_connect_failed';
    case 'HPE_INVALID_CONSTANT':
    case 'HPE_INVALID_STATUS':
    case 'HPE_INVALID_HEADER_TOKEN':
    case 'HPE_HEADER_OVERFLOW':
    case 'UND_ERR_HEADERS_OVERFLOW':
    case 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH':
    case 'SWITCHYARD_UPSTREAM_FRAMING':
      return 'upstream_bad_response';
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'CERT_HAS_EXPIRED':
    case 'CERT_NOT_YET_VALID':
    case 'ERR_TLS_CERT_ALTNAME_INVALID':
    case 'ERR_SSL_WRONG_VERSION_NUMBER':
      return 'upstream_tls_failed';
    default:
      if (typeof err.code === 'string' && err.code.startsWith('HPE_')) return 'upstream_bad_response';
      // undici's parser errors do not always carry an HPE_ code.
      if (err.name === 'HTTPParserError') return 'upstream_bad_response';
      // undici's SocketError for a response it will not take: bytes with no request waiting
      // for them ("bad response") or a 101 to a request that offered no upgrade ("bad upgrade").
      // An unsolicited 100 Continue is skipped like any 1xx by the upstream pool, not an error.
      if (err.code === 'UND_ERR_SOCKET' && (err.message === 'bad response' || err.message === 'bad upgrade')) return 'upstream_bad_response';
      return 'upstream_reset';
  }
}

/**
 * Answers with the error and closes the connection after it: for requests whose framing or
 * size is in doubt, where reading on from the same connection is not safe.
 */
export function sendProxyErrorAndClose(res: ServerResponse, code: ProxyErrorCode, requestIdHeader: string, requestId: string, detail?: string): void {
  res.shouldKeepAlive = false;
  markClosing(res.req.socket);
  sendProxyError(res, code, requestIdHeader, requestId, detail);
}

/** The same error as a complete raw HTTP/1.1 response, for sockets taken over by an upgrade. */
export function rawProxyErrorResponse(code: ProxyErrorCode, requestIdHeader: string, requestId: string): string {
  const { status, message } = PROXY_ERRORS[code];
  const body = JSON.stringify({ error: code, message, requestId });
  return (
    `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\n` +
    `content-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\nconnection: close\r\n` +
    `${PROXY_ERROR_HEADER}: ${code}\r\n${requestIdHeader}: ${requestId}\r\n\r\n${body}`
  );
}

/** A bodiless error response that closes the connection, for requests refused before they reach the proxy handler. */
export function closingProxyErrorResponse(code: ProxyErrorCode): string {
  const { status } = PROXY_ERRORS[code];
  return `HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nconnection: close\r\ncontent-length: 0\r\n${PROXY_ERROR_HEADER}: ${code}\r\n\r\n`;
}

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  429: 'Too Many Requests',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  505: 'HTTP Version Not Supported',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

import type { ServerResponse } from 'node:http';
import { constants, type Http2ServerResponse } from 'node:http2';
import type { ServerStream } from '../codec/server-stream.js';
import { markClosing } from './closing-connection.js';
import { grpcStatusOf, isGrpcRequest, sendGrpcError } from './grpc-status.js';
import { isHttp2 } from './http2-request.js';

const { NGHTTP2_NO_ERROR } = constants;

/** Why the proxy answered instead of an upstream. Each has one status and one code. */
export const PROXY_ERRORS = {
  bad_request: { status: 400, message: 'the request cannot be routed' },
  no_route: { status: 404, message: 'no route matches this request' },
  body_too_large: { status: 413, message: 'the request body is larger than this route accepts' },
  rate_limited: { status: 429, message: 'too many requests: the route\'s rate limit is reached' },
  header_fields_too_large: { status: 431, message: 'the request headers are too large' },
  method_not_supported: { status: 501, message: 'this method is not supported by the proxy' },
  version_not_supported: { status: 505, message: 'this HTTP version is not supported' },
  upgrade_not_supported: { status: 501, message: 'upgrades are not proxied to services that speak HTTP/2' },
  upgrade_limit: { status: 503, message: 'too many upgraded connections are open; try again later' },
  no_healthy_endpoint: { status: 503, message: 'the service has no healthy instance' },
  over_capacity: { status: 503, message: 'the instance is at its concurrency limit and its queue is full' },
  upstream_connect_failed: { status: 502, message: 'could not connect to the upstream instance' },
  upstream_reset: { status: 502, message: 'the upstream instance closed the connection before responding' },
  upstream_bad_response: { status: 502, message: 'the upstream instance sent an invalid response' },
  upstream_bad_upgrade: { status: 502, message: 'the upstream instance switched protocols without completing the handshake the client asked for' },
  upstream_tls_failed: { status: 502, message: 'the TLS handshake with the upstream instance failed (certificate not trusted or wrong name)' },
  upstream_timeout: { status: 504, message: 'the upstream instance did not respond in time' },
  breaker_requests: { status: 503, message: 'the service has too many requests in flight (circuit breaker maxRequests)' },
  breaker_pending: { status: 503, message: 'too many requests are waiting for a connection to the service (circuit breaker maxPending)' },
  breaker_connections: { status: 503, message: 'the service has reached its connection limit (circuit breaker maxConnections)' },
} as const;

export type ProxyErrorCode = keyof typeof PROXY_ERRORS;

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

/** The same answer on a codec stream (HTTP/1.1 codec): JSON body, the same headers. */
export function sendStreamError(stream: ServerStream, code: ProxyErrorCode, requestIdHeader: string, requestId: string, detail?: string, extraHeaders?: readonly string[]): void {
  const { status, message } = PROXY_ERRORS[code];
  const body = proxyErrorBody(code, message, requestId, detail);
  const headers = proxyErrorHeaders(code, body, requestIdHeader, requestId);
  if (extraHeaders !== undefined) for (let i = 0; i < extraHeaders.length; i++) headers.push(extraHeaders[i]!);
  stream.writeHead(status, headers);
  stream.end(body);
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
      // An unsolicited 100 Continue is skipped like any 1xx (patches/undici+*.patch), not an error.
      if (err.code === 'UND_ERR_SOCKET' && (err.message === 'bad response' || err.message === 'bad upgrade')) return 'upstream_bad_response';
      return 'upstream_reset';
  }
}

/**
 * Answers with the error and closes the connection after it: for requests whose framing or
 * size is in doubt, where reading on from the same connection is not safe.
 */
export function sendProxyErrorAndClose(res: ServerResponse, code: ProxyErrorCode, requestIdHeader: string, requestId: string, detail?: string): void {
  if (isHttp2(res.req)) {
    // HTTP/2 frames each stream: the connection stays; the request body's stream is reset
    // once the answer is out (RST_STREAM NO_ERROR, RFC 9113 §8.1), so the client stops sending.
    sendProxyError(res, code, requestIdHeader, requestId, detail);
    const stream = (res as unknown as Http2ServerResponse).stream;
    if (!stream.destroyed && !res.req.complete) stream.close(NGHTTP2_NO_ERROR);
    return;
  }
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

const STATUS_TEXT: Record<number, string> = {
  400: 'Bad Request',
  404: 'Not Found',
  408: 'Request Timeout',
  413: 'Payload Too Large',
  431: 'Request Header Fields Too Large',
  501: 'Not Implemented',
  505: 'HTTP Version Not Supported',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

import type { ServerResponse } from 'node:http';

/** Why the proxy answered instead of an upstream. Each has one status and one code. */
export const PROXY_ERRORS = {
  bad_request: { status: 400, message: 'the request cannot be routed' },
  no_route: { status: 404, message: 'no route matches this request' },
  no_healthy_endpoint: { status: 503, message: 'the service has no healthy instance' },
  over_capacity: { status: 503, message: 'the instance is at its concurrency limit and its queue is full' },
  upstream_connect_failed: { status: 502, message: 'could not connect to the upstream instance' },
  upstream_reset: { status: 502, message: 'the upstream instance closed the connection before responding' },
  upstream_bad_response: { status: 502, message: 'the upstream instance sent an invalid response' },
  upstream_timeout: { status: 504, message: 'the upstream instance did not respond in time' },
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
  const body = JSON.stringify({ error: code, message: detail ? `${message}: ${detail}` : message, requestId });
  res.writeHead(status, [
    'content-type',
    'application/json',
    'content-length',
    String(Buffer.byteLength(body)),
    'cache-control',
    'no-store',
    PROXY_ERROR_HEADER,
    code,
    requestIdHeader,
    requestId,
  ]);
  res.end(body);
}

/** Maps an undici / socket error raised before response headers to a proxy error code. */
export function classifyUpstreamError(err: Error & { code?: string }): ProxyErrorCode {
  if (err.name === 'HTTPParserError' || err.name === 'ResponseExceededMaxSizeError') return 'upstream_bad_response';
  switch (err.code) {
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
      return 'upstream_bad_response';
    default:
      if (typeof err.code === 'string' && err.code.startsWith('HPE_')) return 'upstream_bad_response';
      return 'upstream_reset';
  }
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
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/**
 * A failure of an upstream request raised by our own pools, carrying the code (and, for parse
 * errors, the name) undici gives the same failure, so `classifyUpstreamError`, the retry
 * conditions and outlier detection treat both kinds of pool alike:
 *
 * | code | when | proxy error |
 * |---|---|---|
 * | UND_ERR_CONNECT_TIMEOUT | no connection (TCP, and TLS) within connectTimeout | upstream_timeout |
 * | UND_ERR_HEADERS_TIMEOUT | no response head within headersTimeout after the request was sent | upstream_timeout |
 * | UND_ERR_BODY_TIMEOUT | no response body bytes for bodyTimeout | upstream_timeout |
 * | UND_ERR_SOCKET | the upstream closed the connection mid-exchange ("other side closed"), a 101 nobody asked for ("bad upgrade") | upstream_reset / upstream_bad_response |
 * | UND_ERR_HEADERS_OVERFLOW | the response head (or trailers) is larger than the limit | upstream_bad_response |
 * | UND_ERR_RES_CONTENT_LENGTH_MISMATCH | a Connection: close response ended before its Content-Length | upstream_bad_response |
 * | HPE_* (name HTTPParserError) | the bytes are not an HTTP/1.1 response (llhttp's error) | upstream_bad_response |
 * | UND_ERR_ABORTED | the caller aborted without a reason; the request body stream closed early | upstream_reset |
 * | UND_ERR_REQ_CONTENT_LENGTH_MISMATCH | the request body is longer or shorter than its Content-Length | upstream_reset |
 * | UND_ERR_CLOSED | the pool is closed | upstream_reset |
 *
 * Socket errors (ECONNREFUSED, ECONNRESET, EPIPE, TLS certificate errors) are passed on as
 * Node raised them, as undici does.
 */
export class UpstreamError extends Error {
  constructor(
    message: string,
    readonly code: string,
    name = 'UpstreamError',
  ) {
    super(message);
    this.name = name;
  }
}

/**
 * The facts of one request that its access-log line is formed from, read through this
 * interface and nothing else: the access log never sees a socket, a parser or node:http's
 * request and response, so any engine (node:http today, the project's own codec next) can
 * supply them. A forwarded request's exchange is its own record (ExchangeRecord in
 * src/proxy/request-observer.ts extends this one), so logging a request passes one reference
 * and allocates nothing; a request the proxy answered itself is described by one record the
 * request recorder reuses.
 *
 * Adding a field to the line: an accessor here (and in what implements it), and one line in
 * AccessLogLines.request, which writes the fields in order.
 */
export interface RequestLogRecord {
  readonly requestId: string;
  /** W3C trace id, or undefined (the field is left out). */
  readonly traceId: string | undefined;
  readonly method: string | undefined;
  /** The Host header (HTTP/1.1) or :authority (HTTP/2), or undefined. */
  readonly host: string | undefined;
  /** The request target as received: path and query (written as `path`). */
  readonly target: string | undefined;
  /** The status the client got; 499 when it went away before a response head. */
  readonly status: number;
  /** Request body bytes announced by Content-Length (0 without one). */
  readonly bytesIn: number;
  /** Response body bytes written to the client. */
  readonly bytesOut: number;
  /** From the request's arrival to its end, in milliseconds. */
  readonly durationMs: number;
  /** The route's name; null when no route matched. */
  readonly routeName: string | null;
  /** The route's service; null when no route matched. */
  readonly serviceName: string | null;
  /**
   * address:port of the endpoint of the last attempt; null when the request was not sent
   * upstream (then `upstreamStatus` and `upstreamMs` are left out of the line).
   */
  readonly upstreamAddress: string | null;
  /** Status the upstream answered with, 0 when no response head arrived. */
  readonly upstreamStatus: number;
  /** From the last attempt's dispatch to its end, in milliseconds. */
  readonly upstreamMs: number;
  /** Attempts after the first. */
  readonly retries: number;
  /** Proxy error code or `client_closed` when the request failed, else undefined. */
  readonly errorCode: string | undefined;
  /** The upstream error that failed the request (written as `err`: code, stack, cause), else undefined. */
  readonly upstreamError: (Error & { code?: string }) | undefined;
  /**
   * The client as resolved for the request: the TCP peer, the PROXY protocol source, or behind
   * trusted proxies the address they forwarded (src/proxy/client-address.ts).
   */
  readonly clientAddress: string;
  /** The User-Agent header, or undefined (the field is left out). */
  readonly userAgent: string | undefined;
  /** The protocol the request came in: "HTTP/1.0", "HTTP/1.1" or "HTTP/2" (written as `protocol`). */
  readonly httpProtocol: string;
  /** The connection's TLS version ("TLSv1.3", written as `tls`); undefined on cleartext (left out). */
  readonly tlsVersion: string | undefined;
}

/** The facts of a closed tunnel (an upgraded connection) for its access-log line. */
export interface TunnelLogRecord {
  readonly requestId: string;
  readonly method: string | undefined;
  readonly host: string | undefined;
  readonly target: string | undefined;
  /** The protocol the upstream switched to. */
  readonly protocol: string;
  /** Bytes carried after the handshake, each way. */
  readonly bytesFromClient: number;
  readonly bytesToClient: number;
  /** From the request's arrival to the tunnel's close, and from its opening (101 relayed) to its close, in milliseconds. */
  readonly durationMs: number;
  readonly tunnelMs: number;
  readonly routeName: string;
  readonly serviceName: string;
  readonly upstreamAddress: string;
  /** As in RequestLogRecord: the resolved client address, the User-Agent, the TLS version. */
  readonly clientAddress: string;
  readonly userAgent: string | undefined;
  readonly tlsVersion: string | undefined;
}

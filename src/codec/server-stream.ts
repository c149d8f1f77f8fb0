import type { IncomingHttpHeaders } from 'node:http';

/**
 * What the proxy reads of a client's request head, whichever codec parsed it. node:http's
 * IncomingMessage has this shape too, so routing, balancing, filters and the observers take
 * either (Envoy's RequestHeaderMap, in the shape Node code already reads).
 */
export interface RequestHead {
  readonly method?: string | undefined;
  /** The request target as sent: origin-form ("/a?b") or absolute-form. */
  readonly url?: string | undefined;
  /** Lower-case name → value, with node:http's rules for repeated fields (see header-object.ts). */
  readonly headers: IncomingHttpHeaders;
  /** [name, value, ...] as received (names in their case). */
  readonly rawHeaders: string[];
  readonly httpVersionMajor: number;
  readonly httpVersionMinor: number;
  /** The client connection: its peer address, and `encrypted` on TLS. */
  readonly socket: { readonly remoteAddress?: string | undefined; readonly encrypted?: boolean };
}

/** What the observers read of the response a client got. */
export interface ResponseState {
  /** The response head went out. */
  readonly headersSent: boolean;
  /** Its status (meaningful once headersSent). */
  readonly statusCode: number;
}

/** Takes a request body, chunk by chunk. */
export interface BodySink {
  /**
   * A chunk of the request body: a view of the bytes the client socket read. The client-side
   * codecs never read into that memory again (node:net's reads on accepted sockets are new
   * memory each), so it may be kept past the call without a copy. False: pause until
   * resumeBody().
   */
  onBodyChunk(chunk: Buffer): boolean;
  /** The body ended; `trailers` is [name, value, ...] or null. */
  onBodyEnd(trailers: string[] | null): void;
}

/** Told what happens to the client side of a stream. */
export interface StreamObserver {
  /** The client can take more response bytes after write() returned false. */
  onDrain(): void;
  /** The client connection or stream was lost before the response ended. */
  onAborted(): void;
}

/**
 * One request/response on a client connection, as a codec presents it to the proxy (Envoy's
 * decoder/encoder pair for one stream): the request head and body come in, the response head,
 * body, trailers and 1xx go out. Http1Stream (http1-server-connection.ts, on llhttp),
 * Http2CodecStream (http2-codec-stream.ts, on Switchyard's HTTP/2 server codec) and
 * Http2ServerStream (http2-server-stream.ts, on node:http2's stream API) implement it.
 */
export interface ServerStream extends RequestHead, ResponseState {
  /** "HTTP/1.0", "HTTP/1.1" or "HTTP/2". */
  readonly protocol: string;
  /** The request has a body (Content-Length > 0, chunked, or an HTTP/2 stream left open). */
  readonly hasBody: boolean;
  /** The whole request body has been read. */
  readonly bodyComplete: boolean;
  /** The client accepts trailers on the response (HTTP/2, or "TE: trailers" on HTTP/1.1 with a chunked response). */
  readonly takesTrailers: boolean;
  /** No more response bytes can be written (finished, or the connection is gone). */
  readonly destroyed: boolean;
  /** Sets who hears of drain and abort. */
  observe(observer: StreamObserver): void;
  /** Calls `listener` once, when the stream is done: its response ended, or it was cut or lost. */
  onceDone(listener: () => void): void;
  /** Starts delivering the body to `sink` (sends 100 Continue first when the client asked for it). */
  readBody(sink: BodySink): void;
  pauseBody(): void;
  resumeBody(): void;
  /** An interim response (103), dropped for HTTP/1.0 clients and after the final head. */
  writeInformational(statusCode: number, headers: readonly string[]): void;
  /**
   * The response head; `headers` is [name, value, ...] without hop-by-hop fields. `trailers`
   * false: none will follow (an HTTP/1.1 upstream response with Content-Length), so an HTTP/2
   * stream need not stay open for them after its last DATA frame.
   */
  writeHead(statusCode: number, headers: readonly string[], reason?: string, trailers?: boolean): void;
  /**
   * The response head of an upstream response whose fields pass unchanged: [name, value, ...]
   * as the upstream connection read them, `passes[i]` 1 for each field i passed on (their
   * `name: value\r\n` bytes: `passedBytes`), then `extraName: extraValue` unless extraName is null. Codecs that write heads as bytes (HTTP/1.1)
   * have it; for the others the proxy forms the string list and calls writeHead.
   */
  writeUpstreamHead?(statusCode: number, reason: string | undefined, raw: readonly Buffer[], passes: Uint8Array, passedBytes: number, extraName: string | null, extraValue: string): void;
  /**
   * A whole response whose body is known (a proxy's own answer), in one call: on HTTP/2 a
   * bodiless one is a single HEADERS frame that ends the stream (gRPC's trailers-only form).
   */
  respond(statusCode: number, headers: readonly string[], body?: string | Buffer | null): void;
  /**
   * A body chunk; false when the client is slow (wait for onDrain). The chunk may be read memory
   * lent by the upstream reader (read-lease.ts: `readLease.lending` is true during the call).
   * An implementation may keep it past the call (queued in a socket or a stream) and does
   * nothing more: kept memory is never read into again. It gives a lent chunk back only once no
   * one holds its bytes (the client socket's kernel buffer took them all, see
   * Http1Stream.uncorked); then the next read may overwrite them.
   */
  write(chunk: Buffer): boolean;
  /** Ends the response, with a last chunk and trailers ([name, value, ...]) when given. */
  end(chunk?: Buffer | string | null, trailers?: readonly string[] | null): void;
  /** The client connection closes after this response (a refused request whose body is not read). */
  closeAfterResponse(): void;
  /** Cuts the response: the client sees a truncated message (the connection is closed or the stream reset). */
  abort(): void;
}

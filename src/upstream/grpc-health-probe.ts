import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type SecureClientSessionOptions } from 'node:http2';
import type { ConnectionOptions } from 'node:tls';
import { decodeHealthCheckResponse, encodeHealthCheckRequest, grpcFrame, servingStatusName, ServingStatus, unframeSingleMessage } from './grpc-health-messages.js';
import { GRPC_STATUS_NAMES } from '../observability/metric-labels.js';

/** Where a gRPC health probe goes: the endpoint's address and its TLS options (null = h2c). */
export interface GrpcProbeTarget {
  /** `address:port`, IPv6 bracketed. */
  readonly key: string;
  readonly tls: ConnectionOptions | null;
}

/** A probe's outcome: passed or not, and why ("SERVING", "grpc-status 12 (UNIMPLEMENTED): ...", ...). */
export type GrpcProbeDone = (ok: boolean, detail: string) => void;

/** The method every gRPC health server implements. */
export const GRPC_HEALTH_CHECK_PATH = '/grpc.health.v1.Health/Check';
/** A HealthCheckResponse is a few bytes; a response body beyond this is refused unread. */
export const MAX_GRPC_HEALTH_RESPONSE = 64 * 1024;
/** application/grpc, application/grpc+proto, application/grpc;charset=... (not grpc-web). */
const GRPC_CONTENT_TYPE = /^application\/grpc(?:[+;]|$)/;
/** grpc-timeout allows at most 8 digits. */
const MAX_GRPC_TIMEOUT_MS = 99_999_999;


/**
 * One probe of the standard gRPC health protocol (grpc.health.v1.Health/Check) on its own
 * HTTP/2 session: cleartext with prior knowledge (h2c) when the target has no TLS, else TLS
 * with the target's options (CA, servername, verify) and ALPN h2. It passes only on HTTP 200,
 * grpc-status 0 (in the trailers, or in the headers of a trailers-only response) and one
 * uncompressed HealthCheckResponse saying SERVING. Everything else fails, with a detail that
 * names the fault: the status, grpc-status and grpc-message, a malformed or oversized body, a
 * reset, a peer that does not speak HTTP/2, no answer within `timeoutMs`.
 *
 * `done` is called exactly once, unless the returned handle's destroy() comes first (then
 * never). The session is destroyed when the probe ends either way: no session or timer
 * outlives it.
 */
export function probeGrpcHealth(target: GrpcProbeTarget, service: string, timeoutMs: number, done: GrpcProbeDone): { destroy(): void } {
  return new GrpcHealthProbe(target, service, timeoutMs, done);
}

class GrpcHealthProbe {
  private session: ClientHttp2Session | null = null;
  private readonly timer: NodeJS.Timeout;
  private readonly tls: boolean;
  private ended = false;
  /** The connection (and TLS handshake) is up. */
  private connected = false;
  /** A SETTINGS frame arrived: the peer speaks HTTP/2. */
  private http2Peer = false;
  private status = 0;
  private headerGrpcStatus: string | undefined;
  private headerGrpcMessage: string | undefined;
  private trailers: IncomingHttpHeaders | null = null;
  private readonly chunks: Buffer[] = [];
  private bodyLength = 0;

  constructor(target: GrpcProbeTarget, service: string, timeoutMs: number, private readonly done: GrpcProbeDone) {
    this.tls = target.tls !== null;
    this.timer = setTimeout(() => this.fail(`no answer within ${timeoutMs}ms`), timeoutMs);
    const options: SecureClientSessionOptions = { settings: { enablePush: false } };
    if (target.tls !== null) Object.assign(options, target.tls);
    let stream: ClientHttp2Stream;
    try {
      const session = connect(`${this.tls ? 'https' : 'http'}://${target.key}`, options);
      this.session = session;
      session.on('error', (err: Error) => this.fail(this.sessionFault(errorText(err))));
      session.once('connect', () => (this.connected = true));
      session.once('remoteSettings', () => (this.http2Peer = true));
      session.once('close', () => this.fail(this.sessionFault('connection closed before an answer')));
      stream = session.request({
        ':method': 'POST',
        ':path': GRPC_HEALTH_CHECK_PATH,
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': `${Math.min(timeoutMs, MAX_GRPC_TIMEOUT_MS)}m`,
        'user-agent': 'switchyard-health-check',
      });
    } catch (err) {
      // connect() and request() throw synchronously only on options node:http2 refuses; the
      // outcome is still reported asynchronously, like every other one.
      const reason = (err as Error).message;
      queueMicrotask(() => this.fail(`cannot start an HTTP/2 request to ${target.key}: ${reason}`));
      return;
    }
    stream.on('response', (headers, flags) => this.onResponse(headers, flags));
    stream.on('data', (chunk: Buffer) => this.onData(stream, chunk));
    stream.on('trailers', (trailers: IncomingHttpHeaders) => (this.trailers = trailers));
    stream.on('error', (err: Error) => this.fail(this.sessionFault(errorText(err))));
    stream.on('close', () => this.onStreamClose(stream));
    stream.end(grpcFrame(encodeHealthCheckRequest(service)));
  }

  destroy(): void {
    this.end();
  }

  private onResponse(headers: IncomingHttpHeaders, flags: number): void {
    this.status = Number(headers[':status']);
    if (this.status !== 200) {
      this.fail(`HTTP status ${this.status} (a gRPC server answers 200)`);
      return;
    }
    const contentType = headers['content-type'] ?? '';
    if (!GRPC_CONTENT_TYPE.test(contentType)) {
      this.fail(`content-type ${contentType === '' ? '(none)' : JSON.stringify(contentType)} is not application/grpc`);
      return;
    }
    // Trailers-only response (grpc-status in the headers, with END_STREAM).
    if ((flags & constants.NGHTTP2_FLAG_END_STREAM) !== 0 || headers['grpc-status'] !== undefined) {
      this.headerGrpcStatus = single(headers['grpc-status']);
      this.headerGrpcMessage = single(headers['grpc-message']);
    }
  }

  private onData(stream: ClientHttp2Stream, chunk: Buffer): void {
    if (this.ended) return;
    this.bodyLength += chunk.length;
    if (this.bodyLength > MAX_GRPC_HEALTH_RESPONSE) {
      stream.close(constants.NGHTTP2_CANCEL);
      this.fail(`response body larger than ${MAX_GRPC_HEALTH_RESPONSE} bytes (a HealthCheckResponse is a few bytes)`);
      return;
    }
    this.chunks.push(chunk);
  }

  private onStreamClose(stream: ClientHttp2Stream): void {
    if (this.ended) return;
    const grpcStatus = single(this.trailers?.['grpc-status']) ?? this.headerGrpcStatus;
    const grpcMessage = single(this.trailers?.['grpc-message']) ?? this.headerGrpcMessage;
    if (grpcStatus === undefined) {
      if (!this.http2Peer) this.fail(this.sessionFault('connection closed before an answer'));
      else if (stream.rstCode !== undefined && stream.rstCode !== constants.NGHTTP2_NO_ERROR) this.fail(`stream reset by the instance (HTTP/2 error code ${stream.rstCode}) before grpc-status`);
      else if (this.status === 0) this.fail('stream closed before response headers');
      else this.fail('response ended without grpc-status (neither in trailers nor in a trailers-only response)');
      return;
    }
    if (grpcStatus !== '0') {
      const code = Number(grpcStatus);
      const name = GRPC_STATUS_NAMES[code] ?? 'not a gRPC status code';
      const message = grpcMessage === undefined || grpcMessage === '' ? '' : `: ${decodeGrpcMessage(grpcMessage)}`;
      this.fail(`grpc-status ${grpcStatus} (${name})${message}`);
      return;
    }
    let status: number;
    try {
      status = decodeHealthCheckResponse(unframeSingleMessage(Buffer.concat(this.chunks, this.bodyLength)));
    } catch (err) {
      this.fail(`malformed HealthCheckResponse: ${(err as Error).message}`);
      return;
    }
    if (status === ServingStatus.SERVING) this.finish(true, 'SERVING');
    else this.fail(servingStatusName(status));
  }

  /** The fault of a session or stream error: no connection, a peer that never spoke HTTP/2, or the error itself. */
  private sessionFault(reason: string): string {
    if (!this.connected) return `cannot connect${this.tls ? ' (TLS, ALPN h2)' : ''}: ${reason}`;
    if (this.http2Peer) return reason;
    return `no HTTP/2 answer (is the instance serving gRPC ${this.sessionKind()} on this port?): ${reason}`;
  }

  private sessionKind(): string {
    return this.tls ? 'over TLS with ALPN h2' : 'over cleartext HTTP/2 (h2c)';
  }

  private fail(detail: string): void {
    this.finish(false, detail);
  }

  private finish(ok: boolean, detail: string): void {
    if (this.ended) return;
    this.end();
    this.done(ok, detail);
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    this.session?.destroy();
  }
}

/** An error's own words: node:http2 wraps the socket's error in "The pending stream has been canceled (caused by: ...)". */
function errorText(err: Error): string {
  const cause = (err as Error & { cause?: unknown }).cause;
  return (cause instanceof Error ? cause.message : err.message).trim();
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

/** grpc-message is percent-encoded UTF-8; a malformed encoding is shown as sent. */
function decodeGrpcMessage(message: string): string {
  try {
    return decodeURIComponent(message);
  } catch {
    // Not valid percent-encoding: the raw text still tells the operator what the server said.
    return message;
  }
}

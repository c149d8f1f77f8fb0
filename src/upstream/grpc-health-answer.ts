import type { ConnectionOptions } from 'node:tls';
import { decodeHealthCheckResponse, servingStatusName, ServingStatus, unframeSingleMessage } from './grpc-health-messages.js';
import { errorCodeName } from '../codec/http2/frame-types.js';
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
/** grpc-timeout allows at most 8 digits. */
const MAX_GRPC_TIMEOUT_MS = 99_999_999;

/** The probe's grpc-timeout header: its own timeout, in milliseconds ("1000m"). */
export function grpcTimeoutValue(timeoutMs: number): string {
  return `${Math.min(timeoutMs, MAX_GRPC_TIMEOUT_MS)}m`;
}

/** A HealthCheckResponse is a few bytes; a response body beyond this is refused unread. */
export const MAX_GRPC_HEALTH_RESPONSE = 64 * 1024;
/** application/grpc, application/grpc+proto, application/grpc;charset=... (not grpc-web). */
const GRPC_CONTENT_TYPE = /^application\/grpc(?:[+;]|$)/;

/** A probe's verdict: passed or not, and why. */
export interface GrpcProbeVerdict {
  readonly ok: boolean;
  readonly detail: string;
}

/**
 * What a gRPC health probe makes of an instance's answer to grpc.health.v1.Health/Check,
 * whichever HTTP/2 client carried it (Switchyard's codec or node:http2): the response head,
 * the body (bounded), the trailers, and the verdict once the stream has ended. It passes only
 * on HTTP 200 with an application/grpc content-type, grpc-status 0 (in the trailers, or in the
 * headers of a trailers-only response) and one uncompressed HealthCheckResponse saying SERVING.
 */
export class GrpcHealthAnswer {
  /** The response's HTTP status; 0 until the head arrives. */
  status = 0;
  private headerGrpcStatus: string | undefined;
  private headerGrpcMessage: string | undefined;
  private trailerGrpcStatus: string | undefined;
  private trailerGrpcMessage: string | undefined;
  private readonly chunks: Buffer[] = [];
  private bodyLength = 0;

  /**
   * The response head (not a 1xx): null when the probe goes on, else why it fails. grpc-status
   * in the head is that of a trailers-only response.
   */
  head(status: number, contentType: string | undefined, grpcStatus: string | undefined, grpcMessage: string | undefined): string | null {
    this.status = status;
    if (status !== 200) return `HTTP status ${status} (a gRPC server answers 200)`;
    const type = contentType ?? '';
    if (!GRPC_CONTENT_TYPE.test(type)) return `content-type ${type === '' ? '(none)' : JSON.stringify(type)} is not application/grpc`;
    this.headerGrpcStatus = grpcStatus;
    this.headerGrpcMessage = grpcMessage;
    return null;
  }

  /** Response body bytes: null when the probe goes on, else why it fails (a body too large). */
  data(chunk: Buffer): string | null {
    this.bodyLength += chunk.length;
    if (this.bodyLength > MAX_GRPC_HEALTH_RESPONSE) return `response body larger than ${MAX_GRPC_HEALTH_RESPONSE} bytes (a HealthCheckResponse is a few bytes)`;
    this.chunks.push(chunk);
    return null;
  }

  trailers(grpcStatus: string | undefined, grpcMessage: string | undefined): void {
    this.trailerGrpcStatus = grpcStatus;
    this.trailerGrpcMessage = grpcMessage;
  }

  /** Whether a grpc-status arrived (in the trailers or a trailers-only head). */
  get hasGrpcStatus(): boolean {
    return (this.trailerGrpcStatus ?? this.headerGrpcStatus) !== undefined;
  }

  /** The verdict of a stream the instance ended normally (END_STREAM, no reset). */
  verdict(): GrpcProbeVerdict {
    const grpcStatus = this.trailerGrpcStatus ?? this.headerGrpcStatus;
    const grpcMessage = this.trailerGrpcStatus !== undefined ? this.trailerGrpcMessage : this.headerGrpcMessage;
    if (grpcStatus === undefined) {
      if (this.status === 0) return { ok: false, detail: 'stream closed before response headers' };
      return { ok: false, detail: 'response ended without grpc-status (neither in trailers nor in a trailers-only response)' };
    }
    if (grpcStatus !== '0') {
      const code = Number(grpcStatus);
      const name = GRPC_STATUS_NAMES[code] ?? 'not a gRPC status code';
      const message = grpcMessage === undefined || grpcMessage === '' ? '' : `: ${decodeGrpcMessage(grpcMessage)}`;
      return { ok: false, detail: `grpc-status ${grpcStatus} (${name})${message}` };
    }
    let status: number;
    try {
      status = decodeHealthCheckResponse(unframeSingleMessage(Buffer.concat(this.chunks, this.bodyLength)));
    } catch (err) {
      return { ok: false, detail: `malformed HealthCheckResponse: ${(err as Error).message}` };
    }
    if (status === ServingStatus.SERVING) return { ok: true, detail: 'SERVING' };
    return { ok: false, detail: servingStatusName(status) };
  }
}

/** The detail of a stream the instance reset (RST_STREAM) before it sent grpc-status. */
export function streamResetDetail(http2Code: number): string {
  return `stream reset by the instance with ${errorCodeName(http2Code)} before grpc-status`;
}

/** How a probe reached the instance, for the failure details that depend on it. */
export interface GrpcProbeLink {
  readonly tls: boolean;
  /** The connection (and TLS handshake) is up. */
  readonly connected: boolean;
  /** The instance's SETTINGS arrived: it speaks HTTP/2. */
  readonly http2Peer: boolean;
}

/** The detail of a connection-level failure: no connection, a peer that never spoke HTTP/2, or the reason itself. */
export function linkFault(link: GrpcProbeLink, reason: string): string {
  if (!link.connected) return `cannot connect${link.tls ? ' (TLS, ALPN h2)' : ''}: ${reason}`;
  if (link.http2Peer) return reason;
  return `no HTTP/2 answer (is the instance serving gRPC ${link.tls ? 'over TLS with ALPN h2' : 'over cleartext HTTP/2 (h2c)'} on this port?): ${reason}`;
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

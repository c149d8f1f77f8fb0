import type { ServerResponse } from 'node:http';
import type { RequestHead } from '../codec/server-stream.js';
import type { Http2ServerResponse } from 'node:http2';
import { isHttp2 } from './http2-request.js';

/**
 * The gRPC status codes the proxy itself answers with or records (grpc/doc/statuscodes.md;
 * the names of all codes, for metric labels, are GRPC_STATUS_NAMES in observability/metric-labels.ts).
 */
export const GrpcStatus = {
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  RESOURCE_EXHAUSTED: 8,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/**
 * A gRPC request: Content-Type application/grpc, optionally with "+format" or parameters
 * (gRPC over HTTP/2, PROTOCOL-HTTP2.md). gRPC-Web (application/grpc-web...) is not gRPC here:
 * its status travels in the body.
 */
export function isGrpcRequest(req: RequestHead): boolean {
  const type = req.headers['content-type'];
  if (type === undefined || type.length < 16 || !type.startsWith('application/grpc')) return false;
  if (type.length === 16) return true;
  const next = type.charCodeAt(16);
  return next === 43 /* + */ || next === 59 /* ; */;
}

/**
 * Answers a gRPC request with a proxy error as a gRPC status: HTTP 200, the status and message
 * in a trailers-only response (one HEADERS frame that ends the stream, on HTTP/2), plus the
 * proxy error and request id headers every proxy error carries.
 */
export function sendGrpcError(res: ServerResponse, code: string, status: number, message: string, errorHeader: string, requestIdHeader: string, requestId: string): void {
  const grpcMessage = encodeGrpcMessage(message);
  if (isHttp2(res.req)) {
    const stream = (res as unknown as Http2ServerResponse).stream;
    if (stream.destroyed || stream.headersSent) return;
    stream.respond(
      {
        ':status': 200,
        'content-type': 'application/grpc',
        'grpc-status': String(status),
        'grpc-message': grpcMessage,
        [errorHeader]: code,
        [requestIdHeader]: requestId,
      },
      { endStream: true },
    );
    return;
  }
  res.writeHead(200, ['content-type', 'application/grpc', 'content-length', '0', 'grpc-status', String(status), 'grpc-message', grpcMessage, errorHeader, code, requestIdHeader, requestId]);
  res.end();
}

/**
 * Ends a gRPC response whose headers are already out with a status in its trailers (an
 * upstream that failed mid-stream becomes UNAVAILABLE, a deadline DEADLINE_EXCEEDED), so the
 * client reads a gRPC status instead of a reset stream. HTTP/2 only: an HTTP/1.1 response is cut.
 */
export function endGrpcWithStatus(res: ServerResponse, status: number, message: string): boolean {
  if (!isHttp2(res.req) || res.writableEnded) return false;
  const stream = (res as unknown as Http2ServerResponse).stream;
  if (stream.destroyed) return false;
  res.addTrailers({ 'grpc-status': String(status), 'grpc-message': encodeGrpcMessage(message) });
  res.end();
  return true;
}

/**
 * grpc-message is percent-encoded: bytes outside printable ASCII and "%" itself
 * (PROTOCOL-HTTP2.md, "Responses").
 */
export function encodeGrpcMessage(message: string): string {
  let plain = true;
  for (let i = 0; i < message.length; i++) {
    const c = message.charCodeAt(i);
    if (c < 0x20 || c > 0x7e || c === 0x25) {
      plain = false;
      break;
    }
  }
  if (plain) return message;
  let out = '';
  for (const byte of Buffer.from(message, 'utf8')) {
    out += byte < 0x20 || byte > 0x7e || byte === 0x25 ? `%${byte.toString(16).toUpperCase().padStart(2, '0')}` : String.fromCharCode(byte);
  }
  return out;
}

/**
 * Sends a trailers-only gRPC response on HTTP/2: the status line and `headers` (a flat
 * [name, value, ...] list that carries grpc-status) in one HEADERS frame that ends the stream.
 * gRPC clients read grpc-status from response headers only when that frame ends the stream.
 */
export function respondTrailersOnly(res: ServerResponse, statusCode: number, headers: readonly string[]): void {
  const stream = (res as unknown as Http2ServerResponse).stream;
  if (stream.destroyed || stream.headersSent) return;
  const fields: Record<string, string | string[] | number> = { ':status': statusCode };
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i]!.toLowerCase();
    const existing = fields[name];
    if (existing === undefined) fields[name] = headers[i + 1]!;
    else fields[name] = Array.isArray(existing) ? [...existing, headers[i + 1]!] : [String(existing), headers[i + 1]!];
  }
  stream.respond(fields, { endStream: true });
}

import type { ServerResponse } from 'node:http';
import type { RequestHead } from '../codec/server-stream.js';

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
 * Answers a gRPC request on node:http (HTTP/1.x) with a proxy error as a gRPC status: HTTP 200,
 * the status and message in the headers of an empty response, plus the proxy error and
 * request id headers every proxy error carries. (HTTP/2 streams: sendStreamError.)
 */
export function sendGrpcError(res: ServerResponse, code: string, status: number, message: string, errorHeader: string, requestIdHeader: string, requestId: string): void {
  res.writeHead(200, grpcErrorFields(code, status, message, errorHeader, requestIdHeader, requestId, true));
  res.end();
}

/**
 * The head of a gRPC error answer as a flat list: content-type, grpc-status and grpc-message,
 * the proxy error and request id headers (and `content-length: 0` where the framing needs it,
 * HTTP/1.1). Sent with no body, it is a trailers-only response.
 */
export function grpcErrorFields(code: string, status: number, message: string, errorHeader: string, requestIdHeader: string, requestId: string, withLength: boolean): string[] {
  const fields = ['content-type', 'application/grpc', 'grpc-status', String(status), 'grpc-message', encodeGrpcMessage(message), errorHeader, code, requestIdHeader, requestId];
  if (withLength) fields.push('content-length', '0');
  return fields;
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

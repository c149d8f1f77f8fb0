import { IncomingMessage, type ServerResponse } from 'node:http';
import { sendProxyErrorAndClose } from './proxy-error.js';

const kGuard = Symbol('switchyard.bodySizeGuard');

interface BodySizeGuard {
  readonly res: ServerResponse;
  readonly limit: number;
  readonly requestIdHeader: string;
  readonly requestId: string;
  seen: number;
  tripped: boolean;
}

type GuardedRequest = IncomingMessage & { [kGuard]?: BodySizeGuard };

const basePush = IncomingMessage.prototype.push;

/**
 * Enforces a body size limit on a request without Content-Length (chunked), whose size is
 * known only as it arrives. Bytes are counted where the HTTP parser hands them to the request
 * stream (`push`), so the stream's consumer (undici) keeps its own flow control and no stream
 * is added per request. Past the limit, no further byte and no end-of-body reaches the
 * upstream (it must never see a truncated body as complete): the client gets 413 and its
 * connection is closed, which cancels the upstream request. When the upstream already
 * answered, the client connection is cut instead.
 */
export function guardChunkedBody(req: IncomingMessage, res: ServerResponse, limit: number, requestIdHeader: string, requestId: string): void {
  (req as GuardedRequest)[kGuard] = { res, limit, requestIdHeader, requestId, seen: 0, tripped: false };
  req.push = countingPush;
}

function countingPush(this: GuardedRequest, chunk: unknown, encoding?: BufferEncoding): boolean {
  const guard = this[kGuard]!;
  if (guard.tripped) return false;
  if (chunk !== null) {
    guard.seen += (chunk as Buffer).length;
    if (guard.seen > guard.limit) {
      guard.tripped = true;
      if (guard.res.headersSent) this.destroy();
      else sendProxyErrorAndClose(guard.res, 'body_too_large', guard.requestIdHeader, guard.requestId, `more than ${guard.limit} bytes`);
      return false;
    }
  }
  return basePush.call(this, chunk, encoding);
}

import type { RequestHead } from '../codec/server-stream.js';

/**
 * Whether a request came over HTTP/2 (an Http2ServerStream says so in `protocol`). Not
 * `httpVersionMajor === 2`: node:http's parser also accepts an HTTP/1 request line that claims
 * "HTTP/2.0", which is refused with 505.
 */
export function isHttp2(req: RequestHead): boolean {
  return (req as RequestHead & { protocol?: unknown }).protocol === 'HTTP/2';
}

import type { Readable } from 'node:stream';
import { UpstreamError } from './upstream-error.js';
import { contentLengthValue } from './content-length-value.js';

/** How a request's body is framed on the wire. */
export const enum BodyFraming {
  /** No body: nothing follows the head. */
  NONE = 0,
  /** Content-Length bytes follow the head. */
  LENGTH = 1,
  /** Transfer-Encoding: chunked (a streamed body of unknown length). */
  CHUNKED = 2,
}

/** What a request head says about its body and its connection; filled in by requestHead. */
export interface RequestFraming {
  framing: BodyFraming;
  /** Content-Length sent (LENGTH framing), else -1. */
  length: number;
  /** The connection is not used again after this exchange. */
  close: boolean;
}

/**
 * Methods whose semantics define a request body (undici's list): they get `Content-Length: 0`
 * when the body is empty; any other method sending a body closes the connection after the
 * exchange, since some servers do not expect one and would read it as the next request.
 */
function expectsPayload(method: string): boolean {
  switch (method) {
    case 'POST':
    case 'PUT':
    case 'PATCH':
    case 'QUERY':
    case 'PROPFIND':
    case 'PROPPATCH':
      return true;
    default:
      return false;
  }
}

/** `name` equals the lower-case `lower`, ignoring ASCII case (lengths are already equal). */
function sameName(name: string, lower: string): boolean {
  for (let i = 0; i < lower.length; i++) if ((name.charCodeAt(i) | 0x20) !== lower.charCodeAt(i)) return false;
  return true;
}

/** Whether a Connection value lists "close" (the value is short and rare: the string methods are fine). */
function listsClose(value: string): boolean {
  const v = value.toLowerCase();
  if (v === 'close') return true;
  for (const token of v.split(',')) if (token.trim() === 'close') return true;
  return false;
}


/**
 * Whether a field of the list is one the head writes itself (Host, Content-Length, Connection),
 * so it is not copied; requestHead has validated it. Decided by length first, as in requestHead.
 */
function setByHead(name: string): boolean {
  switch (name.length) {
    case 4:
      return sameName(name, 'host');
    case 10:
      return sameName(name, 'connection');
    case 14:
      return sameName(name, 'content-length');
    default:
      return false;
  }
}

const CRLF = '\r\n';
const CONNECTION_KEEP_ALIVE = 'connection: keep-alive\r\n';
const CONNECTION_CLOSE = 'connection: close\r\n';
const CHUNKED = 'transfer-encoding: chunked\r\n';

/**
 * The HTTP/1.1 request head for one request, as one string ending in the blank line — the same
 * bytes undici writes: request line, `host` (the list's, else `hostFallback`), `connection`
 * (keep-alive, close, or upgrade with the offered protocol), the list's fields in order, then
 * the body framing: `content-length` (a Buffer's length, or the list's value for a stream) or,
 * for a stream of unknown length, `transfer-encoding: chunked`. Sets `out`'s framing fields.
 * Returns an UpstreamError (nothing is sent) when the list holds a field the pool frames itself
 * (Transfer-Encoding, Keep-Alive, Upgrade), an invalid or duplicate Content-Length, or a
 * Content-Length that disagrees with a Buffer body.
 *
 * Names and values are not checked for CR, LF or NUL: the exchange builds the list from a head
 * the listener's parser accepted, the proxy's own fields and configured header rules, none of
 * which can hold them. The head is written as latin1 (one byte a character, as on the wire).
 * Two passes over the list: one validates, one appends to the head string. One string, encoded
 * by the socket write, costs less than copying each piece into a Buffer (a C++ call per piece:
 * about 50 for a request with ten fields).
 */
export function requestHead(
  out: RequestFraming,
  method: string,
  path: string,
  headers: readonly string[] | null,
  upgrade: string | null,
  body: Buffer | Readable | null,
  hostFallback: string,
): string | UpstreamError {
  let host: string | null = null;
  let declared = -1;
  let close = false;
  /** Bytes of the copied fields: "name: value\r\n" each. */
  let fieldBytes = 0;
  if (headers !== null) {
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      const value = headers[i + 1]!;
      switch (name.length) {
        case 4:
          if (sameName(name, 'host')) {
            if (host !== null) return new UpstreamError('the request has two Host fields', 'UND_ERR_INVALID_ARG', 'InvalidArgumentError');
            host = value;
            continue;
          }
          break;
        case 14:
          if (sameName(name, 'content-length')) {
            if (declared !== -1) return new UpstreamError('the request has two Content-Length fields', 'UND_ERR_INVALID_ARG', 'InvalidArgumentError');
            declared = contentLengthValue(value);
            if (declared < 0) return new UpstreamError(`the request's Content-Length "${value}" is not a number of bytes`, 'UND_ERR_INVALID_ARG', 'InvalidArgumentError');
            continue;
          }
          break;
        case 10:
          if (sameName(name, 'connection')) {
            if (listsClose(value)) close = true;
            continue;
          }
          if (sameName(name, 'keep-alive')) return framedByPool(name);
          break;
        case 17:
          if (sameName(name, 'transfer-encoding')) return framedByPool(name);
          break;
        case 7:
          if (sameName(name, 'upgrade')) return framedByPool(name);
          break;
      }
      fieldBytes += name.length + value.length + 4;
    }
  }

  const payload = expectsPayload(method);
  /** The framing field: none, chunked, or content-length with `framedLength`. */
  let framedLength = -1;
  let chunked = false;
  out.framing = BodyFraming.NONE;
  out.length = -1;
  if (body === null || (Buffer.isBuffer(body) && body.length === 0)) {
    if (declared > 0) return new UpstreamError(`the request declares Content-Length ${declared} but has no body`, 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'RequestContentLengthMismatchError');
    if (declared === 0 && payload) framedLength = 0;
  } else if (Buffer.isBuffer(body)) {
    if (declared >= 0 && declared !== body.length) {
      return new UpstreamError(`the request declares Content-Length ${declared} but its body has ${body.length} bytes`, 'UND_ERR_REQ_CONTENT_LENGTH_MISMATCH', 'RequestContentLengthMismatchError');
    }
    out.framing = BodyFraming.LENGTH;
    out.length = body.length;
    framedLength = body.length;
    if (!payload) close = true;
  } else if (declared >= 0) {
    out.framing = BodyFraming.LENGTH;
    out.length = declared;
    if (declared > 0 || payload) framedLength = declared;
    if (!payload && declared > 0) close = true;
  } else {
    out.framing = BodyFraming.CHUNKED;
    chunked = true;
    if (!payload) close = true;
  }
  // HEAD: undici closes after every HEAD so that a server that wrongly sends a body cannot
  // have it read as the next request's response; so do we.
  if (method === 'HEAD' || upgrade !== null) close = true;
  out.close = close;

  let head = `${method} ${path} HTTP/1.1\r\nhost: ${host ?? hostFallback}\r\n`;
  head += upgrade !== null ? `connection: upgrade\r\nupgrade: ${upgrade}\r\n` : close ? CONNECTION_CLOSE : CONNECTION_KEEP_ALIVE;
  if (headers !== null && fieldBytes > 0) {
    for (let i = 0; i < headers.length; i += 2) {
      const name = headers[i]!;
      if (!setByHead(name)) head += `${name}: ${headers[i + 1]!}\r\n`;
    }
  }
  if (chunked) head += CHUNKED;
  else if (framedLength >= 0) head += `content-length: ${framedLength}\r\n`;
  return head + CRLF;
}

function framedByPool(name: string): UpstreamError {
  return new UpstreamError(`the request's header list holds ${name}, which the connection pool sets itself`, 'UND_ERR_INVALID_ARG', 'InvalidArgumentError');
}

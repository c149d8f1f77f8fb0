import type { RequestHead } from '../codec/server-stream.js';
import { isHttp2 } from './http2-request.js';
import type { ProxyErrorCode } from './proxy-error.js';

/** Why a request is refused before it is routed. The client connection is closed after it. */
export interface RequestRejection {
  readonly code: ProxyErrorCode;
  readonly detail: string;
}

function rejection(code: ProxyErrorCode, detail: string): RequestRejection {
  return { code, detail };
}

const VERSION = rejection('version_not_supported', 'only HTTP/1.0 and HTTP/1.1 are accepted');
const TOO_MANY_HEADERS = rejection('header_fields_too_large', 'too many header fields');
const TE_IN_HTTP10 = rejection('bad_request', 'Transfer-Encoding is not allowed in an HTTP/1.0 request');
const TE_NOT_CHUNKED = rejection('bad_request', 'the only accepted Transfer-Encoding is "chunked"');
const TE_AND_LENGTH = rejection('bad_request', 'Transfer-Encoding and Content-Length together');
const MULTIPLE_HOST = rejection('bad_request', 'more than one Host header');
const MISSING_HOST = rejection('bad_request', 'an HTTP/1.1 request must have a Host header');
const BAD_HOST = rejection('bad_request', 'the Host header is not a valid host[:port]');
const FRAGMENT = rejection('bad_request', 'the request target must not contain a fragment ("#")');
const MISSING_AUTHORITY = rejection('bad_request', 'an HTTP/2 request must have :authority (or Host)');
const AUTHORITY_MISMATCH = rejection('bad_request', ':authority and Host name different hosts');
const BAD_AUTHORITY = rejection('bad_request', ':authority is not a valid host[:port]');
const CONNECT = rejection('method_not_supported', 'CONNECT is not offered');

/**
 * Checks llhttp (Node's parser) leaves to the application, run before a request is routed.
 * llhttp already refuses (400 from the listener): Content-Length with Transfer-Encoding when
 * the coding is chunked, repeated or malformed Content-Length, "chunked" not last or repeated,
 * obs-fold, invalid header names and control characters in values, bare CR or LF, and
 * control characters or spaces in the request target. Accepted by llhttp but refused here:
 * - HTTP versions other than 1.0 and 1.1 (505);
 * - more header fields than `maxHeaderCount` (431);
 * - Transfer-Encoding other than exactly "chunked" (e.g. "gzip, chunked": forwarding it
 *   re-chunked would change the body the upstream reads), any Transfer-Encoding in HTTP/1.0,
 *   and Transfer-Encoding with Content-Length in any form;
 * - zero (HTTP/1.1) or several Host headers, or a Host that is not host[:port]: the route is
 *   chosen by the first Host while an upstream may read another;
 * - a fragment in the target (never sent by clients; upstreams split on "#" differently).
 * Returns null for an acceptable request. No allocation on the accepting path.
 */
export function validateRequest(req: RequestHead, maxHeaderCount: number): RequestRejection | null {
  if (req.httpVersionMajor !== 1 || req.httpVersionMinor > 1) return isHttp2(req) ? validateHttp2Request(req, maxHeaderCount) : VERSION;
  const raw = req.rawHeaders;
  if (raw.length > maxHeaderCount * 2) return TOO_MANY_HEADERS;
  const headers = req.headers;
  const te = headers['transfer-encoding'];
  if (te !== undefined) {
    if (req.httpVersionMinor === 0) return TE_IN_HTTP10;
    if (te !== 'chunked' && te.trim().toLowerCase() !== 'chunked') return TE_NOT_CHUNKED;
    if (headers['content-length'] !== undefined) return TE_AND_LENGTH;
  }
  let hosts = 0;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.length === 4 && (name === 'Host' || name === 'host' || name.toLowerCase() === 'host')) hosts++;
  }
  if (hosts > 1) return MULTIPLE_HOST;
  if (hosts === 0) {
    if (req.httpVersionMinor === 1) return MISSING_HOST;
  } else if (!isHostHeaderValue(headers.host!)) {
    return BAD_HOST;
  }
  if (req.url!.indexOf('#') >= 0) return FRAGMENT;
  return null;
}

/**
 * The checks for an HTTP/2 request that nghttp2 leaves to the application. nghttp2 already
 * resets streams with malformed or repeated pseudo-headers, connection-specific fields
 * (Connection, Transfer-Encoding, Upgrade, Keep-Alive), a TE other than "trailers", upper-case
 * names and a body that disagrees with Content-Length (RFC 9113 §8.2, §8.3). Refused here:
 * more regular fields than `maxHeaderCount` (431); no :authority and no Host, both naming
 * different hosts, or a malformed one (400; the route is chosen by this host and the upstream
 * gets it as Host); a fragment in :path; CONNECT (501, no tunnels). The stream's header object
 * has `host` from :authority when only :authority was given (Http2ServerStream), so everything
 * after reads the host one way; :authority itself is read from the raw list.
 */
function validateHttp2Request(req: RequestHead, maxHeaderCount: number): RequestRejection | null {
  if (req.method === 'CONNECT') return CONNECT;
  const raw = req.rawHeaders;
  let pseudo = 0;
  let hosts = 0;
  let authority: string | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i]!;
    if (name.charCodeAt(0) === 58 /* : */) {
      pseudo++;
      if (name === ':authority') authority = raw[i + 1];
    } else if (name === 'host') {
      hosts++;
    }
  }
  if (raw.length - pseudo * 2 > maxHeaderCount * 2) return TOO_MANY_HEADERS;
  if (hosts > 1) return MULTIPLE_HOST;
  const headers = req.headers;
  if (authority === undefined) {
    if (hosts === 0) return MISSING_AUTHORITY;
    if (!isHostHeaderValue(headers.host!)) return BAD_HOST;
  } else {
    if (!isHostHeaderValue(authority)) return BAD_AUTHORITY;
    if (hosts > 0 && headers.host!.toLowerCase() !== authority.toLowerCase()) return AUTHORITY_MISMATCH;
  }
  if (req.url!.indexOf('#') >= 0) return FRAGMENT;
  return null;
}

/**
 * RFC 9110 §7.2 Host = uri-host [ ":" port ]: reg-name characters (unreserved, sub-delims,
 * pct-encoded) or an IP literal in brackets. Refuses "/", "@", "?", "#", spaces and the like,
 * which would make the host read differently by different parsers.
 */
export function isHostHeaderValue(host: string): boolean {
  const n = host.length;
  if (n === 0 || n > 1024) return false;
  for (let i = 0; i < n; i++) {
    const c = host.charCodeAt(i);
    const ok =
      (c >= 97 && c <= 122) || // a-z
      (c >= 65 && c <= 90) || // A-Z
      (c >= 48 && c <= 58) || // 0-9 and ":"
      c === 45 || c === 46 || c === 95 || c === 126 || // - . _ ~
      c === 91 || c === 93 || // [ ] (IP literal)
      c === 33 || c === 36 || (c >= 38 && c <= 44) || c === 59 || c === 61 || // sub-delims
      c === 37; // pct-encoded
    if (!ok) return false;
  }
  return true;
}

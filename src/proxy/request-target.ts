/**
 * The host a request is for: the Host header lower-cased, without port or trailing dot.
 * "[::1]:8080" → "[::1]"; a missing header → "".
 */
export function hostOf(header: string | undefined): string {
  if (header === undefined || header === '') return '';
  let end = header.length;
  if (header.charCodeAt(0) === 91 /* [ */) {
    const close = header.indexOf(']');
    end = close < 0 ? end : close + 1;
  } else {
    const colon = header.indexOf(':');
    if (colon >= 0) end = colon;
  }
  if (header.charCodeAt(end - 1) === 46 /* . */) end--;
  const host = end === header.length ? header : header.slice(0, end);
  return host.toLowerCase();
}

/** Whether a request has a body to forward (a non-zero Content-Length, or Transfer-Encoding). */
export function hasRequestBody(contentLength: string | undefined, transferEncoding: string | undefined): boolean {
  return transferEncoding !== undefined || (contentLength !== undefined && contentLength !== '0');
}

/**
 * The origin-form ("/path?query") of an absolute-form target ("http://host[:port]/path?query")
 * whose host is `host` (the Host header's, as hostOf gives it); null when the target is not
 * http(s) absolute-form, carries user info, or names another host. RFC 9112 §3.2.2 lets the
 * target's authority replace Host; accepting only the same host keeps one host for routing
 * and for the upstream.
 */
export function absoluteFormPath(url: string, host: string): string | null {
  let start: number;
  if (url.length > 7 && url.slice(0, 7).toLowerCase() === 'http://') start = 7;
  else if (url.length > 8 && url.slice(0, 8).toLowerCase() === 'https://') start = 8;
  else return null;
  let end = start;
  while (end < url.length) {
    const c = url.charCodeAt(end);
    if (c === 47 /* / */ || c === 63 /* ? */) break;
    end++;
  }
  const authority = url.slice(start, end);
  if (authority === '' || authority.includes('@') || hostOf(authority) !== host) return null;
  if (end === url.length) return '/';
  return url.charCodeAt(end) === 63 ? `/${url.slice(end)}` : url.slice(end);
}

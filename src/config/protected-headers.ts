/**
 * Headers that route header rules may not add, set or remove. Hop-by-hop headers describe one
 * connection (proxy/hop-by-hop.ts; a unit test keeps the two lists in step); Host is changed
 * with `hostRewrite`; Content-Length and Transfer-Encoding frame the body; the forwarding
 * headers, Via, the trace context and the request id header (proxy.requestIdHeader, checked
 * separately since it is configurable) are the proxy's own, and X-Switchyard-Error marks the
 * proxy's own answers.
 */
export const PROTECTED_HEADERS: ReadonlySet<string> = new Set([
  'connection',
  'keep-alive',
  'proxy-connection',
  'proxy-authenticate',
  'proxy-authorization',
  'te',
  'trailer',
  'transfer-encoding',
  'upgrade',
  'expect',
  'host',
  'content-length',
  'x-forwarded-for',
  'x-forwarded-proto',
  'x-forwarded-host',
  'via',
  'traceparent',
  'tracestate',
  'x-switchyard-error',
]);

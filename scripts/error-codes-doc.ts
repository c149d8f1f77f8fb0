import { GrpcStatus } from '../src/proxy/grpc-status.js';
import { PROXY_ERROR_HEADER, PROXY_ERRORS } from '../src/proxy/proxy-error.js';

const GRPC_NAMES = new Map<number, string>(Object.entries(GrpcStatus).map(([name, value]) => [value, name]));

/** docs/error-codes.md, generated from PROXY_ERRORS (src/proxy/proxy-error.ts), the one table of the proxy's own answers. */
export function errorCodesDoc(): string {
  const rows = Object.entries(PROXY_ERRORS)
    .sort(([a, x], [b, y]) => x.status - y.status || a.localeCompare(b))
    .map(([code, e]) => `| \`${code}\` | ${e.status} | ${GRPC_NAMES.get(e.grpc)} (${e.grpc}) | ${cell(e.message)} | ${cell(e.action)} |`);
  return [
    '# Error codes',
    '',
    '<!-- Generated from PROXY_ERRORS in src/proxy/proxy-error.ts by `npm run docs:config`;',
    '     do not edit by hand (a test compares this file with the table). -->',
    '',
    `When Switchyard answers a request itself instead of an upstream, the response carries the code in`,
    `the \`${PROXY_ERROR_HEADER}\` header and a JSON body (requests refused before they were parsed get the`,
    'header and an empty body, and the connection closes):',
    '',
    '```json',
    '{"error":"no_route","message":"no route matches this request: GET /nothing","requestId":"3b28d789-…"}',
    '```',
    '',
    'gRPC clients get the gRPC status in the table instead (HTTP 200, trailers-only, the message in',
    '`grpc-message`; [grpc.md](grpc.md)). The same code is in the access log line\'s `error` field and',
    'counted in `switchyard_proxy_errors_total{code}`; a request whose client went away first is logged',
    'with `error: "client_closed"` and gets no answer. A response that comes from an upstream never',
    `carries \`${PROXY_ERROR_HEADER}\`, so a 502 without it is the upstream's own. Symptoms and causes in`,
    'more depth: [troubleshooting.md](troubleshooting.md).',
    '',
    '| code | HTTP status | gRPC status | message | what to do |',
    '|---|---|---|---|---|',
    ...rows,
    '',
  ].join('\n');
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|');
}

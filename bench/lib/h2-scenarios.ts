import type { H2Probe } from './h2-probe.js';
import { directH2Target, envoyH2Target, haproxyH2Target, nginxH2Target, switchyardH2Target, type H2TargetSpec, type H2UpstreamKind } from './h2-targets.js';

/** One HTTP/2 benchmark scenario: what h2load sends, to which targets, through which upstream protocol. */
export interface H2Scenario {
  name: string;
  title: string;
  upstream: H2UpstreamKind;
  /** Clients reach the proxies over TLS (ALPN h2) instead of h2c. */
  tls?: boolean;
  path: string;
  /** Request body (h2load -d: POST); GET when absent. */
  body?: Buffer;
  headers: string[];
  /** What every target must answer before it is measured. */
  probe: H2Probe;
  targets: H2TargetSpec[];
}

/** A gRPC request: one length-prefixed (uncompressed) message of `size` bytes. */
function grpcRequest(size: number): Buffer {
  const frame = Buffer.alloc(5 + size, 0x71);
  frame[0] = 0;
  frame.writeUInt32BE(size, 1);
  return frame;
}

const GRPC_REQUEST = grpcRequest(128);
const GRPC_HEADERS = { 'content-type': 'application/grpc', te: 'trailers' };
const GRPC_HEADER_LINES = Object.entries(GRPC_HEADERS).map(([k, v]) => `${k}: ${v}`);

function peers(): H2TargetSpec[] {
  return [
    directH2Target(),
    switchyardH2Target(),
    // The two HTTP/2 clients towards the upstream, side by side (services.<name>.http2Client).
    switchyardH2Target('switchyard-http2-node', undefined, 'node'),
    switchyardH2Target('switchyard-http2-codec', undefined, 'switchyard'),
    // The two HTTP/2 servers towards the clients (proxy.engine.http2Listener): switchyard is the codec.
    switchyardH2Target('switchyard-listener-node', undefined, undefined, 'node'),
    nginxH2Target(),
    haproxyH2Target(),
    envoyH2Target(),
  ];
}

export function allH2Scenarios(): H2Scenario[] {
  return [
    {
      name: 'h2-get-1k',
      title: 'GET 1 KiB, client h2c → proxy → upstream h2c',
      upstream: 'h2c',
      path: '/bench/1k',
      headers: [],
      probe: { path: '/bench/1k' },
      targets: peers(),
    },
    {
      name: 'h2-to-h1-get-1k',
      title: 'GET 1 KiB, client h2c → proxy → upstream HTTP/1.1 (direct: the h2c upstream)',
      upstream: 'http1',
      path: '/bench/1k',
      headers: [],
      probe: { path: '/bench/1k' },
      targets: peers(),
    },
    {
      name: 'h2-tls-get-1k',
      title: 'GET 1 KiB, client HTTP/2 over TLS (ALPN h2, P-256 certificate) → proxy → upstream HTTP/1.1 (direct: the h2c upstream, no TLS)',
      upstream: 'http1',
      tls: true,
      path: '/bench/1k',
      headers: [],
      probe: { path: '/bench/1k' },
      targets: peers(),
    },
    {
      name: 'grpc-unary',
      title: 'gRPC unary: 128-byte request message, 1 KiB response message, trailers grpc-status 0; h2c both sides',
      upstream: 'h2c',
      path: '/bench.Echo/Unary',
      body: GRPC_REQUEST,
      headers: GRPC_HEADER_LINES,
      probe: { path: '/bench.Echo/Unary', body: GRPC_REQUEST, headers: GRPC_HEADERS, grpcMessages: 1 },
      targets: peers(),
    },
    {
      name: 'grpc-server-stream',
      title: 'gRPC server streaming: 128-byte request, 10 response messages of 1 KiB, trailers; h2c both sides',
      upstream: 'h2c',
      path: '/bench.Echo/ServerStream',
      body: GRPC_REQUEST,
      headers: GRPC_HEADER_LINES,
      probe: { path: '/bench.Echo/ServerStream', body: GRPC_REQUEST, headers: GRPC_HEADERS, grpcMessages: 10 },
      targets: peers(),
    },
  ];
}

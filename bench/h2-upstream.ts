/**
 * The HTTP/2 benchmark upstream: a node:cluster primary that forks `--workers` processes, each
 * serving one cleartext HTTP/2 port (h2c, prior knowledge) with the raw node:http2 stream API,
 * so a proxy benchmark measures the proxy and not a gRPC library.
 *
 *   GET  any path                          → 200, 1 KiB body
 *   POST content-type application/grpc…    → reads the request, then 200, content-type
 *        path ending in /Unary               application/grpc, one length-prefixed 1 KiB
 *                                            message, trailers grpc-status: 0
 *        path ending in /ServerStream        the same with 10 messages of 1 KiB, each its own
 *                                            DATA frame write
 *   POST other                             → reads the body, 200 with the byte count
 *
 * Usage: tsx bench/h2-upstream.ts --workers 2
 * Prints one JSON line {"ports":[...]} on stdout once every worker listens.
 */
import cluster from 'node:cluster';
import { constants, createServer, type IncomingHttpHeaders, type ServerHttp2Stream } from 'node:http2';
import { parseArgs } from 'node:util';
import { forkUpstreamWorkers, reservePorts } from './lib/upstream-cluster.js';

const { HTTP2_HEADER_CONTENT_TYPE, HTTP2_HEADER_METHOD, HTTP2_HEADER_PATH, HTTP2_HEADER_STATUS, HTTP2_HEADER_CONTENT_LENGTH } = constants;

/** Messages a server-streaming call answers with. */
const SERVER_STREAM_MESSAGES = 10;

const BODY_1K = Buffer.alloc(1024, 'a');
const GRPC_MESSAGE_1K = grpcFrame(Buffer.alloc(1024, 'g'));
const GET_HEADERS = { [HTTP2_HEADER_STATUS]: 200, [HTTP2_HEADER_CONTENT_TYPE]: 'application/octet-stream', [HTTP2_HEADER_CONTENT_LENGTH]: String(BODY_1K.length) };
const GRPC_HEADERS = { [HTTP2_HEADER_STATUS]: 200, [HTTP2_HEADER_CONTENT_TYPE]: 'application/grpc' };
const GRPC_OK_TRAILERS = { 'grpc-status': '0' };
const WAIT_FOR_TRAILERS = { waitForTrailers: true };

/** A gRPC length-prefixed message: 1 byte compressed flag (0), 4 bytes big-endian length, the message. */
function grpcFrame(message: Buffer): Buffer {
  const frame = Buffer.alloc(5 + message.length);
  frame.writeUInt32BE(message.length, 1);
  message.copy(frame, 5);
  return frame;
}

function sendOkTrailers(this: ServerHttp2Stream): void {
  this.sendTrailers(GRPC_OK_TRAILERS);
}

function ignoreChunk(): void {}

let streamErrors = 0;

/** Streams reset by the peer (a proxy cancelling, a load run ending): counted, logged at powers of two. */
function countStreamError(err: Error): void {
  streamErrors++;
  if ((streamErrors & (streamErrors - 1)) === 0) process.stderr.write(`h2 bench upstream: ${streamErrors} stream error(s), latest: ${err.message}\n`);
}

function answerGrpc(stream: ServerHttp2Stream, path: string): void {
  if (stream.destroyed) return;
  stream.respond(GRPC_HEADERS, WAIT_FOR_TRAILERS);
  stream.on('wantTrailers', sendOkTrailers);
  if (path.endsWith('/ServerStream')) {
    for (let i = 1; i < SERVER_STREAM_MESSAGES; i++) stream.write(GRPC_MESSAGE_1K);
  }
  stream.end(GRPC_MESSAGE_1K);
}

function handle(stream: ServerHttp2Stream, headers: IncomingHttpHeaders): void {
  stream.on('error', countStreamError);
  const method = headers[HTTP2_HEADER_METHOD];
  if (method === 'GET' || method === 'HEAD') {
    stream.respond(GET_HEADERS);
    stream.end(BODY_1K);
    return;
  }
  const path = String(headers[HTTP2_HEADER_PATH] ?? '/');
  const contentType = headers[HTTP2_HEADER_CONTENT_TYPE];
  if (typeof contentType === 'string' && contentType.startsWith('application/grpc')) {
    stream.on('data', ignoreChunk);
    stream.once('end', () => answerGrpc(stream, path));
    return;
  }
  let received = 0;
  stream.on('data', (chunk: Buffer) => {
    received += chunk.length;
  });
  stream.once('end', () => {
    if (stream.destroyed) return;
    const text = String(received);
    stream.respond({ [HTTP2_HEADER_STATUS]: 200, [HTTP2_HEADER_CONTENT_TYPE]: 'text/plain', [HTTP2_HEADER_CONTENT_LENGTH]: String(text.length) });
    stream.end(text);
  });
}

async function runPrimary(): Promise<void> {
  const { values } = parseArgs({ options: { workers: { type: 'string', default: '2' } } });
  const workerCount = Number(values.workers);
  if (!Number.isInteger(workerCount) || workerCount < 1) {
    process.stderr.write(`h2 bench upstream: --workers must be a positive integer (got ${values.workers})\n`);
    process.exit(2);
  }
  const ports = await reservePorts(1);
  forkUpstreamWorkers('h2 bench upstream', workerCount, { BENCH_H2_UPSTREAM_PORT: String(ports[0]) }, ports);
}

async function runWorker(): Promise<void> {
  const port = Number(process.env.BENCH_H2_UPSTREAM_PORT);
  // Generous stream limits: the proxies under test multiplex many client streams onto few
  // upstream connections.
  const server = createServer({ settings: { maxConcurrentStreams: 1000 }, peerMaxConcurrentStreams: 1000 });
  server.on('stream', handle);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolve);
  });
  process.send?.('listening');
}

if (cluster.isPrimary) await runPrimary();
else await runWorker();

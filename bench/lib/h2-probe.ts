import { connect, constants, type ClientHttp2Session, type IncomingHttpHeaders } from 'node:http2';
import type { BenchProcess } from './child-process.js';

const { HTTP2_HEADER_METHOD, HTTP2_HEADER_PATH, HTTP2_HEADER_STATUS, HTTP2_HEADER_CONTENT_TYPE, HTTP2_HEADER_TE } = constants;

/** One request a target must answer correctly before it is measured. */
export interface H2Probe {
  path: string;
  /** Request body (sent as POST); GET when absent. */
  body?: Buffer;
  headers?: Record<string, string>;
  /** For gRPC: the response must carry this many length-prefixed messages and a grpc-status: 0 trailer. */
  grpcMessages?: number;
}

interface ProbeAnswer {
  status: number;
  headers: IncomingHttpHeaders;
  trailers: IncomingHttpHeaders;
  body: Buffer;
}

function request(session: ClientHttp2Session, probe: H2Probe, timeoutMs: number): Promise<ProbeAnswer> {
  return new Promise((resolve, reject) => {
    const req = session.request({
      [HTTP2_HEADER_METHOD]: probe.body === undefined ? 'GET' : 'POST',
      [HTTP2_HEADER_PATH]: probe.path,
      ...probe.headers,
    });
    const timer = setTimeout(() => req.close(constants.NGHTTP2_CANCEL), timeoutMs);
    let headers: IncomingHttpHeaders = {};
    let trailers: IncomingHttpHeaders = {};
    const chunks: Buffer[] = [];
    req.on('response', (h) => {
      headers = h;
    });
    req.on('trailers', (t) => {
      trailers = t;
    });
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      clearTimeout(timer);
      resolve({ status: Number(headers[HTTP2_HEADER_STATUS]), headers, trailers, body: Buffer.concat(chunks) });
    });
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(probe.body);
  });
}

/** Counts gRPC length-prefixed messages in `body`; null when the framing does not add up. */
export function countGrpcMessages(body: Buffer): number | null {
  let offset = 0;
  let count = 0;
  while (offset < body.length) {
    if (offset + 5 > body.length) return null;
    offset += 5 + body.readUInt32BE(offset + 1);
    if (offset > body.length) return null;
    count++;
  }
  return count;
}

/** What is wrong with `answer` for `probe`, or null when it is right. */
export function probeProblem(probe: H2Probe, answer: ProbeAnswer): string | null {
  if (answer.status !== 200) return `status ${answer.status}`;
  if (probe.grpcMessages === undefined) return null;
  const type = answer.headers[HTTP2_HEADER_CONTENT_TYPE];
  if (typeof type !== 'string' || !type.startsWith('application/grpc')) return `content-type ${String(type)}, not application/grpc`;
  const messages = countGrpcMessages(answer.body);
  if (messages !== probe.grpcMessages) return `${messages === null ? 'a malformed gRPC body' : `${messages} gRPC messages`} (${answer.body.length} bytes), expected ${probe.grpcMessages}`;
  const status = answer.trailers['grpc-status'] ?? answer.headers['grpc-status'];
  if (status !== '0') return `grpc-status ${status === undefined ? 'missing (trailers lost?)' : String(status)}, expected 0`;
  return null;
}

/**
 * Polls `url` (http:// for h2c with prior knowledge, https:// for TLS with ALPN h2, any
 * certificate accepted) until `probe` is answered correctly, or throws naming the last problem
 * and the process log after `timeoutMs`.
 */
export async function waitUntilServingH2(url: string, probe: H2Probe, proc: BenchProcess | null, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = 'no answer yet';
  while (Date.now() < deadline) {
    if (proc && (proc.child.exitCode !== null || proc.child.signalCode !== null)) {
      throw new Error(`${url}: the process exited (code ${proc.child.exitCode}); see ${proc.logFile}`);
    }
    const session = connect(url, { rejectUnauthorized: false, ALPNProtocols: ['h2'] });
    session.on('error', () => {}); // reported through the request below
    try {
      const problem = probeProblem(probe, await request(session, { ...probe, headers: { [HTTP2_HEADER_TE]: 'trailers', ...probe.headers } }, 2_000));
      if (problem === null) return;
      last = problem;
    } catch (err) {
      last = (err as Error).message;
    } finally {
      session.destroy();
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${url}${probe.path} did not answer as expected over HTTP/2 within ${timeoutMs} ms (${last})${proc ? `; see ${proc.logFile}` : ''}`);
}

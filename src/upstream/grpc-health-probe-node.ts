import { connect, constants, type ClientHttp2Session, type ClientHttp2Stream, type IncomingHttpHeaders, type SecureClientSessionOptions } from 'node:http2';
import { encodeHealthCheckRequest, grpcFrame } from './grpc-health-messages.js';
import { GRPC_HEALTH_CHECK_PATH, GrpcHealthAnswer, grpcTimeoutValue, linkFault, streamResetDetail, type GrpcProbeDone, type GrpcProbeLink, type GrpcProbeTarget } from './grpc-health-answer.js';

/**
 * The gRPC health probe on node:http2's client session, for services with `http2Client: node`
 * (node:http2 everywhere towards their instances, health checks included). Same request, same
 * verdicts and details as the default probe on Switchyard's codec (grpc-health-probe.ts); one
 * session per probe, destroyed when the probe ends.
 */
export function probeGrpcHealthOnNodeHttp2(target: GrpcProbeTarget, service: string, timeoutMs: number, done: GrpcProbeDone): { destroy(): void } {
  return new NodeGrpcHealthProbe(target, service, timeoutMs, done);
}

class NodeGrpcHealthProbe implements GrpcProbeLink {
  private session: ClientHttp2Session | null = null;
  private readonly timer: NodeJS.Timeout;
  readonly tls: boolean;
  private ended = false;
  connected = false;
  http2Peer = false;
  private readonly answer = new GrpcHealthAnswer();

  constructor(target: GrpcProbeTarget, service: string, timeoutMs: number, private readonly done: GrpcProbeDone) {
    this.tls = target.tls !== null;
    this.timer = setTimeout(() => this.fail(`no answer within ${timeoutMs}ms`), timeoutMs);
    const options: SecureClientSessionOptions = { settings: { enablePush: false } };
    if (target.tls !== null) Object.assign(options, target.tls);
    let stream: ClientHttp2Stream;
    try {
      const session = connect(`${this.tls ? 'https' : 'http'}://${target.key}`, options);
      this.session = session;
      session.on('error', (err: Error) => this.fail(linkFault(this, errorText(err))));
      session.once('connect', () => (this.connected = true));
      session.once('remoteSettings', () => (this.http2Peer = true));
      session.once('close', () => this.fail(linkFault(this, 'connection closed before an answer')));
      stream = session.request({
        ':method': 'POST',
        ':path': GRPC_HEALTH_CHECK_PATH,
        'content-type': 'application/grpc',
        te: 'trailers',
        'grpc-timeout': grpcTimeoutValue(timeoutMs),
        'user-agent': 'switchyard-health-check',
      });
    } catch (err) {
      // connect() and request() throw synchronously only on options node:http2 refuses; the
      // outcome is still reported asynchronously, like every other one.
      const reason = (err as Error).message;
      queueMicrotask(() => this.fail(`cannot start an HTTP/2 request to ${target.key}: ${reason}`));
      return;
    }
    stream.on('response', (headers: IncomingHttpHeaders) => {
      const problem = this.answer.head(Number(headers[':status']), single(headers['content-type']), single(headers['grpc-status']), single(headers['grpc-message']));
      if (problem !== null) this.fail(problem);
    });
    stream.on('data', (chunk: Buffer) => {
      if (this.ended) return;
      const problem = this.answer.data(chunk);
      if (problem === null) return;
      stream.close(constants.NGHTTP2_CANCEL);
      this.fail(problem);
    });
    stream.on('trailers', (trailers: IncomingHttpHeaders) => this.answer.trailers(single(trailers['grpc-status']), single(trailers['grpc-message'])));
    stream.on('error', (err: Error) => {
      // "Stream closed with error code ...": the instance reset the stream.
      const reset = (err as NodeJS.ErrnoException).code === 'ERR_HTTP2_STREAM_ERROR' && stream.rstCode !== undefined && stream.rstCode !== constants.NGHTTP2_NO_ERROR;
      this.fail(reset ? streamResetDetail(stream.rstCode) : linkFault(this, errorText(err)));
    });
    stream.on('close', () => this.onStreamClose(stream));
    stream.end(grpcFrame(encodeHealthCheckRequest(service)));
  }

  destroy(): void {
    this.end();
  }

  private onStreamClose(stream: ClientHttp2Stream): void {
    if (this.ended) return;
    if (!this.answer.hasGrpcStatus) {
      if (!this.http2Peer) return this.fail(linkFault(this, 'connection closed before an answer'));
      if (stream.rstCode !== undefined && stream.rstCode !== constants.NGHTTP2_NO_ERROR) return this.fail(streamResetDetail(stream.rstCode));
    }
    const verdict = this.answer.verdict();
    this.finish(verdict.ok, verdict.detail);
  }

  private fail(detail: string): void {
    this.finish(false, detail);
  }

  private finish(ok: boolean, detail: string): void {
    if (this.ended) return;
    this.end();
    this.done(ok, detail);
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.timer);
    this.session?.destroy();
  }
}

/** An error's own words: node:http2 wraps the socket's error in "The pending stream has been canceled (caused by: ...)". */
function errorText(err: Error): string {
  const cause = (err as Error & { cause?: unknown }).cause;
  return (cause instanceof Error ? cause.message : err.message).trim();
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

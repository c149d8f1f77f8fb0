import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect, type TLSSocket } from 'node:tls';
import type { Dispatcher } from 'undici';
import type { HTTP2_CLIENTS } from '../config/schema.js';
import { encodeHealthCheckRequest, grpcFrame } from './grpc-health-messages.js';
import { GRPC_HEALTH_CHECK_PATH, GrpcHealthAnswer, grpcTimeoutValue, linkFault, streamResetDetail, type GrpcProbeDone, type GrpcProbeLink, type GrpcProbeTarget } from './grpc-health-answer.js';
import { probeGrpcHealthOnNodeHttp2 } from './grpc-health-probe-node.js';
import { Http2ClientConnection, type ConnectionOwner } from './http2-client-connection.js';
import { Http2ClientRequest, Http2StreamResetError, type RequestOwner } from './http2-client-request.js';
import { sniServerName } from './sni-server-name.js';
import { UpstreamError } from './upstream-error.js';

export { GRPC_HEALTH_CHECK_PATH, MAX_GRPC_HEALTH_RESPONSE, type GrpcProbeDone, type GrpcProbeTarget } from './grpc-health-answer.js';

/** The HTTP/2 client a probe runs on: the service's `http2Client` setting. */
export type GrpcProbeClient = (typeof HTTP2_CLIENTS)[number];

/**
 * One probe of the standard gRPC health protocol (grpc.health.v1.Health/Check) on a connection
 * of its own: cleartext with prior knowledge (h2c) when the target has no TLS, else TLS with the
 * target's options (CA, servername, verify) and ALPN h2. It passes only on HTTP 200, grpc-status
 * 0 (in the trailers, or in the headers of a trailers-only response) and one uncompressed
 * HealthCheckResponse saying SERVING. Everything else fails, with a detail that names the
 * fault: the status, grpc-status and grpc-message, a malformed or oversized body, a reset, a
 * peer that does not speak HTTP/2, no answer within `timeoutMs` (grpc-health-answer.ts words them).
 *
 * `client` "switchyard" (the default) runs it on Switchyard's HTTP/2 client codec, the engine
 * of the service's requests; "node" on node:http2's client session (grpc-health-probe-node.ts),
 * for services with `http2Client: node`, so that setting means node:http2 everywhere.
 *
 * `done` is called exactly once, unless the returned handle's destroy() comes first (then
 * never). The connection is closed when the probe ends either way (no connection is reused
 * from one probe to the next): no socket or timer outlives it.
 */
export function probeGrpcHealth(target: GrpcProbeTarget, service: string, timeoutMs: number, done: GrpcProbeDone, client: GrpcProbeClient = 'switchyard'): { destroy(): void } {
  if (client === 'node') return probeGrpcHealthOnNodeHttp2(target, service, timeoutMs, done);
  return new CodecGrpcHealthProbe(target, service, timeoutMs, done);
}

/** The first bytes of a peer that is not HTTP/2 kept to say what it speaks. */
const FIRST_BYTES_KEPT = 64;

/**
 * The probe on Http2ClientConnection and Http2ClientRequest: the probe is the connection's
 * owner (one connection, one stream) and the request's handler.
 */
class CodecGrpcHealthProbe implements ConnectionOwner, RequestOwner, Dispatcher.DispatchHandler, GrpcProbeLink {
  readonly tls: boolean;
  connected = false;
  http2Peer = false;
  private ended = false;
  private readonly timer: NodeJS.Timeout;
  private connection: Http2ClientConnection | null = null;
  private request: Http2ClientRequest | null = null;
  private readonly answer = new GrpcHealthAnswer();
  private readonly options: Dispatcher.DispatchOptions;
  /** The peer's first bytes until its SETTINGS arrive: what a peer that is not HTTP/2 speaks. */
  private firstBytes: Buffer | null = null;

  constructor(
    private readonly target: GrpcProbeTarget,
    service: string,
    timeoutMs: number,
    private readonly done: GrpcProbeDone,
  ) {
    this.tls = target.tls !== null;
    // Set before the connection's own connect timer (same length): this one fires first.
    this.timer = setTimeout(() => this.fail(`no answer within ${timeoutMs}ms`), timeoutMs);
    this.options = {
      method: 'POST',
      path: GRPC_HEALTH_CHECK_PATH,
      headers: ['content-type', 'application/grpc', 'te', 'trailers', 'grpc-timeout', grpcTimeoutValue(timeoutMs), 'user-agent', 'switchyard-health-check'],
      body: grpcFrame(encodeHealthCheckRequest(service)),
    };
    let socket: Socket;
    try {
      socket = this.connect(target);
    } catch (err) {
      // net and tls connect throw synchronously only on options they refuse (a malformed CA, a
      // bad port); the outcome is still reported asynchronously, like every other one.
      const reason = (err as Error).message;
      queueMicrotask(() => this.fail(`cannot start an HTTP/2 request to ${target.key}: ${reason}`));
      return;
    }
    socket.once('data', (chunk: Buffer) => {
      if (!this.http2Peer) this.firstBytes = Buffer.from(chunk.subarray(0, FIRST_BYTES_KEPT));
    });
    this.connection = new Http2ClientConnection(this, socket, 1, timeoutMs, timeoutMs);
  }

  /** The socket: TCP for h2c, TLS with ALPN h2 and the target's options otherwise. */
  private connect(target: GrpcProbeTarget): Socket {
    const { host, port } = hostAndPort(target.key);
    if (target.tls === null) {
      const socket = netConnect({ host, port });
      socket.once('connect', () => {
        this.connected = true;
        this.connection!.start();
      });
      return socket;
    }
    const socket: TLSSocket = tlsConnect({ ...target.tls, host, port, servername: sniServerName(target.tls.servername, host), ALPNProtocols: ['h2'] });
    socket.once('secureConnect', () => {
      this.connected = true;
      if (socket.alpnProtocol === 'h2') this.connection!.start();
      else this.connection!.destroy(new UpstreamError(`the instance did not agree to HTTP/2 by ALPN (it chose ${socket.alpnProtocol || 'no protocol'})`, 'UND_ERR_SOCKET', 'SocketError'));
    });
    return socket;
  }

  destroy(): void {
    this.end();
  }

  // ---- the connection's owner ----

  connectionReady(connection: Http2ClientConnection): void {
    this.http2Peer = true;
    this.firstBytes = null;
    if (this.ended) return;
    const request = new Http2ClientRequest(this, this.options, this);
    this.request = request;
    request.start(connection, this.tls, this.target.key);
  }

  streamEnded(): void {
    // One stream a probe: nothing waits for its slot.
  }

  connectionClosed(_connection: Http2ClientConnection, error: Error | null): void {
    if (this.ended) return;
    if ((error as NodeJS.ErrnoException | null)?.code === 'ERR_SSL_TLSV1_ALERT_NO_APPLICATION_PROTOCOL') {
      // The TLS peer answered, refusing h2: it is up, and does not serve HTTP/2 on this port.
      this.connected = true;
      this.fail(linkFault(this, 'the instance refused HTTP/2 by ALPN (TLS alert no_application_protocol)'));
      return;
    }
    this.fail(linkFault(this, this.closeReason(error)));
  }

  dequeue(): void {
    // Requests start only on a ready connection: none is ever queued.
  }

  // ---- the request's handler ----

  onConnect(): void {}

  onHeaders(status: number, raw: Buffer[]): boolean {
    if (this.ended) return false;
    if (status < 200) return true; // interim responses: the answer follows
    let contentType: string | undefined;
    let grpcStatus: string | undefined;
    let grpcMessage: string | undefined;
    for (let i = 0; i < raw.length; i += 2) {
      const name = raw[i]!.toString('latin1');
      if (name === 'content-type') contentType ??= raw[i + 1]!.toString('latin1');
      else if (name === 'grpc-status') grpcStatus ??= raw[i + 1]!.toString('latin1');
      else if (name === 'grpc-message') grpcMessage ??= raw[i + 1]!.toString('latin1');
    }
    const problem = this.answer.head(status, contentType, grpcStatus, grpcMessage);
    if (problem === null) return true;
    this.fail(problem);
    return false;
  }

  onData(chunk: Buffer): boolean {
    if (this.ended) return false;
    const problem = this.answer.data(chunk);
    if (problem === null) return true;
    this.fail(problem);
    return false;
  }

  onComplete(trailers: string[] | null): void {
    if (this.ended) return;
    // The codec reports HTTP/2 trailers as an object (repeated names as arrays).
    const fields = trailers as unknown as Record<string, string | string[]> | null;
    if (fields !== null) this.answer.trailers(single(fields['grpc-status']), single(fields['grpc-message']));
    const verdict = this.answer.verdict();
    this.finish(verdict.ok, verdict.detail);
  }

  onError(err: Error): void {
    if (this.ended) return;
    if (err instanceof Http2StreamResetError) this.fail(streamResetDetail(err.http2Code));
    else this.fail(linkFault(this, err.message));
  }

  // ---- outcome ----

  /** Why the connection closed: what a peer that is not HTTP/2 answered, the error, or a plain close. */
  private closeReason(error: Error | null): string {
    const first = this.firstBytes;
    const reason = error?.message ?? 'connection closed before an answer';
    if (this.http2Peer || first === null) return reason;
    return peerProtocol(first) ?? `its first bytes are not an HTTP/2 SETTINGS frame (${first.subarray(0, 16).toString('hex').replace(/(..)(?!$)/g, '$1 ')})`;
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
    // After the codec's own call that got here has returned (an answer ends the probe inside
    // the connection's frame handling): a stream still open is reset (CANCEL), then the
    // connection goes with GOAWAY once that is written, or at once before the peer's SETTINGS.
    queueMicrotask(() => this.closeConnection());
  }

  private closeConnection(): void {
    const connection = this.connection;
    if (connection === null || connection.closed) return;
    this.request?.abort();
    if (connection.ready) connection.close();
    else connection.destroy(new UpstreamError('the health probe ended', 'UND_ERR_CLOSED', 'ClientClosedError'));
  }
}

/** `address:port` (IPv6 bracketed) as host and port. */
function hostAndPort(key: string): { host: string; port: number } {
  const colon = key.lastIndexOf(':');
  const address = key.slice(0, colon);
  return { host: address.startsWith('[') ? address.slice(1, -1) : address, port: Number(key.slice(colon + 1)) };
}

/** What a peer that is not HTTP/2 speaks, from its first bytes, or null when they do not say. */
function peerProtocol(first: Buffer): string | null {
  if (first.subarray(0, 5).toString('latin1') === 'HTTP/') {
    const line = first.toString('latin1').split('\r\n', 1)[0]!;
    return `it answered in HTTP/1.x (${JSON.stringify(line)})`;
  }
  // A TLS record: handshake (22) or alert (21), version 3.x.
  if ((first[0] === 22 || first[0] === 21) && first[1] === 3) return 'it answered in TLS (the port expects TLS: give the service a tls section or protocol h2)';
  return null;
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}

import type { AddressInfo } from 'node:net';
import type { SecureContext, SecureContextOptions, TLSSocket } from 'node:tls';
import type { Config } from '../config/schema.js';
import type { SidecarConfig } from '../config/sidecar-schema.js';
import type { Logger } from '../observability/logger.js';
import { ProxyListener, type ListenerCertificates, type RequestHandlers } from '../proxy/proxy-listener.js';
import type { ConnectAuthorizer, ConnectDecision } from './connect-authorizer.js';
import type { ConnectCertificates, ConnectIdentity } from './connect-certificates.js';
import type { ConnectMetrics } from './connect-metrics.js';
import { serviceIdOfCertificate, type SpiffeServiceId } from './spiffe-id.js';

type SecureConnectionHandler = (this: unknown, socket: TLSSocket) => void;

/**
 * The service's mesh entrance: a TLS listener (connect.port, registered as the connect-proxy's
 * port) in front of the same request handler as the plain inbound listener (concurrency limit,
 * queue, the proxy pipeline to the app instances). What is checked, in order:
 *
 * 1. TLS handshake (node:tls): the client must present a certificate that chains to one of
 *    Consul's current CA roots (`requestCert` + `rejectUnauthorized`, `ca` = the roots); the
 *    server presents this service's leaf. Failures count in
 *    switchyard_sidecar_connect_tls_handshake_failures_total.
 * 2. Identity: the client certificate must carry exactly one SPIFFE service URI in the CA's
 *    trust domain; else the connection is closed (result="bad_identity").
 * 3. Intentions: the agent's decision for that URI (ConnectAuthorizer); denied → the connection
 *    is closed before a byte of it is read as a request (result="denied").
 *
 * Only then does the connection reach the HTTP engines (HTTP/1.1 or HTTP/2 by ALPN). The check is
 * per connection, like every layer-4 Connect proxy. Certificates come from ConnectCertificates:
 * a new leaf or new roots go in with server.setSecureContext, for new handshakes only; open
 * connections are not touched.
 */
export class ConnectInboundListener {
  private readonly listener: ProxyListener;
  private readonly certificates: ConnectListenerCertificates;
  /** Connections already admitted: a connection handed back to the HTTP parser (after an upgrade) passes straight on. */
  private readonly admitted = new WeakSet<TLSSocket>();

  constructor(
    connect: SidecarConfig['connect'],
    config: Config,
    handler: RequestHandlers,
    identity: ConnectCertificates,
    private readonly authorizer: ConnectAuthorizer,
    private readonly metrics: ConnectMetrics,
    private readonly logger: Logger,
  ) {
    this.certificates = new ConnectListenerCertificates(identity);
    this.listener = new ProxyListener({ name: 'connect', address: connect.address, port: connect.port, redirectToHttps: false }, config.limits, handler, logger, this.certificates);
    const server = this.listener.server;
    server.on('tlsClientError', () => this.metrics.handshakeFailed());
    // The gate goes in front of every handler of a new TLS connection (the engines by ALPN).
    const handlers = server.listeners('secureConnection') as SecureConnectionHandler[];
    server.removeAllListeners('secureConnection');
    server.on('secureConnection', (socket: TLSSocket) => this.admit(socket, handlers));
  }

  listen(): Promise<AddressInfo> {
    return this.listener.listen();
  }

  get address(): AddressInfo {
    return this.listener.address;
  }

  get openConnections(): number {
    return this.listener.openConnections;
  }

  /** Stops accepting; in-flight requests finish (up to graceMs). */
  close(graceMs: number): Promise<void> {
    return this.listener.close(graceMs);
  }

  private admit(socket: TLSSocket, handlers: readonly SecureConnectionHandler[]): void {
    if (this.admitted.has(socket)) {
      for (const handler of handlers) handler.call(this.listener.server, socket);
      return;
    }
    const identity = this.certificates.identity;
    const caller = serviceIdOfCertificate(socket.getPeerCertificate().subjectaltname);
    if (!socket.authorized || caller === null || caller.trustDomain !== identity.trustDomain) {
      this.metrics.connection('bad_identity');
      this.logger.debug({ remoteAddress: socket.remoteAddress, authorized: socket.authorized, uri: caller?.uri ?? null }, 'connect: connection refused: the client certificate names no service of this trust domain');
      socket.destroy();
      return;
    }
    const serial = socket.getPeerCertificate().serialNumber;
    const decision = this.authorizer.authorize(caller.uri, serial);
    if ('authorized' in decision) this.decide(socket, caller, decision, handlers);
    else void decision.then((d) => this.decide(socket, caller, d, handlers));
  }

  private decide(socket: TLSSocket, caller: SpiffeServiceId, decision: ConnectDecision, handlers: readonly SecureConnectionHandler[]): void {
    if (socket.destroyed) return;
    if (!decision.authorized) {
      this.metrics.connection('denied');
      this.logger.debug({ remoteAddress: socket.remoteAddress, source: caller.service, reason: decision.reason, decidedBy: decision.from }, 'connect: connection refused by intentions');
      socket.destroy();
      return;
    }
    this.metrics.connection('authorized');
    this.admitted.add(socket);
    for (const handler of handlers) handler.call(this.listener.server, socket);
  }
}

/**
 * The mTLS listener's certificates, seen as a ProxyListener sees a CertificateStore: the
 * current leaf as the server certificate, Consul's roots as the CAs that sign client
 * certificates, a client certificate required. A new identity is handed to the server with
 * `onDefaultChange` (server.setSecureContext); a client sending SNI gets the current context.
 */
class ConnectListenerCertificates implements ListenerCertificates {
  onDefaultChange: ((options: SecureContextOptions) => void) | null = null;
  private current: ConnectIdentity;
  private readonly unsubscribe: () => void;

  constructor(source: ConnectCertificates) {
    const identity = source.current;
    if (identity === null) throw new Error('the Connect listener needs certificates: wait for ConnectCertificates.ready first');
    this.current = identity;
    this.unsubscribe = source.onChange((next) => {
      this.current = next;
      this.onDefaultChange?.(next.options);
    });
  }

  get identity(): ConnectIdentity {
    return this.current;
  }

  get serverOptions(): SecureContextOptions & {
    SNICallback: (name: string, cb: (err: Error | null, ctx?: SecureContext) => void) => void;
    requestCert: boolean;
    rejectUnauthorized: boolean;
  } {
    return { ...this.current.options, minVersion: 'TLSv1.2', SNICallback: this.sni, requestCert: true, rejectUnauthorized: true };
  }

  /** Connect identifies clients by URI SAN, checked by the listener itself, not by name lists. */
  get clientCertificateNames(): undefined {
    return undefined;
  }

  /** Certificates change through the agent watch, never from files. */
  async reload(): Promise<void> {}

  close(): void {
    this.unsubscribe();
  }

  private readonly sni = (_name: string, cb: (err: Error | null, ctx?: SecureContext) => void): void => cb(null, this.current.context);
}

import type { ConnectionOptions, PeerCertificate } from 'node:tls';
import type { UpstreamTlsConfig } from '../config/schema.js';
import type { ServiceInstance } from '../registry/service-instance.js';
import { preparedUpstreamTls, type InstanceTlsResolver } from '../upstream/upstream-tls.js';
import type { ConnectIdentity } from './connect-certificates.js';
import { serviceIdOfCertificate } from './spiffe-id.js';

/**
 * TLS from the sidecar's egress to a Connect upstream's endpoints (its sidecar proxies or
 * Connect-native instances): the sidecar's leaf as client certificate, Consul's roots as the
 * CAs, and the server's identity checked by its SPIFFE URI rather than a host name. Every
 * service's leaf is signed by the same CA, so chain verification alone would let any service
 * in the mesh answer for any other: checkServerIdentity requires the URI to name the service
 * the request was routed to, in this trust domain.
 *
 * Options are prepared per upstream service and identity (the control plane, not per
 * request). A new identity (rotated leaf or roots) makes new option objects: the endpoints'
 * pools are rebuilt, so new connections use the new certificate while the old pools close once
 * their requests are done. Within one pool, connections are kept alive and TLS sessions resumed
 * (undici's session cache), so a steady stream of calls does no handshake per request.
 */
export class ConnectUpstreamTls {
  private identity: ConnectIdentity | null = null;
  private readonly byService = new Map<string, UpstreamTlsConfig>();

  constructor(private readonly upstreams: ReadonlySet<string>) {}

  /** Takes a new identity; options made for the previous one are dropped. */
  setIdentity(identity: ConnectIdentity): void {
    this.identity = identity;
    this.byService.clear();
  }

  /** For ClusterManager.setInstanceTls: Connect TLS for instances of upstream services, nothing else. */
  readonly resolve: InstanceTlsResolver = (instance: ServiceInstance) => {
    if (!this.upstreams.has(instance.service)) return undefined;
    let tls = this.byService.get(instance.service);
    if (tls === undefined) {
      tls = preparedUpstreamTls(this.options(instance.service));
      this.byService.set(instance.service, tls);
    }
    return tls;
  };

  private options(service: string): ConnectionOptions {
    const identity = this.identity;
    if (identity === null) {
      // No certificates yet: a connection attempt fails with a clear reason rather than in plain text.
      return { rejectUnauthorized: true, checkServerIdentity: () => new Error(`connect: no certificates from the Consul agent yet; cannot reach ${service} over mTLS`) };
    }
    const trustDomain = identity.trustDomain;
    return {
      secureContext: identity.context,
      rejectUnauthorized: true,
      checkServerIdentity: (host: string, cert: PeerCertificate): Error | undefined => {
        const id = serviceIdOfCertificate(cert.subjectaltname);
        if (id !== null && id.service === service && id.trustDomain === trustDomain) return undefined;
        const presented = id?.uri ?? `no SPIFFE service URI (${cert.subjectaltname ?? 'no SAN'})`;
        return Object.assign(new Error(`connect: ${host} presented ${presented}, not the identity of service "${service}" in ${trustDomain}; connection refused`), { code: 'ERR_CONNECT_SERVER_IDENTITY' });
      },
    };
  }
}

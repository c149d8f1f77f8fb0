import type { SidecarConfig } from '../config/sidecar-schema.js';
import type { AgentServiceRegistration } from './consul-agent-client.js';

const WILDCARD_ADDRESSES = new Set(['0.0.0.0', '::', '[::]']);

/**
 * The sidecar's Connect registration: a service of Kind "connect-proxy" beside the instance's
 * own registration, as Consul's docs ask of a sidecar proxy (and as `sidecar_service` registers
 * Envoy): Name "<service>-sidecar-proxy", Port = the mTLS listener, Proxy.DestinationServiceName
 * / DestinationServiceID = the instance it fronts, LocalServiceAddress/Port = where the proxy
 * delivers (the sidecar's own inbound port, in front of the app instances), Upstreams = the
 * Connect services the app calls, each on its own local port. Consul lists it under
 * /v1/health/connect/<service>, which is where every caller's proxy (this one or Envoy) looks for
 * the service's mTLS endpoints.
 *
 * Its check is a TTL check fed with the same view of the app as the instance's (the proxy is
 * only worth calling while the app behind it is healthy).
 */
export function buildConnectProxyRegistration(sidecar: SidecarConfig, instance: AgentServiceRegistration, ports: { connect: number; inbound: number }): AgentServiceRegistration {
  const connect = sidecar.connect;
  const id = connect.proxyId ?? `${instance.ID}-sidecar-proxy`;
  const address = sidecar.consul.advertiseAddress ?? (WILDCARD_ADDRESSES.has(connect.address) ? instance.Address : connect.address);
  const ttl = sidecar.consul.check.ttl;
  return {
    ID: id,
    Name: `${sidecar.service}-sidecar-proxy`,
    Kind: 'connect-proxy',
    Tags: [],
    Address: address,
    Port: ports.connect,
    Meta: {},
    Weights: instance.Weights,
    Check: {
      CheckID: `service:${id}`,
      Name: `Switchyard sidecar: ${sidecar.service} Connect proxy`,
      TTL: ttl % 1000 === 0 ? `${ttl / 1000}s` : `${ttl}ms`,
      Notes: 'Updated by the Switchyard sidecar: passing while its mTLS listener serves and the app behind it is healthy.',
    },
    Proxy: {
      DestinationServiceName: sidecar.service,
      DestinationServiceID: instance.ID,
      LocalServiceAddress: '127.0.0.1',
      LocalServicePort: ports.inbound,
      Upstreams: connect.upstreams.map((u) => ({ DestinationType: 'service', DestinationName: u.service, LocalBindAddress: u.localBindAddress, LocalBindPort: u.localBindPort })),
    },
  };
}

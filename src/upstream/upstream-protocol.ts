import type { ServiceConfig, UpstreamProtocol } from '../config/schema.js';
import type { ServiceInstance } from '../registry/service-instance.js';

/**
 * Instance meta `proto` values that declare HTTP/2, with fabio's gRPC names: `h2c` and `grpc`
 * (cleartext HTTP/2 with prior knowledge), `h2` and `grpcs` (HTTP/2 over TLS).
 */
const META_PROTOCOLS: Record<string, UpstreamProtocol> = { h2c: 'h2c', grpc: 'h2c', h2: 'h2', grpcs: 'h2' };

/**
 * The protocol towards an instance: the service's `protocol` when the config sets one other
 * than http1, else what the instance declares in its meta (`proto: h2c | grpc | h2 | grpcs`,
 * e.g. Consul service meta), else HTTP/1.1. An instance knows what it speaks on its port, as
 * with `proto: https` for TLS.
 */
export function upstreamProtocol(instance: ServiceInstance, settings: ServiceConfig): UpstreamProtocol {
  if (settings.protocol !== 'http1') return settings.protocol;
  const declared = instance.meta.proto;
  return (declared !== undefined && META_PROTOCOLS[declared]) || 'http1';
}

/** Whether the instance's meta declares HTTP/2 over TLS (which turns TLS on). */
export function declaresHttp2OverTls(instance: ServiceInstance): boolean {
  const declared = instance.meta.proto;
  return declared === 'h2' || declared === 'grpcs';
}

/** The protocols a client-facing listener can serve (listeners[].protocols, sidecar inbound/egress). */
export const LISTENER_PROTOCOLS = ['http1', 'h2', 'h2c'] as const;
export type ListenerProtocol = (typeof LISTENER_PROTOCOLS)[number];

/** The protocols a listener serves: its `protocols`, or the default for a TLS or a plain listener. */
export function listenerProtocols(listener: { readonly protocols?: readonly ListenerProtocol[] | undefined; readonly tls?: unknown }): readonly ListenerProtocol[] {
  return listener.protocols ?? (listener.tls !== undefined ? DEFAULT_TLS_PROTOCOLS : DEFAULT_PLAIN_PROTOCOLS);
}
const DEFAULT_TLS_PROTOCOLS: readonly ListenerProtocol[] = ['h2', 'http1'];
const DEFAULT_PLAIN_PROTOCOLS: readonly ListenerProtocol[] = ['http1'];

import { Counter, Gauge, Registry } from 'prom-client';

/** Why an mTLS connection to the Connect listener was accepted or refused. */
export type ConnectConnectionResult = 'authorized' | 'denied' | 'bad_identity';

/**
 * Metrics of the sidecar's service mesh side, in a registry of their own (appended to the
 * sidecar's /metrics). Counters are children prepared here, so counting a connection allocates
 * nothing; the leaf expiry gauge is set when /metrics is scraped.
 */
export class ConnectMetrics {
  readonly registry = new Registry();
  private readonly connections: Record<ConnectConnectionResult, Counter.Internal>;
  private readonly handshakeFailures: Counter;
  private readonly leafExpiry: Gauge;
  private readonly certificateChanges: Gauge;

  constructor() {
    const registers = [this.registry];
    const counter = new Counter({
      name: 'switchyard_sidecar_connect_connections_total',
      help: 'mTLS connections to the Connect listener after the handshake, by result: authorized (intentions allow), denied (intentions deny: connection refused), bad_identity (no SPIFFE service URI, or another trust domain).',
      labelNames: ['result'] as const,
      registers,
    });
    this.connections = { authorized: counter.labels('authorized'), denied: counter.labels('denied'), bad_identity: counter.labels('bad_identity') };
    for (const c of Object.values(this.connections)) c.inc(0);
    this.handshakeFailures = new Counter({ name: 'switchyard_sidecar_connect_tls_handshake_failures_total', help: 'TLS handshakes refused by the Connect listener (no client certificate, or one no current CA root signs).', registers });
    this.leafExpiry = new Gauge({ name: 'switchyard_sidecar_connect_leaf_expiry_seconds', help: 'Seconds until the leaf certificate in use expires (negative: expired).', registers });
    this.certificateChanges = new Gauge({ name: 'switchyard_sidecar_connect_certificate_changes', help: 'Leaf or root changes applied since start (the first load included).', registers });
  }

  connection(result: ConnectConnectionResult): void {
    this.connections[result].inc();
  }

  handshakeFailed(): void {
    this.handshakeFailures.inc();
  }

  /** Called at scrape time. */
  update(leafValidBefore: number | null, changes: number): void {
    if (leafValidBefore !== null) this.leafExpiry.set((leafValidBefore - Date.now()) / 1000);
    this.certificateChanges.set(changes);
  }

  text(): Promise<string> {
    return this.registry.metrics();
  }
}

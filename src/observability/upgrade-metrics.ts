import type { Gauge } from 'prom-client';
import type { CounterChild, HistogramChild, PreparedCounter, PreparedHistogram } from './prepared-metrics.js';

type RouteLabel = 'route' | 'service';

/** Why an upgrade did not become a tunnel (the `reason` label). */
export const UPGRADE_REFUSALS = [
  /** The upstream answered with an ordinary response (relayed to the client). */
  'upstream_refused',
  /** The upstream answered 101 with another protocol, no Connection: upgrade or a wrong accept key. */
  'bad_handshake',
  /** No answer: connect failure, reset or timeout. */
  'upstream_failed',
  /** A circuit breaker limit of the service. */
  'breaker',
  /** limits.maxUpgrades. */
  'limit',
  /** The client closed the connection before the upstream answered. */
  'client_closed',
] as const;
export type UpgradeRefusal = (typeof UPGRADE_REFUSALS)[number];

/** The upgrade metric families, labelled by route and service. */
export interface UpgradeMetricFamilies {
  opened: PreparedCounter;
  closed: PreparedCounter;
  refused: PreparedCounter;
  active: Gauge<RouteLabel>;
  duration: PreparedHistogram;
  bytes: PreparedCounter;
}

/** Tunnel lifetimes: 100 ms to 6 h. */
export const TUNNEL_DURATION_BUCKETS = [0.1, 1, 10, 60, 300, 900, 1800, 3600, 7200, 21600];

/**
 * Upgrade (tunnel) metrics of one route, children bound when the route table is built: each
 * handshake outcome and each closed tunnel is one `.inc()` / `.observe()` on a prepared child.
 */
export class UpgradeMetrics {
  private readonly openedChild: CounterChild;
  private readonly closedChild: CounterChild;
  private readonly refusedChildren: CounterChild[];
  private readonly activeChild: Gauge.Internal<RouteLabel>;
  private readonly durationChild: HistogramChild;
  private readonly toUpstream: CounterChild;
  private readonly toClient: CounterChild;

  constructor(route: string, service: string, families: UpgradeMetricFamilies) {
    this.openedChild = families.opened.labels(route, service);
    this.closedChild = families.closed.labels(route, service);
    this.refusedChildren = UPGRADE_REFUSALS.map((reason) => families.refused.labels(route, service, reason));
    this.activeChild = families.active.labels(route, service);
    this.durationChild = families.duration.labels(route, service);
    this.toUpstream = families.bytes.labels(route, service, 'client_to_upstream');
    this.toClient = families.bytes.labels(route, service, 'upstream_to_client');
  }

  opened(): void {
    this.openedChild.inc();
    this.closedChild.touch();
    this.activeChild.inc();
  }

  closed(seconds: number, bytesFromClient: number, bytesToClient: number): void {
    this.closedChild.inc();
    this.activeChild.dec();
    this.durationChild.observe(seconds);
    if (bytesFromClient > 0) this.toUpstream.inc(bytesFromClient);
    if (bytesToClient > 0) this.toClient.inc(bytesToClient);
  }

  refused(reason: UpgradeRefusal): void {
    this.refusedChildren[UPGRADE_REFUSALS.indexOf(reason)]!.inc();
  }
}

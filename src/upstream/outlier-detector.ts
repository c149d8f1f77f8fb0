import type { OutlierDetectionConfig } from '../config/schema.js';
import type { Logger } from '../observability/logger.js';
import type { ClusterStats } from './cluster-stats.js';
import { HealthFlag, type Endpoint } from './endpoint.js';

/** What the detector needs to know about its cluster. */
export interface OutlierScope {
  readonly name: string;
  readonly endpoints: readonly Endpoint[];
  readonly stats: ClusterStats;
}

/**
 * Passive outlier detection (Envoy's consecutive-5xx detector): the forwarder reports each
 * try's outcome; an endpoint that fails `consecutiveFailures` times in a row is ejected for
 * baseEjectionTime × its ejection count (capped at maxEjectionTime), and comes back by itself
 * when that time is up. The ejection count decays by one for every baseEjectionTime the
 * endpoint stays in, so an endpoint that recovered for good starts again from the base time.
 * At most maxEjectionPercent of the endpoints are ejected at once (at least one may be).
 */
export class OutlierDetector {
  constructor(
    private readonly scope: OutlierScope,
    public settings: OutlierDetectionConfig,
    private readonly logger: Logger,
  ) {}

  /** A try got a non-5xx response. Hot path: one store. */
  success(endpoint: Endpoint): void {
    endpoint.outlier.consecutiveFailures = 0;
  }

  /**
   * A try failed: a 5xx response, a connect failure, a reset or a timeout. True when this
   * ejected it. Also counts the failure for the status page (the failure path only; a success
   * costs nothing more).
   */
  failure(endpoint: Endpoint): boolean {
    const record = endpoint.outlier;
    record.failures++;
    record.consecutiveFailures++;
    if (!this.settings.enabled || record.ejected || record.consecutiveFailures < this.settings.consecutiveFailures) return false;
    return this.eject(endpoint);
  }

  private eject(endpoint: Endpoint): boolean {
    const { scope, settings } = this;
    const endpoints = scope.endpoints;
    if (!endpoints.includes(endpoint)) return false; // already replaced by a registry update
    let ejected = 0;
    for (const e of endpoints) if (e.outlier.ejected) ejected++;
    const allowed = Math.max(1, Math.floor((endpoints.length * settings.maxEjectionPercent) / 100));
    if (ejected >= allowed) {
      scope.stats.ejectionsSkipped++;
      return false;
    }
    const record = endpoint.outlier;
    const now = Date.now();
    if (record.returnedAt !== 0) {
      const decay = Math.floor((now - record.returnedAt) / settings.baseEjectionTime);
      record.ejections = Math.max(0, record.ejections - decay);
    }
    record.ejections++;
    const duration = Math.min(settings.baseEjectionTime * record.ejections, Math.max(settings.maxEjectionTime, settings.baseEjectionTime));
    record.timer = setTimeout(returnEndpoint, duration, endpoint, this.logger, scope.name);
    record.timer.unref();
    record.consecutiveFailures = 0;
    scope.stats.ejections++;
    endpoint.setHealthFlag(HealthFlag.outlier, true);
    this.logger.warn({ service: scope.name, endpoint: endpoint.key, ejections: record.ejections, ejectedForMs: duration }, 'endpoint ejected by outlier detection');
    return true;
  }

  /** Ends every ejection (settings changed to disabled, or the cluster closes). */
  clear(): void {
    for (const e of this.scope.endpoints) {
      if (!e.outlier.ejected) continue;
      e.outlier.cancel();
      e.setHealthFlag(HealthFlag.outlier, false);
    }
  }
}

function returnEndpoint(endpoint: Endpoint, logger: Logger, service: string): void {
  endpoint.outlier.timer = null;
  endpoint.outlier.returnedAt = Date.now();
  endpoint.setHealthFlag(HealthFlag.outlier, false);
  logger.info({ service, endpoint: endpoint.key }, 'ejected endpoint returned to rotation');
}

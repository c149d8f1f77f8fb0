/** JSON shapes of the admin API (docs/operations.md, "Admin API"), and what the admin listener needs from the router. */
import type { RawTrafficView, TrafficView } from './traffic-history.js';
import type { RateLimitView } from '../filters/rate-limit-filter.js';

export interface RouteView {
  name: string;
  source: 'config' | 'tags' | 'override';
  host: string | null;
  path: string;
  methods: string[] | null;
  headers: Record<string, string>;
  /** The service, or for a weighted split each service with its share, e.g. "v1 90% | v2 10%". */
  service: string;
  /** The weighted split (services, weights, share in percent, requests each got), or null. */
  backends: { service: string; weight: number; percent: number; requests: number }[] | null;
  /** The route's rate limiter (settings and counts), or null without one. */
  rateLimit: RateLimitView | null;
  rewritePrefix: string | null;
  hostRewrite: string | null;
  timeouts: { headers: number; bodyIdle: number };
  /** Requests recorded on this route since start (the status page derives rates). */
  requests: number;
}

export interface EndpointView {
  service: string;
  /** address:port */
  endpoint: string;
  id: string;
  address: string;
  port: number;
  /** Registry health: passing, warning or critical. */
  health: string;
  drained: boolean;
  /** Whether the balancer may pick it (healthy and not drained). */
  available: boolean;
  /** Health sources now failing: registry, activeCheck, outlier, drain. */
  failing: string[];
  inFlight: number;
  /** Tries sent to it (requests and retries) and tries that failed (5xx, connect failure, reset, timeout), since it appeared. */
  requests: number;
  errors: number;
  /** Whether passive outlier detection has it ejected now. */
  ejected: boolean;
  /** The last active health check probe (null without active checks or before the first probe). */
  healthCheck: { ok: boolean; detail: string; at: string } | null;
  /** When each health source last changed its verdict on this endpoint (ISO time), or null if it never did. */
  changedAt: { registry: string | null; activeCheck: string | null; outlier: string | null; drain: string | null };
  /** Effective balancer weight, and the registry's weight it may override. */
  weight: number;
  registryWeight: number;
  tags: string[];
  /** Registry source the instance came from ("file", "consul"). */
  source: string;
}

export interface ServiceView {
  name: string;
  /** False when no route sends traffic to it (no connection pools exist). */
  routed: boolean;
  balancer: string | null;
  total: number;
  healthy: number;
  endpoints: EndpointView[];
}

export interface ReloadView {
  /** ISO time of the last reload attempt, or null when none since start. */
  at: string | null;
  ok: boolean;
  /** Why the last reload was rejected (file:line: field: message), or null. */
  error: string | null;
  /** ISO time of the last successful load (start or reload). */
  lastSuccessAt: string;
}

export interface StatusView {
  version: string;
  startedAt: string;
  configFile: string;
  /** The process serving this answer (a worker's pid in cluster mode). */
  pid: number;
  ready: boolean;
  /** Why /readyz answers 503 (shutting down, failed through the admin API, registry not synced), or null when ready. */
  notReadyReason: string | null;
  /** Whether readiness was failed on purpose (POST /api/v1/readiness/fail). */
  readinessFailed: boolean;
  reload: ReloadView;
  /** Where drains and route overrides are kept across restarts, and whether the last save worked. */
  operatorState: OperatorStateView;
  /** The client-facing listeners, in config order (connection counts are this process's). */
  listeners: ListenerView[];
}

export interface ListenerView {
  name: string;
  /** Bound address and port. */
  address: string;
  port: number;
  tls: boolean;
  /** Protocols served, in ALPN preference order: http1, h2 (TLS, by ALPN), h2c (cleartext HTTP/2). */
  protocols: string[];
  /** Client connections open now (HTTP/2 ones included). */
  connections: number;
  /** HTTP/2 connections open now. */
  http2Connections: number;
}

export interface OperatorStateView {
  /** "file" or "consul". */
  store: string;
  location: string;
  drains: number;
  overrides: number;
  /** ISO time of the last successful save, or null when nothing was saved since start. */
  lastSavedAt: string | null;
  /** Why the last load or save failed, or null. */
  lastError: string | null;
}

export type ReloadResult = { ok: true } | { ok: false; error: string };

/** The answer to POST /api/v1/readiness/fail and /restore. */
export interface ReadinessView {
  ready: boolean;
  readinessFailed: boolean;
  notReadyReason: string | null;
}

/** What the admin listener reads from, and asks of, the running router. */
export interface AdminView {
  ready(): boolean;
  status(): StatusView;
  routes(): RouteView[];
  services(): ServiceView[];
  /** The effective configuration, secrets redacted. */
  config(): unknown;
  registry(): unknown;
  /** Recent per-route traffic sampled for the status page's charts. */
  traffic(): TrafficView;
  /** The same history as counted (GET /api/v1/traffic?raw=1), for the cluster primary to merge workers' histories. */
  rawTraffic(): RawTrafficView;
  metrics(): Promise<{ contentType: string; body: string }>;
  reload(): Promise<ReloadResult>;
  /** Fails readiness on purpose (`failed`), or restores it; requests keep being served either way. */
  setReadinessFailed(failed: boolean): ReadinessView;
  /**
   * Mutations apply to the running router, then resolve once the operator state is saved;
   * they reject with StateNotSaved when the save failed (the change is live but would not
   * survive a restart).
   */
  /**
   * Drains (or undrains) an endpoint by address:port or instance id, in one service or all.
   * Returns the endpoints it matched and, for an undrain, the stored drains of instances no
   * longer in the registry that it removed (matched by address:port).
   */
  setDrained(endpoint: string, service: string | undefined, drained: boolean): Promise<{ endpoints: EndpointView[]; forgotten: number }>;
  overrides(): unknown[];
  /** Validates and adds an override; throws OverrideRejected with the reason when invalid. */
  addOverride(input: unknown): Promise<unknown>;
  removeOverride(id: number): Promise<boolean>;
  clearOverrides(): Promise<void>;
}

/** A mutation applied to the running router whose operator state could not be saved. */
export class StateNotSaved extends Error {
  override readonly name = 'StateNotSaved';
}

/** An override body that does not validate; `message` names the field and what is expected. */
export class OverrideRejected extends Error {
  override readonly name = 'OverrideRejected';
}

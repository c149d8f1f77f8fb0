/** JSON shapes of the admin API (README "Admin API"), and what the admin listener needs from the router. */
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
  reload: ReloadView;
}

export type ReloadResult = { ok: true } | { ok: false; error: string };

/** What the admin listener reads from, and asks of, the running router. */
export interface AdminView {
  ready(): boolean;
  status(): StatusView;
  routes(): RouteView[];
  services(): ServiceView[];
  /** The effective configuration, secrets redacted. */
  config(): unknown;
  registry(): unknown;
  metrics(): Promise<{ contentType: string; body: string }>;
  reload(): Promise<ReloadResult>;
  /** Drains (or undrains) an endpoint by address:port or instance id, in one service or all. Returns the endpoints it matched. */
  setDrained(endpoint: string, service: string | undefined, drained: boolean): EndpointView[];
  overrides(): unknown[];
  /** Validates and adds an override; throws OverrideRejected with the reason when invalid. */
  addOverride(input: unknown): unknown;
  removeOverride(id: number): boolean;
  clearOverrides(): void;
}

/** An override body that does not validate; `message` names the field and what is expected. */
export class OverrideRejected extends Error {
  override readonly name = 'OverrideRejected';
}

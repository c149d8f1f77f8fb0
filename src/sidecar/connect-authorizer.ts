import type { Logger } from '../observability/logger.js';
import { ConsulAgentError, type ConsulAgentClient } from './consul-agent-client.js';

/** The outcome for one incoming connection. */
export interface ConnectDecision {
  readonly authorized: boolean;
  readonly reason: string;
  /** agent: asked now; cache: a decision younger than the TTL; stale: the agent is unreachable, the last decision holds. */
  readonly from: 'agent' | 'cache' | 'stale' | 'unreachable';
}

interface CachedDecision {
  authorized: boolean;
  reason: string;
  at: number;
}

/** Distinct callers remembered at most (callers are services: a mesh has far fewer). */
const MAX_CACHED = 10_000;

/**
 * Intention checks for connections to this service: POST /v1/agent/connect/authorize with the
 * caller's verified URI SAN and serial, as Consul asks of every Connect proxy.
 *
 * Caching: the agent answers from its own cache of intentions, which it keeps current with a
 * blocking query on the servers (so an intention change reaches it within moments). The
 * sidecar adds a short TTL cache on top (`connect.authorizeCacheTtl`, default 1 s) keyed by the
 * caller's URI (intentions match on service names, so every instance of a caller shares one
 * decision): a burst of new connections from one caller costs one agent call, and an
 * intention change is in force for new connections within the TTL. It does not watch the
 * intentions itself: that needs `intentions:read` on the token and re-implements the agent's
 * matching (precedence, wildcards, default policy), which the agent already does. Concurrent
 * checks for one caller share a request.
 *
 * When the agent cannot be reached (or answers 5xx), the last decision for that caller stays
 * in force, however old, and the outage is logged once; a caller never decided before is
 * refused (fail closed). A 4xx answer (bad URI, ACL) refuses the connection.
 *
 * As with every Connect proxy that uses this endpoint, the check is per connection (layer 4):
 * a connection authorized before a deny intention was written keeps its requests flowing
 * until it closes.
 */
export class ConnectAuthorizer {
  private readonly cache = new Map<string, CachedDecision>();
  private readonly pending = new Map<string, Promise<ConnectDecision>>();
  private unreachable = false;

  constructor(
    private readonly client: ConsulAgentClient,
    readonly target: string,
    private readonly ttlMs: number,
    private readonly logger: Logger,
  ) {}

  authorize(uri: string, serial: string): Promise<ConnectDecision> | ConnectDecision {
    const cached = this.cache.get(uri);
    if (cached !== undefined && Date.now() - cached.at < this.ttlMs) return { authorized: cached.authorized, reason: cached.reason, from: 'cache' };
    let request = this.pending.get(uri);
    if (request === undefined) {
      request = this.ask(uri, serial, cached).finally(() => this.pending.delete(uri));
      this.pending.set(uri, request);
    }
    return request;
  }

  private async ask(uri: string, serial: string, previous: CachedDecision | undefined): Promise<ConnectDecision> {
    try {
      const answer = await this.client.authorize(this.target, uri, serial);
      if (this.unreachable) {
        this.unreachable = false;
        this.logger.info({ target: this.target }, 'connect: the agent answers intention checks again');
      }
      if (this.cache.size >= MAX_CACHED) this.cache.clear();
      this.cache.set(uri, { authorized: answer.Authorized, reason: answer.Reason, at: Date.now() });
      return { authorized: answer.Authorized, reason: answer.Reason, from: 'agent' };
    } catch (err) {
      const status = err instanceof ConsulAgentError ? err.status : 0;
      if (status >= 400 && status < 500) {
        this.logger.warn({ target: this.target, uri, error: (err as Error).message }, 'connect: the agent refused the intention check; connection refused');
        return { authorized: false, reason: `agent refused the check (HTTP ${status})`, from: 'agent' };
      }
      if (!this.unreachable) {
        this.unreachable = true;
        this.logger.warn({ target: this.target, error: (err as Error).message }, 'connect: cannot ask the agent for intention checks; callers keep their last decision, callers never seen are refused');
      }
      if (previous !== undefined) return { authorized: previous.authorized, reason: previous.reason, from: 'stale' };
      return { authorized: false, reason: 'the Consul agent is unreachable and this caller was never authorized', from: 'unreachable' };
    }
  }
}

import type { RequestHead } from '../codec/server-stream.js';
import type { RouteRateLimiter } from './rate-limit-filter.js';

/** What a filter sees of a request: the forward exchange implements it, so passing it allocates nothing. */
export interface FilterExchange {
  readonly req: RequestHead;
  readonly requestId: string;
  /**
   * The client's address, resolved once per request: the connection's client address (TCP peer
   * or PROXY protocol source), or behind a trusted proxy the address X-Forwarded-For gives
   * (proxy/client-address.ts).
   */
  readonly clientAddress: string;
  /** The W3C trace id of the request (32 hex digits), set by the trace-context filter; undefined without one. */
  traceId: string | undefined;
  /** With span export: the proxy's span id for this request (sent upstream as parent id), else undefined. */
  spanId: string | undefined;
  /** With span export: the caller's span id, "" when the proxy started the trace. */
  parentSpanId: string;
  /** With span export: whether the trace is sampled (the span is exported). */
  sampled: boolean;
}

/** Proxy error codes a filter may answer with (see proxy/proxy-error.ts). */
export type FilterRefusalCode = 'rate_limited' | 'rate_limit_store_unavailable';

/** A filter's answer instead of forwarding: the proxy error to send, with extra response headers. */
export interface FilterRefusal {
  readonly code: FilterRefusalCode;
  /** Extra response headers, [name, value, ...]. */
  readonly headers: readonly string[];
  readonly detail: string;
}

/**
 * A filter's decision: null to go on, a refusal, or (rarely) a promise of one of those when the
 * filter must ask something first (a shared rate limit without local tokens asks Redis, bounded
 * by its command timeout). Filters answer synchronously whenever they can, so the usual request
 * allocates no promise.
 */
export type FilterDecision = FilterRefusal | null | Promise<FilterRefusal | null>;

/** A filter step run before the request is forwarded. */
export interface RequestFilter {
  /**
   * May edit `headers` (the upstream header list, [name, value, ...]) in place. Returns null to
   * go on, or a refusal: the proxy answers it and the request is not forwarded.
   */
  onRequest(x: FilterExchange, headers: string[]): FilterDecision;
}

/** A filter step run on the upstream's response head, before it is sent to the client. */
export interface ResponseFilter {
  /** May edit `headers` (the client header list, [name, value, ...]) in place. */
  onResponse(x: FilterExchange, headers: string[]): void;
}

/**
 * The filters of one route, in order, built with the route table (routing/route-table-builder.ts).
 * A route without filters has none (Route.filters is null), so it pays nothing. Each list is
 * null when no filter has a step there.
 */
export class FilterChain {
  constructor(
    readonly request: readonly RequestFilter[] | null,
    readonly response: readonly ResponseFilter[] | null,
    /** The route's rate limiter, for the admin API (it is also in `request`). */
    readonly rateLimit: RouteRateLimiter | null,
  ) {}

  /**
   * Runs the request steps in order; the first refusal ends the chain. A step that answers with
   * a promise makes the chain's answer a promise: the steps after it run once it settles.
   */
  runRequest(x: FilterExchange, headers: string[]): FilterDecision {
    return this.runFrom(0, x, headers);
  }

  private runFrom(first: number, x: FilterExchange, headers: string[]): FilterDecision {
    const steps = this.request;
    if (steps === null) return null;
    for (let i = first; i < steps.length; i++) {
      const decision = steps[i]!.onRequest(x, headers);
      if (decision === null) continue;
      if (decision instanceof Promise) return decision.then((refusal) => (refusal !== null ? refusal : this.runFrom(i + 1, x, headers)));
      return decision;
    }
    return null;
  }

  runResponse(x: FilterExchange, headers: string[]): void {
    const steps = this.response;
    if (steps === null) return;
    for (let i = 0; i < steps.length; i++) steps[i]!.onResponse(x, headers);
  }
}

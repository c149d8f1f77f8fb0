import type { Dispatcher } from 'undici';

/**
 * Where a pool finds a request's trailer fields (RFC 9110 §6.5): the exchange that streams the
 * body. The fields are known only once the client's body has ended, so a pool reads them when
 * the body stream ends (or at once for a Buffer body), never before.
 */
export interface RequestTrailerSource {
  /** [name, value, ...] with lower-case names, filtered for forwarding; null when there are none. */
  readonly requestTrailers: readonly string[] | null;
}

/** undici's dispatch options plus the request's trailer source (null or absent: no trailers can follow). */
export interface UpstreamDispatchOptions extends Dispatcher.DispatchOptions {
  trailers?: RequestTrailerSource | null;
}

/** The trailer source of a dispatch, or null. */
export function trailerSourceOf(options: Dispatcher.DispatchOptions): RequestTrailerSource | null {
  return (options as UpstreamDispatchOptions).trailers ?? null;
}

/** The trailer fields to send now that the body has ended, or null when there are none. */
export function endTrailers(source: RequestTrailerSource | null): readonly string[] | null {
  if (source === null) return null;
  const fields = source.requestTrailers;
  return fields === null || fields.length === 0 ? null : fields;
}

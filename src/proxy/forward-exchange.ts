import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Dispatcher } from 'undici';
import type { Route } from '../routing/route.js';
import type { Endpoint } from '../upstream/endpoint.js';
import type { ProxyContext } from './proxy-context.js';
import { classifyUpstreamError, sendProxyError } from './proxy-error.js';
import { buildClientHeaders } from './response-headers.js';

const kExchange = Symbol('switchyard.exchange');
type TaggedResponse = ServerResponse & { [kExchange]?: ForwardExchange };

/** Raised into undici when the client goes away, so the upstream request is cancelled. */
export class ClientClosedError extends Error {
  readonly code = 'SWITCHYARD_CLIENT_CLOSED';
  constructor() {
    super('the client closed the connection before the response was complete');
  }
}

/**
 * One request forwarded to one endpoint: an undici dispatch handler that streams the upstream
 * response into the client response with backpressure (a full client socket pauses the
 * upstream read), cancels the upstream request when the client goes away, and turns failures
 * before the response into a JSON 502/504. Failures after the response started end the client
 * connection, so a truncated body is never mistaken for a complete one.
 *
 * Uses undici's core handler callbacks (onConnect/onHeaders/onData/onComplete/onError): they
 * hand over the raw header list, which we filter in one pass, where the newer controller API
 * would first parse it into an object.
 */
export class ForwardExchange implements Dispatcher.DispatchHandler {
  private abortUpstream: ((err?: Error) => void) | null = null;
  private resumeUpstream: (() => void) | null = null;
  private finished = false;

  constructor(
    private readonly ctx: ProxyContext,
    private readonly req: IncomingMessage,
    private readonly res: ServerResponse,
    private readonly route: Route,
    private readonly endpoint: Endpoint,
    private readonly requestId: string,
  ) {}

  start(path: string, headers: string[], hasBody: boolean): void {
    this.endpoint.inFlight++;
    (this.res as TaggedResponse)[kExchange] = this;
    this.res.on('close', onClientClose);
    const timeouts = this.route.timeouts;
    this.endpoint.pool.dispatch(
      {
        path,
        method: this.req.method as Dispatcher.HttpMethod,
        headers,
        body: hasBody ? this.req : null,
        headersTimeout: timeouts.headers,
        bodyTimeout: timeouts.bodyIdle,
      },
      this,
    );
  }

  onConnect(abort: (err?: Error) => void): void {
    this.abortUpstream = abort;
    if (this.res.destroyed) abort(new ClientClosedError());
  }

  onHeaders(statusCode: number, rawHeaders: Buffer[], resume: () => void, statusText: string): boolean {
    this.resumeUpstream = resume;
    try {
      const headers = buildClientHeaders(rawHeaders, this.ctx.headers.requestIdHeader, this.requestId);
      this.res.writeHead(statusCode, statusText || undefined, headers);
    } catch (err) {
      // Ambiguous framing, or Node refused a header the upstream sent (e.g. an invalid character).
      this.abortUpstream?.(err as Error);
      return false;
    }
    return true;
  }

  onData(chunk: Buffer): boolean {
    if (this.res.write(chunk)) return true;
    this.res.once('drain', resumeOnDrain);
    return false;
  }

  onComplete(): void {
    // Upstream trailers are not forwarded: few clients ask for them (TE: trailers).
    this.finish();
    this.res.end();
  }

  onError(err: Error & { code?: string }): void {
    this.finish();
    if (err instanceof ClientClosedError || this.res.destroyed) {
      this.ctx.logger.debug({ requestId: this.requestId, route: this.route.name, endpoint: this.endpoint.key }, 'client closed the connection; upstream request cancelled');
      return;
    }
    const code = classifyUpstreamError(err);
    this.ctx.logger.warn(
      { requestId: this.requestId, route: this.route.name, service: this.route.cluster.name, endpoint: this.endpoint.key, errorCode: err.code, error: err.message, responseStarted: this.res.headersSent },
      'upstream request failed',
    );
    if (this.res.headersSent) {
      // Too late for a status: cut the client connection so the truncation is visible.
      this.res.destroy(err);
    } else {
      sendProxyError(this.res, code, this.ctx.headers.requestIdHeader, this.requestId);
    }
  }

  /** Called when the client response closes (finished or aborted). */
  clientClosed(): void {
    if (this.finished) return;
    this.abortUpstream?.(new ClientClosedError());
  }

  resume(): void {
    this.resumeUpstream?.();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.endpoint.inFlight--;
  }
}

// Listeners shared by all exchanges (no closure per request): `this` is the response.
function onClientClose(this: TaggedResponse): void {
  this[kExchange]?.clientClosed();
}

function resumeOnDrain(this: TaggedResponse): void {
  this[kExchange]?.resume();
}

import { request } from 'node:http';

/** One request of a churn run, on a connection of its own. */
export interface ChurnRequest {
  /** Sequence number (requests run one after another). */
  seq: number;
  /** Whether readiness had been seen failing (`notReady()`) when the request started. */
  afterNotReady: boolean;
  /**
   * ok: answered 200. refused: ECONNREFUSED (nothing listens). reset: the connection was reset
   * before any response (ECONNRESET), which is also how the kernel answers a connection still
   * waiting in a listen queue when the listening socket closes; callers check with the upstream
   * that such a request was never accepted. failed: anything else (an error status, a response
   * cut short).
   */
  outcome: 'ok' | 'refused' | 'reset' | 'failed';
  /** Status for answered requests, error code and message otherwise. */
  detail: string;
}

export interface ChurnOptions {
  url: string;
  /**
   * Path of the requests: request `seq` asks for `${path}/${seq}`. Give each run its own, so that
   * the upstream's log tells this run's requests from another run's with the same numbers.
   */
  path: string;
  /** Read before each request: whether readiness has been seen failing yet. */
  notReady: () => boolean;
  /** Stop after this many refusals in a row (the listener is closed for good). */
  refusalsToStop: number;
  /** Upper bound on requests (the loop is bounded whatever happens). */
  maxRequests: number;
}

/**
 * A client that keeps opening new connections (no keep-alive: one request each, one after
 * another) and records every outcome in order: answered, refused (ECONNREFUSED: never
 * accepted) or failed (anything else: accepted and lost, or answered with an error status).
 */
export async function runConnectionChurn(o: ChurnOptions): Promise<ChurnRequest[]> {
  const out: ChurnRequest[] = [];
  let refusedInARow = 0;
  for (let seq = 0; seq < o.maxRequests && refusedInARow < o.refusalsToStop; seq++) {
    const afterNotReady = o.notReady();
    const r = await new Promise<ChurnRequest>((resolve) => {
      const req = request(`${o.url}${o.path}/${seq}`, { agent: false, headers: { connection: 'close' } }, (res) => {
        res.resume();
        res.on('end', () => resolve({ seq, afterNotReady, outcome: res.statusCode === 200 ? 'ok' : 'failed', detail: String(res.statusCode) }));
        res.on('error', (err) => resolve({ seq, afterNotReady, outcome: 'failed', detail: `response: ${err.message}` }));
      });
      req.on('error', (err: Error & { code?: string }) =>
        resolve({ seq, afterNotReady, outcome: err.code === 'ECONNREFUSED' ? 'refused' : err.code === 'ECONNRESET' ? 'reset' : 'failed', detail: `${err.code ?? ''} ${err.message}` }),
      );
      req.end();
    });
    refusedInARow = r.outcome === 'refused' ? refusedInARow + 1 : 0;
    // The request path names the request, so the upstream's log tells whether it was accepted.
    out.push(r);
  }
  return out;
}

/** Polls `url` (a /readyz) until it answers something other than 200, or `stop()` is true; sets the flag. */
export function watchReadiness(url: string, intervalMs = 20): { notReady: () => boolean; stop: () => void } {
  let failed = false;
  let stopped = false;
  const poll = async () => {
    while (!stopped && !failed) {
      try {
        const res = await fetch(url);
        await res.arrayBuffer();
        if (res.status !== 200) failed = true;
      } catch {
        // The admin listener closes last, after the proxy listeners: a refused probe means stopped.
        failed = true;
      }
      await new Promise((r) => setTimeout(r, intervalMs));
    }
  };
  void poll();
  return { notReady: () => failed, stop: () => (stopped = true) };
}

import { Agent, request } from 'node:http';

/** What happened to the requests of a paced run. */
export interface PacedOutcome {
  sent: number;
  /** Milliseconds from the first request sent to the last answer. */
  elapsedMs: number;
  /** Each answered request: when it was sent (ms after the first) and its status. */
  answers: { sentAt: number; status: number }[];
  /** Answered requests by status. */
  statuses: Map<number, number>;
  /** Answered requests by the x-switchyard-error header ("" for none). */
  errors: Map<string, number>;
  /** Requests without a complete answer within the bound (or that failed): what happened to each. */
  unanswered: string[];
}

export interface PacedOptions {
  /** Full URL of each request (one target; run several loads for several routers). */
  url: string;
  /** Requests started per second (bounded: the run sends at most rate × duration, and only during the duration). */
  rate: number;
  durationMs: number;
  /** A request without a complete answer in this time counts as unanswered (a hang), and is cut. */
  answerWithinMs: number;
  /** Requests in flight at most; a tick that would exceed it skips (bounded load). */
  maxInFlight?: number;
  headers?: (i: number) => Record<string, string>;
  /** Reuse connections (default true); false opens one per request (spread over cluster workers). */
  keepAlive?: boolean;
}

/**
 * An open-loop load at a fixed rate, bounded in count and concurrency, over keep-alive
 * connections; every request must be answered within `answerWithinMs` or it is reported. No
 * timing is asserted on beyond that bound (which only tells a hang from an answer).
 */
export async function runPacedLoad(o: PacedOptions): Promise<PacedOutcome> {
  const out: PacedOutcome = { sent: 0, elapsedMs: 0, answers: [], statuses: new Map(), errors: new Map(), unanswered: [] };
  const maxInFlight = o.maxInFlight ?? 64;
  const agent = new Agent({ keepAlive: o.keepAlive ?? true, maxSockets: maxInFlight });
  const total = Math.floor((o.rate * o.durationMs) / 1000);
  let inFlight = 0;
  const started = performance.now();
  const pending: Promise<void>[] = [];
  const one = (i: number) =>
    new Promise<void>((resolve) => {
      inFlight++;
      const sentAt = performance.now() - started;
      const done = () => {
        inFlight--;
        resolve();
      };
      let head = '';
      const req = request(o.url, { agent, headers: o.headers?.(i) }, (res) => {
        head = ` (status ${res.statusCode} ${String(res.headers['x-switchyard-error'] ?? '')} came, the body did not end)`;
        res.resume();
        res.on('end', () => {
          out.statuses.set(res.statusCode!, (out.statuses.get(res.statusCode!) ?? 0) + 1);
          out.answers.push({ sentAt, status: res.statusCode! });
          const code = String(res.headers['x-switchyard-error'] ?? '');
          out.errors.set(code, (out.errors.get(code) ?? 0) + 1);
          clearTimeout(timer);
          done();
        });
        res.on('error', (err) => {
          out.unanswered.push(`response ${i}: ${err.message}`);
          clearTimeout(timer);
          done();
        });
      });
      const timer = setTimeout(() => {
        out.unanswered.push(`request ${i}: no answer within ${o.answerWithinMs}ms${head}`);
        req.destroy();
      }, o.answerWithinMs);
      req.on('error', (err: Error & { code?: string }) => {
        if (!out.unanswered.some((u) => u.startsWith(`request ${i}:`))) out.unanswered.push(`request ${i}: ${err.code ?? ''} ${err.message}`);
        clearTimeout(timer);
        done();
      });
      req.end();
    });
  // Sending stops when the duration is over, even if a stalled machine sent fewer than rate × duration.
  while (out.sent < total && performance.now() - started < o.durationMs) {
    const due = Math.min(total, Math.floor(((performance.now() - started) * o.rate) / 1000) + 1);
    while (out.sent < due && inFlight < maxInFlight) pending.push(one(out.sent++));
    await new Promise((r) => setTimeout(r, 5));
  }
  await Promise.all(pending);
  out.elapsedMs = performance.now() - started;
  agent.destroy();
  return out;
}

/** Sum of the answers with one of `statuses`. */
export function countOf(outcome: PacedOutcome, ...statuses: number[]): number {
  return statuses.reduce((n, s) => n + (outcome.statuses.get(s) ?? 0), 0);
}

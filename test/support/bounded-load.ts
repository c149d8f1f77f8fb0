import { Agent, request } from 'node:http';

/** What happened to the requests of a bounded load run. */
export interface LoadOutcome {
  /** Requests answered (any status), by status. */
  statuses: Map<number, number>;
  answered: number;
  /** New connections refused: the request was never accepted (the listener had closed). */
  refused: number;
  /** Requests accepted or in flight that got no complete response: lost. */
  lost: { error: string }[];
}

export interface LoadOptions {
  url: string;
  /** Parallel clients, each with its own keep-alive connection. */
  concurrency: number;
  /** Requests each client sends, one after another. */
  requestsPerClient: number;
  /** Called after each answered request (e.g. to trigger a reload midway). */
  onAnswered?: (answered: number) => void;
}

/**
 * A bounded load: `concurrency` clients each send `requestsPerClient` GETs over keep-alive
 * connections and classify every outcome. No timings are asserted on.
 */
export async function runBoundedLoad(o: LoadOptions): Promise<LoadOutcome> {
  const outcome: LoadOutcome = { statuses: new Map(), answered: 0, refused: 0, lost: [] };
  const agent = new Agent({ keepAlive: true, maxSockets: o.concurrency });
  const one = (i: number) =>
    new Promise<void>((resolve) => {
      const req = request(`${o.url}/load/${i}`, { agent }, (res) => {
        res.resume();
        res.on('end', () => {
          outcome.answered++;
          outcome.statuses.set(res.statusCode!, (outcome.statuses.get(res.statusCode!) ?? 0) + 1);
          o.onAnswered?.(outcome.answered);
          resolve();
        });
        res.on('error', (err) => {
          outcome.lost.push({ error: `response: ${err.message}` });
          resolve();
        });
      });
      req.on('error', (err: Error & { code?: string }) => {
        if (err.code === 'ECONNREFUSED') outcome.refused++;
        else outcome.lost.push({ error: `${err.code ?? ''} ${err.message}` });
        resolve();
      });
      req.end();
    });
  await Promise.all(
    Array.from({ length: o.concurrency }, async (_, c) => {
      for (let k = 0; k < o.requestsPerClient; k++) await one(c * o.requestsPerClient + k);
    }),
  );
  agent.destroy();
  return outcome;
}

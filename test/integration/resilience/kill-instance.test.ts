import { Agent } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startChildUpstream, type ChildUpstream } from '../../support/fault-upstream.js';
import { fetchText } from '../../support/http-client.js';
import { startProxy, type ProxyHarness } from '../../support/proxy-harness.js';

const WORKERS = 6;
const REQUESTS = 900;
const KILL_AFTER = 300;

describe('kill -9 of one of three instances under steady GET load', () => {
  let children: ChildUpstream[];
  let proxy: ProxyHarness;

  beforeAll(async () => {
    children = await Promise.all(['a', 'b', 'c'].map((n) => startChildUpstream(n)));
    proxy = await startProxy({
      services: { api: children.map((c) => ({ port: c.port })) },
      config: {
        routes: [{ name: 'api', match: { path: '/' }, service: 'api' }],
        // The budget covers every request in flight on the killed instance failing at once.
        services: { api: { retryBudget: { minConcurrency: WORKERS } } },
      },
    });
  });
  afterAll(async () => {
    await proxy.close();
    await Promise.all(children.map((c) => c.kill()));
  });

  it('fails no client request: in-flight and new requests to the dead instance are retried elsewhere', async () => {
    const agent = new Agent({ keepAlive: true, maxSockets: WORKERS });
    const statuses = new Map<number, number>();
    const servedBy = new Map<string, number>();
    const errors: string[] = [];
    let started = 0;
    let done = 0;
    let killed: Promise<void> | null = null;
    const victim = children[1]!;
    const worker = async (): Promise<void> => {
      while (started < REQUESTS) {
        started++;
        try {
          const r = await fetchText(`${proxy.url}/item/${started}`, { agent });
          statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
          if (r.status === 200) {
            const who = (JSON.parse(r.body) as { instance: string }).instance;
            servedBy.set(who, (servedBy.get(who) ?? 0) + 1);
          }
        } catch (err) {
          errors.push((err as Error).message);
        }
        done++;
        if (done === KILL_AFTER) killed = victim.kill();
      }
    };
    await Promise.all(Array.from({ length: WORKERS }, worker));
    await killed;
    agent.destroy();

    expect(errors).toEqual([]);
    expect(statuses).toEqual(new Map([[200, REQUESTS]]));
    expect(servedBy.get('b')).toBeGreaterThan(0); // it took its share until the kill
    const cluster = proxy.app.upstreams.get('api');
    expect(cluster.stats.retries).toBeGreaterThan(0);
    expect(cluster.stats.ejections).toBe(1); // outlier detection took it out
    expect(cluster.endpoints.find((e) => e.instance.port === victim.port)!.healthy).toBe(false);
  });
});

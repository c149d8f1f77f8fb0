import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { freePort } from '../../support/free-port.js';
import { countOf, runPacedLoad } from '../../support/paced-load.js';
import { servicesYaml } from '../../support/proxy-harness.js';
import { hasRedisServer, NO_REDIS_SERVER, startRedisServer, type RedisServer } from '../../support/redis-server.js';
import { startRouterProcess, type RouterProcess } from '../../support/router-process.js';
import { startUpstream, type TestUpstream } from '../../support/test-upstream.js';

if (!hasRedisServer) console.warn(`cluster-mode shared rate limit test skipped: ${NO_REDIS_SERVER}`);

describe.skipIf(!hasRedisServer)('cluster mode (workers: 3) with a shared rate limit', () => {
  let upstream: TestUpstream;
  let redis: RedisServer;
  let dir: string;
  let router: RouterProcess;

  beforeAll(async () => {
    upstream = await startUpstream('app');
    redis = await startRedisServer();
    dir = await mkdtemp(join(tmpdir(), 'switchyard-cluster-rl-'));
    const configFile = join(dir, 'config.yaml');
    await writeFile(join(dir, 'services.yaml'), servicesYaml({ app: [{ port: upstream.port }] }));
    const limit = { requests: 20, per: '1s', burst: 20, by: 'route' };
    await writeFile(
      configFile,
      stringify({
        workers: 3,
        listeners: [{ name: 'test', address: '127.0.0.1', port: await freePort() }],
        admin: { address: '127.0.0.1', port: await freePort() },
        registry: { type: 'file', path: 'services.yaml', watch: false },
        rateLimitRedis: { address: redis.address, commandTimeout: '1s' },
        routes: [
          { name: 'shared', match: { path: '/shared' }, service: 'app', rateLimit: { ...limit, store: 'redis' } },
          { name: 'local', match: { path: '/local' }, service: 'app', rateLimit: { ...limit, store: 'memory' } },
        ],
        logging: { accessLog: false },
        shutdown: { gracePeriod: '2s', drainDelay: '0s' },
      }),
    );
    router = await startRouterProcess(configFile, process.env, { startTimeoutMs: 60_000 });
  }, 90_000);
  afterAll(async () => {
    if (router && router.child.exitCode === null) await router.stop('SIGTERM');
    await upstream.close();
    await redis?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('the workers share the store: the limit holds for the whole router, where the memory store gives each worker its own', async () => {
    // One connection per request, so the primary spreads them over the workers.
    const run = (path: string) => runPacedLoad({ url: `${router.url}${path}`, rate: 60, durationMs: 5_000, answerWithinMs: 10_000, keepAlive: false });
    const shared = await run('/shared');
    const local = await run('/local');
    expect([...shared.unanswered, ...local.unanswered]).toEqual([]);
    // One bucket: a burst of 20 plus 20 per second over ~5 s is about 120 (each worker alone would allow as much).
    const allowance = 20 + 20 * (shared.elapsedMs / 1000);
    console.log(`workers: 3, limit 20/s burst 20 over ${Math.round(shared.elapsedMs)} ms: shared store admitted ${countOf(shared, 200)}, memory store ${countOf(local, 200)} of ${local.sent}; one bucket allows ~${Math.round(allowance)}`);
    expect(countOf(shared, 200)).toBeGreaterThan(0.8 * allowance);
    expect(countOf(shared, 200)).toBeLessThanOrEqual(1.1 * allowance);
    expect(countOf(shared, 200) + countOf(shared, 429)).toBe(shared.sent);
    // The memory store multiplies the limit by the workers that got requests (the problem solved above).
    expect(countOf(local, 200)).toBeGreaterThan(1.3 * allowance);
  }, 60_000);
});

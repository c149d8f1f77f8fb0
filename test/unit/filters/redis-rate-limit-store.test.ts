import { afterEach, describe, expect, it } from 'vitest';
import { rateLimitRedisSchema } from '../../../src/config/schema.js';
import { RedisRateLimitStore } from '../../../src/filters/redis-rate-limit-store.js';
import { SwitchyardMetrics } from '../../../src/observability/metrics.js';
import { captureLog } from '../../support/log-capture.js';
import { hasRedisServer, NO_REDIS_SERVER, startRedisServer, type RedisServer } from '../../support/redis-server.js';

if (!hasRedisServer) console.warn(`Redis store tests skipped: ${NO_REDIS_SERVER}`);

/** 10 tokens per second (100 ms = 100,000 µs each), burst 5. */
const INTERVAL_US = 100_000;
const CAPACITY_US = 5 * INTERVAL_US;

describe.skipIf(!hasRedisServer)('RedisRateLimitStore (GCRA script on a real redis-server)', () => {
  let redis: RedisServer | null = null;
  let store: RedisRateLimitStore | null = null;
  afterEach(async () => {
    await store?.close();
    await redis?.close();
    store = null;
    redis = null;
  });

  const open = async (settings: Record<string, unknown>, server: RedisServer) => {
    const log = captureLog();
    const metrics = new SwitchyardMetrics();
    const config = rateLimitRedisSchema.parse({ address: server.address, commandTimeout: '500ms', ...settings });
    const s = new RedisRateLimitStore(config, log.logger, metrics.rateLimitStore(config.address));
    return { store: s, log, metrics, ready: await s.connected(5_000) };
  };

  it('grants up to the burst, partially past it, then nothing with the wait until the next token; the key carries a TTL', async () => {
    redis = await startRedisServer();
    const opened = await open({}, redis);
    store = opened.store;
    expect(opened.ready).toBe(true);
    expect(await store.reserve('k', INTERVAL_US, CAPACITY_US, 3)).toEqual({ granted: 3, waitMs: 0 });
    // Two left of five: asking for three gives two.
    expect(await store.reserve('k', INTERVAL_US, CAPACITY_US, 3)).toEqual({ granted: 2, waitMs: 0 });
    const empty = (await store.reserve('k', INTERVAL_US, CAPACITY_US, 1))!;
    expect(empty.granted).toBe(0);
    expect(empty.waitMs).toBeGreaterThan(0);
    expect(empty.waitMs).toBeLessThanOrEqual(100);
    const ttl = Number(await redis.cli('PTTL', 'k'));
    expect(ttl).toBeGreaterThan(0);
    expect(ttl).toBeLessThanOrEqual(500);
    // Another key has its own bucket.
    expect((await store.reserve('other', INTERVAL_US, CAPACITY_US, 5))!.granted).toBe(5);
  });

  it('keeps working after the script cache is flushed (EVALSHA falls back to EVAL)', async () => {
    redis = await startRedisServer();
    store = (await open({}, redis)).store;
    expect((await store.reserve('a', INTERVAL_US, CAPACITY_US, 1))!.granted).toBe(1);
    await redis.cli('SCRIPT', 'FLUSH');
    expect((await store.reserve('a', INTERVAL_US, CAPACITY_US, 1))!.granted).toBe(1);
  });

  it('authenticates as an ACL user in the configured database, and never logs the password', async () => {
    // The router's user has exactly the commands docs/traffic.md lists, on its prefix only.
    redis = await startRedisServer(['--user', 'router', 'on', '>router-pass-1234', '~x:*', '+info', '+ping', '+select', '+eval', '+evalsha', '+get', '+set', '+time']);
    const opened = await open({ username: 'router', password: 'router-pass-1234', database: 2, keyPrefix: 'x:' }, redis);
    store = opened.store;
    expect(opened.ready).toBe(true);
    // One token per 10 s: the key lives 10 s, long enough to be looked at.
    expect((await store.reserve('x:k', 10_000_000, 50_000_000, 1))!.granted).toBe(1);
    expect(await redis.cli('-n', '2', 'EXISTS', 'x:k')).toBe('1');
    expect(await redis.cli('-n', '0', 'EXISTS', 'x:k')).toBe('0');
    await store.close();

    const wrong = await open({ username: 'router', password: 'wrong-pass-5678' }, redis);
    store = wrong.store;
    expect(wrong.ready).toBe(false);
    expect(await store.reserve('k', INTERVAL_US, CAPACITY_US, 1)).toBeNull();
    expect(store.up).toBe(false);
    expect(wrong.log.find('rate limit store unavailable')).toHaveLength(1);
    expect(JSON.stringify(wrong.log.lines)).not.toContain('wrong-pass-5678');
  });

  it('a silent Redis (paused) answers null after the command timeout, counted, one outage logged; the recovery is found and logged once', async () => {
    redis = await startRedisServer();
    const opened = await open({ commandTimeout: '100ms' }, redis);
    store = opened.store;
    redis.pause();
    expect(await store.reserve('k', INTERVAL_US, CAPACITY_US, 1)).toBeNull();
    expect(await store.reserve('k', INTERVAL_US, CAPACITY_US, 1)).toBeNull();
    expect(store.up).toBe(false);
    const text = await opened.metrics.registry.metrics();
    expect(text).toMatch(/switchyard_rate_limit_store_calls_total\{result="timeout"\} [1-9]/);
    expect(text).toContain(`switchyard_rate_limit_store_up{address="${redis.address}"} 0`);
    redis.resume();
    const deadline = Date.now() + 10_000;
    while (!store.up && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(store.up).toBe(true);
    expect((await store.reserve('k2', INTERVAL_US, CAPACITY_US, 1))!.granted).toBe(1);
    expect(opened.log.find('rate limit store unavailable')).toHaveLength(1);
    expect(opened.log.find('rate limit store recovered')).toHaveLength(1);
  });
});

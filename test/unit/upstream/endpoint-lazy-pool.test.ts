import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Dispatcher } from 'undici';
import { afterEach, describe, expect, it } from 'vitest';
import { silentLogger } from '../../../src/observability/logger.js';
import { CircuitBreaker } from '../../../src/upstream/circuit-breaker.js';
import { Cluster } from '../../../src/upstream/cluster.js';
import { Endpoint } from '../../../src/upstream/endpoint.js';
import { Http2CodecPool } from '../../../src/upstream/http2-codec-pool.js';
import { Http2Pool } from '../../../src/upstream/http2-pool.js';
import { dispatchAndRecord } from '../../support/dispatch-recorder.js';
import { instance, serviceSettings } from '../../support/endpoint-fixtures.js';
import { eventually } from '../../support/proxy-harness.js';

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function upstream(): Promise<number> {
  const server: Server = createServer((_req, res) => res.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => server.close(() => resolve())));
  return (server.address() as AddressInfo).port;
}

const get = { method: 'GET', path: '/', headers: ['host', 'upstream.test'] } as Dispatcher.DispatchOptions;

describe('Endpoint connection pool, created on the first request', () => {
  it('exists only once a request is sent, then keeps and counts its connections', async () => {
    const port = await upstream();
    const breaker = new CircuitBreaker(serviceSettings().circuitBreaker);
    const endpoint = new Endpoint(instance(port), serviceSettings({ connections: 2 }), breaker);
    expect(endpoint.hasPool).toBe(false);
    expect(endpoint.freeConnections).toBe(0);
    expect(breaker.openConnections).toBe(0);

    const first = await dispatchAndRecord(endpoint.pool, get);
    expect(first.status).toBe(200);
    expect(first.body.toString()).toBe('ok');
    expect(endpoint.hasPool).toBe(true);
    await eventually(() => breaker.openConnections === 1 && endpoint.freeConnections === 1, 2_000, 'the connection to be counted and idle');
    const pool = endpoint.pool;
    expect((await dispatchAndRecord(endpoint.pool, get)).status).toBe(200);
    expect(endpoint.pool).toBe(pool); // one pool for the endpoint's life
    expect(breaker.openConnections).toBe(1); // the idle connection was reused

    await endpoint.close();
    await eventually(() => breaker.openConnections === 0, 2_000, 'the closed pool to give its connection back');
  });

  it('a cluster of many instances builds no pool until one of them is picked for a request', async () => {
    const port = await upstream();
    const cluster = new Cluster('svc', serviceSettings(), silentLogger());
    cleanups.push(() => cluster.close());
    cluster.setInstances([...Array.from({ length: 200 }, (_, i) => instance(20_001 + i)), { ...instance(port), id: 'live' }]);
    expect(cluster.endpoints.filter((e) => e.hasPool)).toEqual([]);
    const live = cluster.endpoints.find((e) => e.instance.id === 'live')!;
    expect((await dispatchAndRecord(live.pool, get)).status).toBe(200);
    expect(cluster.endpoints.filter((e) => e.hasPool)).toEqual([live]);
    // An instance update keeps the endpoint and its pool.
    cluster.setInstances([{ ...instance(port), id: 'live', weight: 3 }]);
    expect(cluster.endpoints).toEqual([live]);
    expect(live.hasPool).toBe(true);
  });

  it('a settings change of http2Client rebuilds the endpoints: new requests run on the other HTTP/2 client', async () => {
    const cluster = new Cluster('svc', serviceSettings({ protocol: 'h2c' }), silentLogger());
    cleanups.push(() => cluster.close());
    cluster.setInstances([instance(20_001)]);
    const before = cluster.endpoints[0]!;
    expect(before.pool).toBeInstanceOf(Http2CodecPool);
    cluster.setSettings({ ...cluster.settings, http2Client: 'node' });
    const after = cluster.endpoints[0]!;
    expect(after).not.toBe(before);
    expect(after.instance).toEqual(before.instance);
    expect(after.pool).toBeInstanceOf(Http2Pool);
    cluster.setSettings({ ...cluster.settings, http2Client: 'switchyard' });
    expect(cluster.endpoints[0]!.pool).toBeInstanceOf(Http2CodecPool);
  });

  it('a request that still holds an endpoint closed before its first request is refused as by a closed pool', async () => {
    const port = await upstream();
    const endpoint = new Endpoint(instance(port), serviceSettings(), { openConnections: 0 });
    await endpoint.close();
    const outcome = await dispatchAndRecord(endpoint.pool, get);
    expect(outcome.status).toBe(0);
    expect(outcome.error?.code).toBe('UND_ERR_CLOSED');
  });
});

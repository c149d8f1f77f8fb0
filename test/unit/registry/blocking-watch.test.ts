import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BlockingWatch } from '../../../src/registry/consul/blocking-watch.js';
import { ConsulClient } from '../../../src/registry/consul/consul-client.js';
import { catalogServicesSchema } from '../../../src/registry/consul/consul-responses.js';
import { ConsulRequestError } from '../../../src/registry/consul/consul-request-error.js';
import { RAW_TEXT } from '../../../src/registry/consul/response-schema.js';
import { ConsulEmulator } from '../../support/consul-emulator.js';
import { eventually } from '../../support/proxy-harness.js';

describe('BlockingWatch against the emulator', () => {
  let consul: ConsulEmulator;
  let client: ConsulClient;
  let watch: BlockingWatch<typeof catalogServicesSchema>;
  const results: number[] = [];
  const resets: [number, number][] = [];
  const errors: string[] = [];

  beforeEach(async () => {
    consul = await ConsulEmulator.start();
    client = new ConsulClient({ origin: consul.url, token: null, datacenter: 'dc1', tls: null, connections: 2, timeoutMs: 1_000, consistency: 'default', maxStaleMs: 0 });
    results.length = 0;
    resets.length = 0;
    errors.length = 0;
    watch = new BlockingWatch(
      client,
      { path: '/v1/catalog/services', query: [], schema: catalogServicesSchema, waitMs: 2_000, minIntervalMs: 100, backoff: { initialMs: 20, maxMs: 100 } },
      { onResult: (_b, i) => results.push(i), onError: (e) => errors.push(e.kind), onSuccess: () => undefined, onIndexReset: (f, t) => resets.push([f, t]) },
    );
  });
  afterEach(async () => {
    await watch.stop();
    await client.close();
    await consul.close();
  });

  it('reads without blocking first, then blocks with the last index and the dc, reporting only new indexes', async () => {
    watch.start(0);
    await eventually(() => results.length === 1, 2_000, 'first result');
    consul.register({ Name: 's', Port: 1 });
    await eventually(() => results.length === 2, 2_000, 'second result');
    const reqs = consul.requestsTo('/v1/catalog/services');
    expect(reqs[0]!.query.has('index')).toBe(false);
    expect(reqs[1]!.query.get('index')).toBe(String(results[0]));
    expect(reqs.every((r) => r.query.get('dc') === 'dc1')).toBe(true);
    expect(results[1]).toBeGreaterThan(results[0]!);
  });

  it('an answer the handler refuses (RAW_TEXT body that does not decode) is a failed read: onError, no onSuccess, the index kept, the next read sees the change again', async () => {
    await watch.stop();
    const texts: string[] = [];
    const events: string[] = [];
    let refuse = true;
    const raw = new BlockingWatch(
      client,
      { path: '/v1/catalog/services', query: [], schema: RAW_TEXT, waitMs: 2_000, minIntervalMs: 10, backoff: { initialMs: 20, maxMs: 100 } },
      {
        onResult: (text, index) => {
          if (refuse && texts.length === 1) {
            events.push(`refused ${index}`);
            throw new ConsulRequestError('garbage', 'not a service list');
          }
          texts.push(text);
          events.push(`result ${index}`);
        },
        onError: (e) => events.push(`error ${e.kind}`),
        onSuccess: () => events.push('success'),
        onIndexReset: () => undefined,
      },
    );
    watch = raw as unknown as typeof watch;
    raw.start(0);
    await eventually(() => texts.length === 1, 2_000, 'first result');
    const first = raw.currentIndex;
    consul.register({ Name: 'refused-once', Port: 1 });
    await eventually(() => events.some((e) => e.startsWith('refused')), 2_000, 'refusal');
    expect(raw.currentIndex).toBe(first);
    refuse = false;
    await eventually(() => texts.length === 2, 2_000, 'the change read again');
    expect(JSON.parse(texts[1]!)).toHaveProperty('refused-once');
    expect(typeof texts[0]).toBe('string');
    const refusedAt = events.findIndex((e) => e.startsWith('refused'));
    expect(events.slice(refusedAt, refusedAt + 2)).toEqual([events[refusedAt], 'error garbage']);
    expect(events.slice(refusedAt + 2)).toContain('success');
    expect(raw.currentIndex).toBeGreaterThan(first);
  });

  it('reports an answer whose text did not change (only the index moved) as unchanged, with the last body object, and one that changed as parsed anew', async () => {
    await watch.stop();
    const seen: { body: unknown; unchanged: boolean }[] = [];
    consul.register({ Name: 's', ID: 's-1', Port: 1, Tags: ['a'] });
    watch = new BlockingWatch(
      client,
      { path: '/v1/catalog/services', query: [], schema: catalogServicesSchema, waitMs: 2_000, minIntervalMs: 10, backoff: { initialMs: 20, maxMs: 100 } },
      { onResult: (body, _i, _fresh, unchanged) => seen.push({ body, unchanged }), onError: (e) => errors.push(e.kind), onSuccess: () => undefined, onIndexReset: () => undefined },
    );
    watch.start(0);
    await eventually(() => seen.length === 1, 2_000, 'first result');
    // Another instance of the same service with the same tag: the catalog's index moves, its text does not.
    consul.register({ Name: 's', ID: 's-2', Port: 2, Tags: ['a'] });
    await eventually(() => seen.length === 2, 2_000, 'second result');
    consul.register({ Name: 's', ID: 's-3', Port: 3, Tags: ['b'] });
    await eventually(() => seen.length === 3, 2_000, 'third result');
    expect(seen.map((r) => r.unchanged)).toEqual([false, true, false]);
    expect(seen[1]!.body).toBe(seen[0]!.body);
    expect(seen[2]!.body).not.toBe(seen[1]!.body);
    expect((seen[2]!.body as Record<string, string[]>).s!.sort()).toEqual(['a', 'b']);
  });

  it('resets to a non-blocking read when the index goes backwards', async () => {
    for (let i = 0; i < 5; i++) consul.register({ Name: `s${i}`, Port: 1 });
    watch.start(0);
    await eventually(() => consul.requestsTo('/v1/catalog/services').length === 2, 2_000, 'blocking query held');
    consul.resetIndex(2, true);
    await eventually(() => results.length === 2, 2_000, 'fresh read after reset');
    expect(resets).toEqual([[results[0]!, 2]]);
    const reqs = consul.requestsTo('/v1/catalog/services');
    const afterReset = reqs[2]!;
    expect(afterReset.query.has('index')).toBe(false);
    expect(results[1]).toBe(2);
  });

  it('backs off on errors and resumes', async () => {
    consul.setFault({ kind: 'status', status: 500, body: 'No cluster leader' });
    watch.start(0);
    await eventually(() => errors.length >= 3, 2_000, 'a few errors');
    expect(results).toEqual([]);
    consul.clearFaults();
    await eventually(() => results.length === 1, 2_000, 'recovered');
    expect(new Set(errors)).toEqual(new Set(['status']));
  });
});

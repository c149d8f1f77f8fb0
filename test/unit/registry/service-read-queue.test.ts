import { describe, expect, it } from 'vitest';
import { ServiceReadQueue } from '../../../src/registry/consul/service-read-queue.js';
import { eventually } from '../../support/proxy-harness.js';

describe('ServiceReadQueue', () => {
  const make = (concurrency: number, ratePerSecond: number) => {
    const order: string[] = [];
    let idle = 0;
    let release: (() => void) | null = null;
    let gate: Promise<void> | null = null;
    const queue = new ServiceReadQueue({
      concurrency,
      ratePerSecond,
      read: async (name) => {
        order.push(name);
        if (gate) await gate;
      },
      onIdle: () => (idle += 1),
    });
    return {
      queue,
      order,
      idle: () => idle,
      hold: () => {
        gate = new Promise((r) => (release = r));
      },
      release: () => {
        gate = null;
        release?.();
      },
    };
  };

  it('reads urgent names before background ones, each name once, and reports idle', async () => {
    const q = make(1, 1_000);
    q.hold();
    q.queue.background(['a', 'b', 'c']);
    q.queue.urgent('x');
    q.queue.urgent('b');
    q.queue.background(['x', 'd']);
    q.release();
    await eventually(() => q.idle() > 0, 2_000, 'idle');
    // "a" was already started when the rest arrived; then urgent x, b; then the background rest.
    expect(q.order).toEqual(['a', 'x', 'b', 'c', 'd']);
    expect(q.queue.idle).toBe(true);
  });

  it('starts no more than the rate allows after the burst', async () => {
    const q = make(2, 20);
    const started = Date.now();
    q.queue.background(Array.from({ length: 8 }, (_, i) => `s${i}`));
    await eventually(() => q.idle() > 0, 5_000, 'all read');
    // A burst of 2, then 6 more at 20/s: at least ~300 ms (generous lower bound of 200 ms).
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    expect(q.order).toHaveLength(8);
  });

  it('reads nothing after close', async () => {
    const q = make(1, 1);
    q.queue.background(['a', 'b', 'c']);
    q.queue.close();
    await new Promise((r) => setTimeout(r, 100));
    expect(q.order.length).toBeLessThanOrEqual(1);
    expect(q.queue.pending).toBe(0);
  });
});

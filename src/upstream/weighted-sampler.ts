import { eligible } from './balancer.js';
import type { Endpoint } from './endpoint.js';

/**
 * Draws endpoint indexes at random in proportion to their weights: a cumulative weight table
 * built once per endpoint list, searched by bisection (O(log n) a draw). Equal weights take
 * a plain uniform draw.
 */
export class WeightedSampler {
  private readonly cumulative: Float64Array;
  private readonly total: number;
  private readonly uniform: boolean;

  constructor(endpoints: readonly Endpoint[]) {
    this.cumulative = new Float64Array(endpoints.length);
    let sum = 0;
    for (let i = 0; i < endpoints.length; i++) {
      sum += endpoints[i]!.weight;
      this.cumulative[i] = sum;
    }
    this.total = sum;
    this.uniform = endpoints.every((e) => e.weight === endpoints[0]!.weight);
  }

  /** A random index, weighted. The endpoint list must not be empty. */
  draw(): number {
    const n = this.cumulative.length;
    if (this.uniform) return Math.floor(Math.random() * n);
    const target = Math.random() * this.total;
    const c = this.cumulative;
    let lo = 0;
    let hi = n - 1;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (c[mid]! > target) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

/**
 * The fallback when random draws keep hitting ineligible endpoints: one weighted draw over the
 * eligible ones only, by a linear scan. Returns -1 when none is eligible.
 */
export function drawAmongEligible(endpoints: readonly Endpoint[], panic: boolean, exclude: readonly Endpoint[] | null): number {
  let total = 0;
  for (let i = 0; i < endpoints.length; i++) if (eligible(endpoints[i]!, panic, exclude)) total += endpoints[i]!.weight;
  if (total === 0) return -1;
  let target = Math.random() * total;
  let last = -1;
  for (let i = 0; i < endpoints.length; i++) {
    const e = endpoints[i]!;
    if (!eligible(e, panic, exclude)) continue;
    last = i;
    target -= e.weight;
    if (target < 0) return i;
  }
  return last;
}

import type { RequestHead } from '../codec/server-stream.js';
import type { StickyConfig } from '../config/schema.js';
import { cookieValue } from '../upstream/request-hash-key.js';
import { hash32 } from '../upstream/string-hash.js';
import type { Route } from './route.js';

/** One backend of a split: the route as compiled for that service, and its weight. */
export interface SplitBackend {
  readonly route: Route;
  readonly weight: number;
}

/**
 * The traffic split of a route with `backends`: picks, per request, which backend (a route
 * compiled for that service, with its own cluster and metric children) serves it.
 *
 * Without a sticky key the choice is smooth weighted round robin (nginx's algorithm): every
 * pick adds each backend's weight to its running score, takes the highest score and takes the
 * total weight off it. The sequence is deterministic and exact: in every run of `total`
 * consecutive picks each backend is chosen exactly `weight` times, spread out (90/10 gives one
 * request in ten to the second backend, not ten in a row). A backend of weight 0 is never
 * chosen.
 *
 * With `sticky`, a request carrying the header or cookie goes to the backend owning
 * hash(value) mod total on the cumulative weight line, so one client stays on one backend, and
 * a weight change moves only the clients whose position crosses a boundary. Requests without
 * the value take the round robin.
 *
 * The split's scores are its only mutable state; a reload builds a new split (scores restart).
 */
export class WeightedSplit {
  readonly total: number;
  private readonly routes: readonly Route[];
  private readonly weights: Float64Array;
  private readonly scores: Float64Array;
  /** Upper bounds of each backend's range on [0, total): bounds[i] = sum of weights 0..i. */
  private readonly bounds: Float64Array;
  private readonly stickyHeader: string | undefined;
  private readonly stickyCookie: string | undefined;

  constructor(
    readonly backends: readonly SplitBackend[],
    sticky: StickyConfig | undefined,
  ) {
    if (backends.length === 0) throw new Error('a weighted split needs at least one backend');
    this.routes = backends.map((b) => b.route);
    this.weights = Float64Array.from(backends, (b) => b.weight);
    this.scores = new Float64Array(backends.length);
    this.bounds = new Float64Array(backends.length);
    let sum = 0;
    backends.forEach((b, i) => {
      sum += b.weight;
      this.bounds[i] = sum;
    });
    if (sum <= 0) throw new Error('a weighted split needs a backend with a weight above 0');
    this.total = sum;
    this.stickyHeader = sticky?.header;
    this.stickyCookie = sticky?.cookie;
  }

  /** The backend route for this request. */
  pick(req: RequestHead): Route {
    if (this.stickyHeader !== undefined) {
      const value = req.headers[this.stickyHeader];
      const key = Array.isArray(value) ? value[0] : value;
      if (key !== undefined && key !== '') return this.at(hash32(key) % this.total);
    } else if (this.stickyCookie !== undefined) {
      const key = cookieValue(req.headers.cookie, this.stickyCookie);
      if (key !== undefined && key !== '') return this.at(hash32(key) % this.total);
    }
    return this.next();
  }

  /** The next backend of the smooth weighted round robin. */
  next(): Route {
    const weights = this.weights;
    const scores = this.scores;
    let best = -1;
    let bestScore = -Infinity;
    for (let i = 0; i < weights.length; i++) {
      const w = weights[i]!;
      if (w === 0) continue;
      const s = scores[i]! + w;
      scores[i] = s;
      if (s > bestScore) {
        bestScore = s;
        best = i;
      }
    }
    scores[best]! -= this.total;
    return this.routes[best]!;
  }

  /** The backend whose range on [0, total) holds `position`. */
  at(position: number): Route {
    const bounds = this.bounds;
    for (let i = 0; i < bounds.length; i++) {
      if (position < bounds[i]!) return this.routes[i]!;
    }
    return this.routes[bounds.length - 1]!;
  }

  /** A weight's share of the traffic in percent, to two decimals (for the admin API). */
  percentOf(weight: number): number {
    return Math.round((weight / this.total) * 10_000) / 100;
  }
}

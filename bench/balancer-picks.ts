/**
 * Picks per second of each balancer over 10 endpoints (in-process, no I/O): the cost a
 * balancer adds to each request. Run: npx tsx bench/balancer-picks.ts
 */
import type { IncomingMessage } from 'node:http';
import { serviceSchema } from '../src/config/schema.js';
import { createBalancer } from '../src/upstream/balancer.js';
import { Endpoint, HealthFlag } from '../src/upstream/endpoint.js';

const PICKS = 2_000_000;
const counter = { openConnections: 0 };
const request = { headers: { 'x-user': 'user-12345' }, socket: { remoteAddress: '10.0.0.1' } } as unknown as IncomingMessage;

const cases: [string, Record<string, unknown>, number[]][] = [
  ['weighted_round_robin (equal weights)', { balancer: 'weighted_round_robin' }, Array(10).fill(1)],
  ['weighted_round_robin (mixed weights)', { balancer: 'weighted_round_robin' }, [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]],
  ['least_request', { balancer: 'least_request' }, [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]],
  ['random', { balancer: 'random' }, [1, 2, 3, 4, 5, 1, 2, 3, 4, 5]],
  ['consistent_hash (header)', { balancer: 'consistent_hash', hashOn: { header: 'x-user' } }, Array(10).fill(1)],
];

for (const [name, fields, weights] of cases) {
  const settings = serviceSchema.parse(fields);
  const endpoints = weights.map((weight, i) => new Endpoint({ id: `${i}`, service: 'b', address: '127.0.0.1', port: 20_000 + i, weight, tags: [], meta: {}, health: 'passing' }, settings, counter));
  endpoints[3]!.setHealthFlag(HealthFlag.outlier, true); // one unhealthy endpoint, as in real life
  const balancer = createBalancer(settings, endpoints);
  for (let i = 0; i < 100_000; i++) balancer.pick(request, '127.0.0.1', false, null); // warm up
  const start = process.hrtime.bigint();
  for (let i = 0; i < PICKS; i++) balancer.pick(request, '127.0.0.1', false, null);
  const ns = Number(process.hrtime.bigint() - start);
  console.log(`${name.padEnd(40)} ${((PICKS / ns) * 1e3).toFixed(1).padStart(7)} M picks/s  ${(ns / PICKS).toFixed(0).padStart(4)} ns/pick`);
  await Promise.all(endpoints.map((e) => e.close()));
}

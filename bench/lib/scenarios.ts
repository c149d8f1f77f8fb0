import type { AutocannonRequest } from 'autocannon';
import {
  directTarget,
  fastifyProxyTarget,
  goReverseProxyTarget,
  haproxyTarget,
  httpProxyTarget,
  nginxTarget,
  switchyardTarget,
  undiciBaselineTarget,
  type SwitchyardRouteSpec,
  type TargetSpec,
} from './targets.js';

/** One benchmark scenario: what is sent, to which targets, and how. */
export interface Scenario {
  name: string;
  title: string;
  /** Closed-loop saturation, or a fixed rate at half of Switchyard's maximum. */
  kind: 'saturate' | 'fixed-rate';
  requests: AutocannonRequest[];
  /** A path every target answers 200 on once started. */
  probePath: string;
  targets: TargetSpec[];
  /** Why the scenario cannot run yet, if so. */
  skipReason?: string;
}

/** Upstream ports the scenarios need (the 100-instance scenario needs 100). */
export const UPSTREAM_PORTS = 100;

/**
 * Config fragments with the access log on (the default) and off. Metrics are always recorded
 * (prepared prom-client children); the admin listener that serves them is off in benchmarks.
 */
export const OBSERVABILITY_ON: Record<string, unknown> | null = { logging: { level: 'warn', accessLog: true } };
export const OBSERVABILITY_OFF: Record<string, unknown> = { logging: { level: 'warn', accessLog: false } };
/**
 * The fallback listener, node:http's server for clients (`proxy.engine.listener: node`; upstreams
 * on the codec's pool as always), with the access log on like OBSERVABILITY_ON: the same
 * settings as "switchyard" (our own codec on both sides, the default) but for the listener.
 */
export const NODE_ENGINES: Record<string, unknown> = { ...OBSERVABILITY_ON, proxy: { engine: { listener: 'node' } } };

const POST_BODY = Buffer.alloc(64 * 1024, 'p');

function peers(): TargetSpec[] {
  return [
    directTarget(),
    switchyardTarget(),
    httpProxyTarget(),
    fastifyProxyTarget(),
    undiciBaselineTarget(),
    nginxTarget(),
    haproxyTarget(),
    goReverseProxyTarget(),
  ];
}

/** 10,000 routes: half host-less, half on their own host, prefixes of three shapes. */
function benchRoute(i: number): SwitchyardRouteSpec {
  return {
    name: `r${i}`,
    path: `/api/v${i % 3}/svc${i}`,
    ...(i % 2 === 1 ? { host: `svc${i}.bench.internal` } : {}),
    service: `svc${i % 10}`,
  };
}

/** The routes the routing scenario requests: present in both the 10- and the 10,000-route table. */
const REQUESTED_ROUTES = [0, 1111, 2222, 3333, 4444, 5555, 6666, 7777, 8888, 9999];

function routingRequests(): AutocannonRequest[] {
  return REQUESTED_ROUTES.map((i) => {
    const r = benchRoute(i);
    return { method: 'GET', path: `${r.path}/1k`, ...(r.host ? { headers: { host: r.host } } : {}) };
  });
}

const TEN_SERVICES: Record<string, number> = Object.fromEntries(Array.from({ length: 10 }, (_, i) => [`svc${i}`, 1]));

export function allScenarios(): Scenario[] {
  return [
    {
      name: 'get-1k',
      title: 'GET, 1 KiB response, keep-alive',
      kind: 'saturate',
      requests: [{ method: 'GET', path: '/bench/1k' }],
      probePath: '/bench/1k',
      targets: peers(),
    },
    {
      name: 'get-64k',
      title: 'GET, 64 KiB response',
      kind: 'saturate',
      requests: [{ method: 'GET', path: '/bench/64k' }],
      probePath: '/bench/64k',
      targets: peers(),
    },
    {
      name: 'post-64k',
      title: 'POST, 64 KiB request body, small response',
      kind: 'saturate',
      requests: [{ method: 'POST', path: '/bench/upload', headers: { 'content-type': 'application/octet-stream' }, body: POST_BODY }],
      probePath: '/bench/1k',
      targets: peers(),
    },
    {
      name: 'routes-10k',
      title: '10,000 routes vs 10 routes (same 10 routes requested, half by host)',
      kind: 'saturate',
      requests: routingRequests(),
      probePath: `${benchRoute(0).path}/1k`,
      targets: [
        directTarget(),
        switchyardTarget({ name: 'switchyard-10-routes', routes: REQUESTED_ROUTES.map(benchRoute), services: TEN_SERVICES }),
        switchyardTarget({ name: 'switchyard-10k-routes', routes: Array.from({ length: 10_000 }, (_, i) => benchRoute(i)), services: TEN_SERVICES }),
      ],
    },
    {
      name: 'instances-100',
      title: '100 instances per service vs 1 (weighted round robin)',
      kind: 'saturate',
      requests: [{ method: 'GET', path: '/bench/1k' }],
      probePath: '/bench/1k',
      targets: [
        directTarget(),
        switchyardTarget({ name: 'switchyard-1-instance', services: { bench: 1 } }),
        switchyardTarget({ name: 'switchyard-100-instances', services: { bench: 100 } }),
      ],
    },
    {
      name: 'pool-connections',
      title: 'Upstream pool size: services.<name>.connections 8 / 32 / 128 (default)',
      kind: 'saturate',
      requests: [{ method: 'GET', path: '/bench/1k' }],
      probePath: '/bench/1k',
      targets: [8, 32, 128].map((n) =>
        switchyardTarget({ name: `switchyard-pool-${n}`, configFragment: { services: { bench: { connections: n } } } }),
      ),
    },
    {
      name: 'observability',
      title: 'Access log and metrics on vs off',
      kind: 'saturate',
      requests: [{ method: 'GET', path: '/bench/1k' }],
      probePath: '/bench/1k',
      targets: [
        directTarget(),
        switchyardTarget({ name: 'switchyard-observability-off', configFragment: OBSERVABILITY_OFF }),
        switchyardTarget({ name: 'switchyard-observability-on', configFragment: OBSERVABILITY_ON ?? {} }),
      ],
      ...(OBSERVABILITY_ON === null ? { skipReason: 'the access log / metrics config switches are not in this build (set OBSERVABILITY_ON in bench/lib/scenarios.ts)' } : {}),
    },
    trafficScenario(
      'weighted-split',
      'Weighted split between two services (90/10, smooth weighted round robin) vs one service',
      { name: 'all', path: '/', service: 'bench', extra: { backends: [{ service: 'bench', weight: 90 }, { service: 'bench-canary', weight: 10 }] } },
      { services: { bench: 1, 'bench-canary': 1 } },
    ),
    trafficScenario(
      'rate-limit',
      'Rate limit by client address (never reached) vs none',
      { name: 'all', path: '/', service: 'bench', extra: { rateLimit: { requests: 1_000_000_000, per: '1s', by: 'clientAddress' } } },
    ),
    trafficScenario(
      'header-rules',
      'Header rules (request: remove 1, set 2 with variables; response: remove 1, add 1) vs none',
      {
        name: 'all',
        path: '/',
        service: 'bench',
        extra: {
          headerRules: {
            request: { remove: ['x-internal'], set: { 'x-env': 'bench', 'x-client': '${clientAddress} ${requestId}' } },
            response: { remove: ['server'], add: { 'x-served-by': '${route}' } },
          },
        },
      },
    ),
    {
      name: 'trace-context',
      title: 'Trace context off / on / on with OTLP span export (half the requests carry a traceparent, half start a trace)',
      kind: 'saturate',
      requests: [
        { method: 'GET', path: '/bench/1k' },
        { method: 'GET', path: '/bench/1k', headers: { traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' } },
      ],
      probePath: '/bench/1k',
      targets: [
        directTarget(),
        switchyardTarget({ name: 'switchyard-trace-context-off' }),
        switchyardTarget({ name: 'switchyard-trace-context-on', configFragment: { tracing: { enabled: true } } }),
        // Spans exported to the bench upstream's second port, which answers any POST 200 like a collector.
        switchyardTarget({
          name: 'switchyard-trace-context-otlp',
          configFragmentFor: (ctx) => ({ tracing: { enabled: true, otlp: { endpoint: `http://127.0.0.1:${ctx.upstreamPorts[1]}` } } }),
        }),
      ],
    },
    {
      name: 'cluster-get-1k',
      title: 'Cluster mode: GET 1 KiB, workers: 2 vs 1',
      kind: 'saturate',
      requests: [{ method: 'GET', path: '/bench/1k' }],
      probePath: '/bench/1k',
      targets: [
        directTarget(),
        switchyardTarget({ name: 'switchyard-1-worker' }),
        switchyardTarget({ name: 'switchyard-2-workers', configFragment: { workers: 2 } }),
      ],
    },
    {
      name: 'fixed-rate',
      title: 'GET 1 KiB at a fixed rate of half Switchyard\'s maximum: added latency vs direct',
      kind: 'fixed-rate',
      requests: [{ method: 'GET', path: '/bench/1k' }],
      probePath: '/bench/1k',
      targets: peers(),
    },
  ];
}

/** A route feature on vs off: the same GET 1 KiB through a plain route and through `withFeature`. */
function trafficScenario(name: string, title: string, withFeature: SwitchyardRouteSpec, options: { services?: Record<string, number> } = {}): Scenario {
  const services = options.services ?? { bench: 1 };
  return {
    name,
    title,
    kind: 'saturate',
    requests: [{ method: 'GET', path: '/bench/1k' }],
    probePath: '/bench/1k',
    targets: [
      directTarget(),
      switchyardTarget({ name: `switchyard-${name}-off`, services, routes: [{ name: 'all', path: '/', service: 'bench' }] }),
      switchyardTarget({ name: `switchyard-${name}-on`, services, routes: [withFeature] }),
    ],
  };
}

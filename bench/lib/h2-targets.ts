import { execFile } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { findBinary, freePort, spawnLogged, type BenchProcess } from './child-process.js';
import { waitUntilServingH2, type H2Probe } from './h2-probe.js';
import { HAPROXY_PRELUDE, launcherNodeFlags, nginxPrelude, type RunningTarget } from './targets.js';

/** Which upstream the proxies of a scenario forward to. */
export type H2UpstreamKind = 'h2c' | 'http1';

/** Where an HTTP/2 target is started from. */
export interface H2TargetContext {
  root: string;
  workDir: string;
  /** bench/h2-upstream.ts: cleartext HTTP/2 (prior knowledge). */
  h2cUpstreamPort: number;
  /** bench/upstream.ts: HTTP/1.1. */
  http1UpstreamPort: number;
  /** The upstream the proxies forward to in this scenario. */
  upstream: H2UpstreamKind;
  /** Request every target must answer correctly over HTTP/2 before it is measured. */
  probe: H2Probe;
  /** Serve HTTP/2 over TLS (ALPN h2) with this self-signed certificate instead of h2c. */
  tls?: BenchCertificate;
  /** Node flags every Switchyard target gets after its executable's own (bench:h2 --profile). */
  switchyardNodeFlags?: readonly string[];
}

/** PEM files of the certificate TLS listeners serve; `combined` is cert then key (HAProxy's crt). */
export interface BenchCertificate {
  cert: string;
  key: string;
  combined: string;
}

/** Creates a self-signed P-256 certificate for 127.0.0.1 in `dir` (openssl must be on PATH). */
export async function createBenchCertificate(dir: string): Promise<BenchCertificate> {
  const cert = join(dir, 'bench-cert.pem');
  const key = join(dir, 'bench-key.pem');
  const combined = join(dir, 'bench-combined.pem');
  await new Promise<void>((resolve, reject) => {
    execFile(
      'openssl',
      ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'],
      (err, _out, errText) => (err ? reject(new Error(`openssl could not create the bench certificate (is openssl installed?): ${err.message} ${errText}`)) : resolve()),
    );
  });
  await writeFile(combined, Buffer.concat([await readFile(cert), await readFile(key)]));
  return { cert, key, combined };
}

function scheme(ctx: H2TargetContext): string {
  return ctx.tls === undefined ? 'http' : 'https';
}

/** How to start one side of an HTTP/2 comparison; `start` returns a reason string when it cannot run here. */
export interface H2TargetSpec {
  name: string;
  start(ctx: H2TargetContext): Promise<RunningTarget | string>;
}

function upstreamPort(ctx: H2TargetContext): number {
  return ctx.upstream === 'h2c' ? ctx.h2cUpstreamPort : ctx.http1UpstreamPort;
}

/** The last lines of a log file, for a report that says why a target did not start. */
async function logTail(file: string, lines = 3): Promise<string> {
  const text = await readFile(file, 'utf8').catch((err: unknown) => `(cannot read ${file}: ${(err as Error).message})`);
  return text.trim().split('\n').slice(-lines).join(' / ').slice(0, 600);
}

async function started(proc: BenchProcess, url: string, probe: H2Probe): Promise<RunningTarget> {
  try {
    await waitUntilServingH2(url, probe, proc);
  } catch (err) {
    await proc.stop(1_000);
    throw new Error(`${(err as Error).message}; its log ends: ${await logTail(proc.logFile)}`);
  }
  return { url, process: proc, stop: () => proc.stop() };
}

/** The h2c upstream itself, no proxy in between (in every scenario, also those whose proxies forward to HTTP/1.1). */
export function directH2Target(): H2TargetSpec {
  return {
    name: 'direct',
    start: async (ctx) => ({ url: `http://127.0.0.1:${ctx.h2cUpstreamPort}`, stop: async () => {} }),
  };
}

/** Switchyard's configuration and services file for an HTTP/2 scenario (as YAML-ready objects). */
export function switchyardH2Config(
  ctx: Pick<H2TargetContext, 'upstream' | 'tls' | 'h2cUpstreamPort' | 'http1UpstreamPort'>,
  port: number,
  http2Client?: 'node' | 'switchyard',
  http2Listener?: 'node' | 'switchyard',
): { config: object; services: object } {
  const listener =
    ctx.tls === undefined
      ? { name: 'bench-h2', address: '127.0.0.1', port, protocols: ['h2c'] }
      : { name: 'bench-h2', address: '127.0.0.1', port, protocols: ['h2', 'http1'], tls: { cert: ctx.tls.cert, key: ctx.tls.key } };
  const instancePort = ctx.upstream === 'h2c' ? ctx.h2cUpstreamPort : ctx.http1UpstreamPort;
  return {
    config: {
      listeners: [listener],
      admin: { enabled: false },
      registry: { type: 'file', path: 'services.yaml', watch: false },
      services: { bench: { protocol: ctx.upstream, ...(http2Client === undefined ? null : { http2Client }) } },
      routes: [{ name: 'all', match: { path: '/' }, service: 'bench' }],
      logging: { level: 'warn' },
      ...(http2Listener === undefined ? null : { proxy: { engine: { http2Listener } } }),
    },
    services: { services: { bench: { instances: [{ id: 'bench-0', address: '127.0.0.1', port: instancePort }] } } },
  };
}

/**
 * Switchyard as users run it: the built CLI with a generated config. The listener takes
 * cleartext HTTP/2 with prior knowledge (`protocols: [h2c]`), or HTTP/2 over TLS by ALPN
 * (`protocols: [h2, http1]`) in a TLS scenario; the service is reached over the scenario's
 * upstream protocol (`services.<name>.protocol`). `checkout`: another built copy of
 * Switchyard to run instead of this one (bench:h2 --baseline). `http2Client`: the HTTP/2 client
 * towards h2c upstreams (services.<name>.http2Client; the configuration's default when absent),
 * for the targets switchyard-http2-node and switchyard-http2-codec that compare the two.
 * `http2Listener`: what serves the HTTP/2 clients (proxy.engine.http2Listener; the default when
 * absent), for the target switchyard-listener-node (node:http2's server) beside switchyard.
 */
export function switchyardH2Target(name = 'switchyard', checkout?: string, http2Client?: 'node' | 'switchyard', http2Listener?: 'node' | 'switchyard'): H2TargetSpec {
  return {
    name,
    async start(ctx) {
      const dir = join(ctx.workDir, name);
      await mkdir(dir, { recursive: true });
      const port = await freePort();
      const { config, services } = switchyardH2Config(ctx, port, http2Client, http2Listener);
      await writeFile(join(dir, 'services.yaml'), stringify(services));
      await writeFile(join(dir, 'config.yaml'), stringify(config));
      const entry = join(checkout ?? ctx.root, 'dist/cli/switchyard.js');
      const proc = spawnLogged({
        command: process.execPath,
        // The node flags of the build's own executable (its #! line), as a user runs it.
        args: [...launcherNodeFlags(entry), ...(ctx.switchyardNodeFlags ?? []), entry, 'start', join(dir, 'config.yaml')],
        logFile: join(dir, 'switchyard.log'),
      });
      return started(proc, `${scheme(ctx)}://127.0.0.1:${port}`, ctx.probe);
    },
  };
}

/**
 * nginx, one worker process, `listen … http2` (cleartext, prior knowledge), no access log,
 * upstream keep-alive. To an h2c upstream it uses `grpc_pass` (its only HTTP/2 upstream
 * module: proxy_pass speaks HTTP/1.x to upstreams only); to an HTTP/1.1 upstream proxy_pass.
 * Neither multiplexes upstream connections (one request per connection at a time), so the
 * keep-alive cache holds more than the streams in flight (h2load -c × -m).
 */
export function nginxH2Target(): H2TargetSpec {
  return {
    name: 'nginx',
    async start(ctx) {
      const binary = await findBinary('nginx', ['/usr/sbin/nginx']);
      if (binary === null) return 'nginx is not installed (Debian/Ubuntu: apt-get install nginx)';
      if (ctx.upstream === 'h2c' && ctx.probe.grpcMessages === undefined) {
        return "nginx proxies plain HTTP to upstreams over HTTP/1.x only (proxy_pass); its HTTP/2 upstream module is grpc_pass, for gRPC: see the h2-to-h1 and grpc scenarios";
      }
      const prefix = join(ctx.workDir, 'nginx-h2');
      await mkdir(join(prefix, 'logs'), { recursive: true });
      const port = await freePort();
      const location =
        ctx.upstream === 'h2c'
          ? `      grpc_pass grpc://bench;
      grpc_buffer_size 16k;`
          : `      proxy_pass http://bench;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_buffer_size 16k;
      proxy_buffers 8 16k;`;
      const conf = `${nginxPrelude(prefix)}  http2_max_concurrent_streams 256;
  upstream bench {
    server 127.0.0.1:${upstreamPort(ctx)};
    keepalive 1024;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port}${ctx.tls === undefined ? '' : ' ssl'} http2;
${ctx.tls === undefined ? '' : `    ssl_certificate ${ctx.tls.cert};\n    ssl_certificate_key ${ctx.tls.key};\n    ssl_session_cache shared:bench:1m;\n`}    client_body_buffer_size 128k;
    client_max_body_size 0;
    location / {
${location}
    }
  }
}
`;
      const confFile = join(prefix, 'nginx.conf');
      await writeFile(confFile, conf);
      const proc = spawnLogged({ command: binary, args: ['-p', prefix, '-c', confFile], logFile: join(prefix, 'logs', 'stdout.log') });
      return started(proc, `${scheme(ctx)}://127.0.0.1:${port}`, ctx.probe);
    },
  };
}

/**
 * HAProxy, one thread, HTTP/2 on both sides where the scenario's upstream is h2c
 * (`bind … proto h2` or `bind … ssl alpn h2,http/1.1`, `server … proto h2`),
 * `http-reuse always`, no logging.
 */
export function haproxyH2Target(): H2TargetSpec {
  return {
    name: 'haproxy',
    async start(ctx) {
      const binary = await findBinary('haproxy', ['/usr/sbin/haproxy']);
      if (binary === null) return 'HAProxy is not installed (Debian/Ubuntu: apt-get install haproxy)';
      const dir = join(ctx.workDir, 'haproxy-h2');
      await mkdir(dir, { recursive: true });
      const port = await freePort();
      const conf = `${HAPROXY_PRELUDE}frontend bench
  bind 127.0.0.1:${port} ${ctx.tls === undefined ? 'proto h2' : `ssl crt ${ctx.tls.combined} alpn h2,http/1.1`}
  default_backend upstream
backend upstream
  server s0 127.0.0.1:${upstreamPort(ctx)}${ctx.upstream === 'h2c' ? ' proto h2' : ''}
`;
      const confFile = join(dir, 'haproxy.cfg');
      await writeFile(confFile, conf);
      const proc = spawnLogged({ command: binary, args: ['-db', '-f', confFile], logFile: join(dir, 'haproxy.log') });
      return started(proc, `${scheme(ctx)}://127.0.0.1:${port}`, ctx.probe);
    },
  };
}

/**
 * Envoy, one worker thread (`--concurrency 1`), HTTP/2 listener codec (h2c prior knowledge),
 * HTTP/2 to the upstream when the scenario's upstream is h2c, no access log, no admin
 * listener. Skipped with a message when no `envoy` binary is on PATH: Envoy is not packaged
 * by Debian, and no npm package ships its binary.
 */
export function envoyH2Target(): H2TargetSpec {
  return {
    name: 'envoy',
    async start(ctx) {
      const binary = await findBinary('envoy');
      if (binary !== null && ctx.tls !== undefined) return 'the Envoy config here serves h2c only (no TLS listener written)';
      if (binary === null) return 'Envoy is not installed: Debian has no envoy package and no npm package ships its binary; put an envoy binary on PATH to include it';
      const dir = join(ctx.workDir, 'envoy');
      await mkdir(dir, { recursive: true });
      const port = await freePort();
      const upstreamProtocol =
        ctx.upstream === 'h2c'
          ? {
              typed_extension_protocol_options: {
                'envoy.extensions.upstreams.http.v3.HttpProtocolOptions': {
                  '@type': 'type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions',
                  explicit_http_config: { http2_protocol_options: { max_concurrent_streams: 1000 } },
                },
              },
            }
          : {};
      const config = {
        static_resources: {
          listeners: [
            {
              name: 'bench',
              address: { socket_address: { address: '127.0.0.1', port_value: port } },
              filter_chains: [
                {
                  filters: [
                    {
                      name: 'envoy.filters.network.http_connection_manager',
                      typed_config: {
                        '@type': 'type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager',
                        stat_prefix: 'bench',
                        codec_type: 'HTTP2',
                        http2_protocol_options: { max_concurrent_streams: 256 },
                        route_config: {
                          virtual_hosts: [{ name: 'all', domains: ['*'], routes: [{ match: { prefix: '/' }, route: { cluster: 'upstream', timeout: '0s' } }] }],
                        },
                        http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
                      },
                    },
                  ],
                },
              ],
            },
          ],
          clusters: [
            {
              name: 'upstream',
              type: 'STATIC',
              connect_timeout: '5s',
              load_assignment: {
                cluster_name: 'upstream',
                endpoints: [{ lb_endpoints: [{ endpoint: { address: { socket_address: { address: '127.0.0.1', port_value: upstreamPort(ctx) } } } }] }],
              },
              ...upstreamProtocol,
            },
          ],
        },
      };
      const confFile = join(dir, 'envoy.yaml');
      await writeFile(confFile, stringify(config));
      const proc = spawnLogged({
        command: binary,
        args: ['-c', confFile, '--concurrency', '1', '--log-level', 'warn', '--disable-hot-restart', '--base-id', String(port)],
        logFile: join(dir, 'envoy.log'),
      });
      return started(proc, `http://127.0.0.1:${port}`, ctx.probe);
    },
  };
}

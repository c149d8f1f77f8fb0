import { readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { findBinary, freePort, spawnLogged, waitUntilServing, type BenchProcess } from './child-process.js';
import { buildGoProgram, findGo, goMissing } from './go-build.js';

/** Where a target is started from: the project root, a scratch folder, the upstream ports. */
export interface TargetContext {
  root: string;
  workDir: string;
  upstreamPorts: readonly number[];
  /** Path (on the target) that must answer 200 before the target counts as started. */
  probePath: string;
  /** Extra node flags for the Switchyard process (e.g. --cpu-prof). */
  switchyardNodeFlags: readonly string[];
  /** Open an IPC channel to the Switchyard process (memory sampling). */
  switchyardIpc?: boolean;
}

/** A running thing to point the load generator at. */
export interface RunningTarget {
  url: string;
  /** The process serving `url`, when the benchmark started one. */
  process?: BenchProcess;
  stop(): Promise<void>;
}

/** How to start one side of a comparison; `start` returns a reason string when it cannot run here. */
export interface TargetSpec {
  name: string;
  start(ctx: TargetContext): Promise<RunningTarget | string>;
}

const TSX = ['--import', 'tsx'];

function upstreamUrls(ctx: TargetContext, instances: number): string[] {
  return ctx.upstreamPorts.slice(0, instances).map((p) => `http://127.0.0.1:${p}`);
}

async function started(proc: BenchProcess, url: string, probePath: string): Promise<RunningTarget> {
  try {
    await waitUntilServing(url + probePath, proc);
  } catch (err) {
    await proc.stop(1_000);
    throw err;
  }
  return { url, process: proc, stop: () => proc.stop() };
}

/** The upstream itself, no proxy in between. */
export function directTarget(): TargetSpec {
  return {
    name: 'direct',
    start: async (ctx) => ({ url: `http://127.0.0.1:${ctx.upstreamPorts[0]}`, stop: async () => {} }),
  };
}

export interface SwitchyardRouteSpec {
  name: string;
  path: string;
  host?: string;
  service: string;
  /** More route fields (rateLimit, headerRules, backends: then `service` is left out). */
  extra?: Record<string, unknown>;
}

export interface SwitchyardTargetOptions {
  /** Label in the results (default "switchyard"). */
  name?: string;
  routes?: SwitchyardRouteSpec[];
  /** service name → number of instances (upstream ports from the first). Default { bench: 1 }. */
  services?: Record<string, number>;
  /** Merged over the generated top-level config (e.g. access log / metrics switches). */
  configFragment?: Record<string, unknown>;
  /** Like configFragment, for settings that need the run's ports (e.g. an OTLP endpoint on the bench upstream). */
  configFragmentFor?: (ctx: TargetContext) => Record<string, unknown>;
  /**
   * Run with the settings a plain `switchyard start` has that benchmarks otherwise turn off: the
   * admin listener (on a free loopback port, with its traffic-history sampler) and the services
   * file watcher. The process log then goes to a folder of its own, so that its writes are not
   * events in the folder the watcher watches.
   */
  productDefaults?: boolean;
  /** The CLI to run (default: this tree's dist/cli/switchyard.js), e.g. another build to compare with. */
  entry?: string;
  /** Node flags for this target only (after the run's own). */
  nodeFlags?: readonly string[];
}

/**
 * The node flags a build's `switchyard` executable starts node with: those after `node` on its
 * `#!/usr/bin/env -S node ...` line (none for a plain `#!/usr/bin/env node`), so a target runs
 * each build as its own executable would, whichever commit built it.
 */
export function launcherNodeFlags(entry: string): string[] {
  const first = readFileSync(entry, 'utf8').split('\n', 1)[0] ?? '';
  const shebang = /^#!\/usr\/bin\/env\s+(?:-S\s+)?node(?:\s+(.*))?$/.exec(first.trim());
  if (shebang === null) throw new Error(`${entry}: its first line "${first}" is not the #!/usr/bin/env node line of a switchyard executable; build that tree (npx tsc -p tsconfig.build.json)`);
  return shebang[1] === undefined ? [] : shebang[1].split(/\s+/).filter((f) => f !== '');
}

/** Switchyard as users run it: the built CLI with a generated config in a temp folder. */
export function switchyardTarget(options: SwitchyardTargetOptions = {}): TargetSpec {
  const name = options.name ?? 'switchyard';
  return {
    name,
    async start(ctx) {
      const dir = join(ctx.workDir, name);
      await mkdir(dir, { recursive: true });
      const port = await freePort();
      const services = options.services ?? { bench: 1 };
      const servicesDoc: Record<string, { instances: { id: string; address: string; port: number }[] }> = {};
      for (const [service, count] of Object.entries(services)) {
        servicesDoc[service] = {
          instances: ctx.upstreamPorts.slice(0, count).map((p, i) => ({ id: `${service}-${i}`, address: '127.0.0.1', port: p })),
        };
      }
      const routes = (options.routes ?? [{ name: 'all', path: '/', service: Object.keys(services)[0]! }]).map((r) => ({
        name: r.name,
        match: r.host === undefined ? { path: r.path } : { host: r.host, path: r.path },
        ...(r.extra?.backends === undefined ? { service: r.service } : {}),
        ...r.extra,
      }));
      const defaults = options.productDefaults === true;
      const config = {
        listeners: [{ name: 'bench', address: '127.0.0.1', port }],
        admin: defaults ? { enabled: true, port: await freePort() } : { enabled: false },
        registry: { type: 'file', path: 'services.yaml', watch: defaults },
        routes,
        logging: { level: 'warn' },
        ...options.configFragment,
        ...options.configFragmentFor?.(ctx),
      };
      await writeFile(join(dir, 'services.yaml'), stringify({ services: servicesDoc }));
      await writeFile(join(dir, 'config.yaml'), stringify(config));
      const logDir = defaults ? join(dir, 'log') : dir;
      if (defaults) await mkdir(logDir, { recursive: true });
      const entry = options.entry ?? join(ctx.root, 'dist/cli/switchyard.js');
      const proc = spawnLogged({
        command: process.execPath,
        args: [...launcherNodeFlags(entry), ...ctx.switchyardNodeFlags, ...(options.nodeFlags ?? []), entry, 'start', join(dir, 'config.yaml')],
        logFile: join(logDir, 'switchyard.log'),
        ipc: ctx.switchyardIpc ?? false,
      });
      return started(proc, `http://127.0.0.1:${port}`, ctx.probePath);
    },
  };
}

function nodeBaseline(name: string, script: string, instances: number): TargetSpec {
  return {
    name,
    async start(ctx) {
      const port = await freePort();
      const proc = spawnLogged({
        command: process.execPath,
        args: [...TSX, join(ctx.root, script), String(port), upstreamUrls(ctx, instances).join(',')],
        logFile: join(ctx.workDir, `${name}.log`),
      });
      return started(proc, `http://127.0.0.1:${port}`, ctx.probePath);
    },
  };
}

export function httpProxyTarget(instances = 1): TargetSpec {
  return nodeBaseline('http-proxy', 'bench/baselines/http-proxy-baseline.ts', instances);
}

export function fastifyProxyTarget(instances = 1): TargetSpec {
  return nodeBaseline('fastify-http-proxy', 'bench/baselines/fastify-proxy-baseline.ts', instances);
}

export function undiciBaselineTarget(instances = 1): TargetSpec {
  return nodeBaseline('undici-baseline', 'bench/baselines/undici-baseline.ts', instances);
}

/**
 * nginx with one worker process (a single-process comparison), upstream keep-alive, no access
 * log, buffers large enough that 64 KiB bodies stay in memory. Configured here, on loopback,
 * with a temporary prefix.
 */
export function nginxTarget(instances = 1): TargetSpec {
  return {
    name: 'nginx',
    async start(ctx) {
      const binary = await findBinary('nginx', ['/usr/sbin/nginx']);
      if (binary === null) return 'nginx is not installed (Debian/Ubuntu: apt-get install nginx)';
      const prefix = join(ctx.workDir, 'nginx');
      await mkdir(join(prefix, 'logs'), { recursive: true });
      const port = await freePort();
      const servers = upstreamUrls(ctx, instances)
        .map((u) => `    server ${u.slice('http://'.length)};`)
        .join('\n');
      const conf = `${nginxPrelude(prefix)}  upstream bench {
${servers}
    keepalive 128;
    keepalive_requests 1000000;
  }
  server {
    listen 127.0.0.1:${port};
    client_body_buffer_size 128k;
    client_max_body_size 0;
    location / {
      proxy_pass http://bench;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
      proxy_buffer_size 16k;
      proxy_buffers 8 16k;
      proxy_busy_buffers_size 32k;
    }
  }
}
`;
      const confFile = join(prefix, 'nginx.conf');
      await writeFile(confFile, conf);
      const proc = spawnLogged({ command: binary, args: ['-p', prefix, '-c', confFile], logFile: join(prefix, 'logs', 'stdout.log') });
      return started(proc, `http://127.0.0.1:${port}`, ctx.probePath);
    },
  };
}

/**
 * HAProxy with one thread (a single-process comparison), `http-reuse always` to the upstream
 * (keep-alive connections shared between clients), no logging. Configured here, on loopback.
 */
export function haproxyTarget(instances = 1): TargetSpec {
  return {
    name: 'haproxy',
    async start(ctx) {
      const binary = await findBinary('haproxy', ['/usr/sbin/haproxy']);
      if (binary === null) return 'HAProxy is not installed (Debian/Ubuntu: apt-get install haproxy)';
      const dir = join(ctx.workDir, 'haproxy');
      await mkdir(dir, { recursive: true });
      const port = await freePort();
      const servers = upstreamUrls(ctx, instances)
        .map((u, i) => `  server s${i} ${u.slice('http://'.length)}`)
        .join('\n');
      const conf = `${HAPROXY_PRELUDE}frontend bench
  bind 127.0.0.1:${port}
  default_backend upstream
backend upstream
  option forwardfor
${servers}
`;
      const confFile = join(dir, 'haproxy.cfg');
      await writeFile(confFile, conf);
      const proc = spawnLogged({ command: binary, args: ['-db', '-f', confFile], logFile: join(dir, 'haproxy.log') });
      return started(proc, `http://127.0.0.1:${port}`, ctx.probePath);
    },
  };
}

/**
 * Go's standard reverse proxy (net/http/httputil.ReverseProxy), GOMAXPROCS=1, a keep-alive pool
 * of 128 connections to the upstream, no logging: a garbage-collected peer compiled to native
 * code. Built at run time from bench/peers/go-reverse-proxy/main.go (no binary is kept in the
 * repository); skipped, saying why, when `go` is not installed.
 */
export function goReverseProxyTarget(): TargetSpec {
  return {
    name: 'go-reverse-proxy',
    async start(ctx) {
      const go = await findGo();
      if (go === null) return goMissing('the peer bench/peers/go-reverse-proxy/main.go');
      let binary: string;
      try {
        binary = await buildGoProgram(go, ctx.root, 'bench/peers/go-reverse-proxy/main.go', join(ctx.workDir, 'go-reverse-proxy', 'go-reverse-proxy'));
      } catch (err) {
        return (err as Error).message;
      }
      const port = await freePort();
      const proc = spawnLogged({
        command: binary,
        args: [String(port), upstreamUrls(ctx, 1)[0]!],
        logFile: join(ctx.workDir, 'go-reverse-proxy', 'go-reverse-proxy.log'),
        env: { GOMAXPROCS: '1' },
      });
      return started(proc, `http://127.0.0.1:${port}`, ctx.probePath);
    },
  };
}

/**
 * The start of an nginx configuration shared by the benches: one worker in the foreground, its
 * files under `prefix`, no access log, long keep-alive; it ends inside the `http` block. Run as
 * root, the worker runs as the current user.
 */
export function nginxPrelude(prefix: string): string {
  const asRoot = process.getuid?.() === 0 ? `user ${userInfo().username};\n` : '';
  return `${asRoot}worker_processes 1;
daemon off;
master_process on;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${prefix}/client_body;
  proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi;
  uwsgi_temp_path ${prefix}/uwsgi;
  scgi_temp_path ${prefix}/scgi;
  keepalive_requests 1000000;
`;
}

/**
 * The start of an HAProxy configuration shared by the benches: one thread, HTTP mode,
 * keep-alive on both sides, upstream connections shared between clients (`http-reuse always`).
 */
export const HAPROXY_PRELUDE = `global
  nbthread 1
  maxconn 8000
defaults
  mode http
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  option http-keep-alive
  http-reuse always
`;

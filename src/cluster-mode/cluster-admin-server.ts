import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { request } from 'undici';
import type { Logger } from '../observability/logger.js';
import { AdminAccess, type AccessRefusal } from '../admin/admin-access.js';
import { pathOf } from '../admin/admin-server.js';
import { closeNow, listenExclusive } from '../admin/server-lifecycle.js';
import { mergeTraffic, type RawTrafficView } from '../admin/traffic-history.js';

/** A worker's own admin listener (127.0.0.1, a port of its own). */
export interface WorkerAdmin {
  slot: number;
  pid: number;
  port: number;
}

/** Largest admin request body the primary relays (admin bodies are small JSON documents). */
const MAX_BODY = 1024 * 1024;

export interface ClusterAdminOptions {
  /** Every worker's metrics, merged (the primary's AggregatorRegistry). */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** admin.token and admin.readToken: checked here for what the primary answers or relays. */
  token?: string | undefined;
  readToken?: string | undefined;
  /** True once the cluster is shutting down: /readyz answers 503 at once, whatever the workers say. */
  stopping?: () => boolean;
}

/** Request headers not relayed: connection-specific, or recomputed for the relayed body. */
const NOT_RELAYED = new Set(['connection', 'keep-alive', 'transfer-encoding', 'content-length', 'upgrade', 'proxy-connection', 'te', 'trailer']);

/**
 * The admin listener of a cluster-mode primary, on the configured admin address.
 *
 * - `GET /metrics`: every worker's metrics, merged by prom-client's AggregatorRegistry
 *   (counters and histograms summed, gauges by their `aggregator`).
 * - `GET /healthz`: the primary is alive.
 * - `GET /api/v1/traffic` (the status page's charts): every worker's history, merged
 *   (mergeTraffic: counts and latency buckets summed).
 * - Other reads (`/readyz`, `/api/v1/...`, the status page): answered by the first worker
 *   that serves (lowest slot), relayed as is.
 * - Mutations (reload, drain, overrides): relayed to every serving worker in slot order, one
 *   mutation at a time, so all workers hold the same drains and overrides; the answer is the
 *   first worker's, and workers that answered differently are logged.
 * The tokens (AdminAccess: admin.token for mutations, admin.readToken for reads when set) are
 * checked here before anything is answered or relayed, and again by each worker, which also
 * checks the origin of mutations. The configuration a worker shows has its secrets redacted.
 */
export class ClusterAdminServer {
  readonly server: Server;
  private readonly access: AdminAccess;
  private mutations: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly workers: () => readonly WorkerAdmin[],
    private readonly logger: Logger,
    private readonly options: ClusterAdminOptions,
  ) {
    this.access = new AdminAccess(options);
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        logger.error({ err, method: req.method, path: pathOf(req.url) }, 'admin request failed');
        if (!res.headersSent) json(res, 502, { error: 'worker_unreachable', message: `no worker answered the admin request: ${(err as Error).message}` });
        else res.destroy();
      });
    });
  }

  async listen(port: number, address: string): Promise<AddressInfo> {
    return listenExclusive(this.server, port, address);
  }

  close(): Promise<void> {
    return closeNow(this.server);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const method = req.method ?? 'GET';
    const read = method === 'GET' || method === 'HEAD';
    const refused = read ? this.access.checkRead(path, req.headers.authorization) : method === 'POST' || method === 'DELETE' ? this.access.checkMutation(req.headers.authorization) : null;
    if (refused !== null) return refuse(res, refused);
    if (read && path === '/metrics') {
      const m = await this.options.metrics();
      res.writeHead(200, { 'content-type': m.contentType, 'content-length': Buffer.byteLength(m.body), 'cache-control': 'no-store' });
      res.end(m.body);
      return;
    }
    if (read && path === '/healthz') return json(res, 200, { status: 'ok' });
    if (read && path === '/readyz' && this.options.stopping?.() === true) return json(res, 503, { status: 'not ready' });
    const workers = this.workers();
    if (workers.length === 0) return json(res, 503, { error: 'no_worker', message: 'no worker process is serving yet (or all are restarting); retry shortly' });
    const body = read ? undefined : await readBody(req);
    if (body === null) return json(res, 413, { error: 'body_too_large', message: `admin request bodies are limited to ${MAX_BODY} bytes` });
    if (read && path === '/api/v1/traffic') return json(res, 200, await this.mergedTraffic(workers, req));
    if (read) return send(res, await relay(workers[0]!, req, body));
    const run = this.mutations.then(() => this.mutateAll(workers, req, body));
    this.mutations = run.catch(() => undefined);
    send(res, await run);
  }

  private async mergedTraffic(workers: readonly WorkerAdmin[], req: IncomingMessage): Promise<unknown> {
    const views = await Promise.all(
      workers.map(async (w) => {
        const r = await relay(w, req, undefined, '/api/v1/traffic?raw=1');
        if (r.status !== 200) throw new Error(`worker ${w.slot} (pid ${w.pid}) answered ${r.status} to /api/v1/traffic`);
        return JSON.parse(r.body.toString('utf8')) as RawTrafficView;
      }),
    );
    return mergeTraffic(views);
  }

  private async mutateAll(workers: readonly WorkerAdmin[], req: IncomingMessage, body: Buffer | undefined): Promise<Relayed> {
    const answers: Relayed[] = [];
    for (const w of workers) answers.push(await relay(w, req, body));
    const first = answers[0]!;
    answers.forEach((a, i) => {
      if (a.status !== first.status) {
        this.logger.warn({ method: req.method, path: pathOf(req.url), slot: workers[i]!.slot, pid: workers[i]!.pid, status: a.status, firstStatus: first.status }, 'workers answered an admin mutation differently');
      }
    });
    return first;
  }
}

interface Relayed {
  status: number;
  headers: Record<string, string | string[]>;
  body: Buffer;
}

async function relay(worker: WorkerAdmin, req: IncomingMessage, body: Buffer | undefined, url = req.url ?? '/'): Promise<Relayed> {
  const headers: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    if (value !== undefined && !NOT_RELAYED.has(name)) headers[name] = value;
  }
  const res = await request(`http://127.0.0.1:${worker.port}${url}`, {
    method: (req.method ?? 'GET') as 'GET',
    headers,
    body,
    headersTimeout: 30_000,
    bodyTimeout: 30_000,
  });
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of Object.entries(res.headers)) {
    if (value !== undefined && !NOT_RELAYED.has(name)) out[name] = value;
  }
  return { status: res.statusCode, headers: out, body: Buffer.from(await res.body.arrayBuffer()) };
}

function send(res: ServerResponse, r: Relayed): void {
  res.writeHead(r.status, { ...r.headers, 'content-length': r.body.length });
  res.end(r.body);
}

/** The whole request body, or null when it is larger than MAX_BODY (the rest is not read). */
async function readBody(req: IncomingMessage): Promise<Buffer | null> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) return null;
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function refuse(res: ServerResponse, r: AccessRefusal): void {
  for (const [name, value] of Object.entries(r.headers)) res.setHeader(name, value);
  json(res, r.status, r.body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'cache-control': 'no-store', 'x-content-type-options': 'nosniff' });
  res.end(text);
}

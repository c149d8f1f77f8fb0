import { errors, Pool } from 'undici';
import type { ConsulConnection } from './consul-settings.js';
import { ConsulRequestError } from './consul-request-error.js';
import { consulGet, type ConsulAnswer } from './consul-get.js';
import { RAW_TEXT, type ResponseOf, type ResponseSchema } from './response-schema.js';

const DIGITS = /^\d+$/;

/** A validated Consul read. */
export interface ConsulResponse<T> {
  /** X-Consul-Index, or null when the endpoint does not send one. */
  index: number | null;
  /** X-Consul-KnownLeader: false when the answering server knows of no leader. */
  knownLeader: boolean;
  /** X-Consul-LastContact: ms since the answering server heard from the leader (0 on the leader). */
  lastContactMs: number;
  body: T;
  /** The body as Consul sent it. */
  text: string;
  /** True when the body is byte for byte ReadOptions.previous's: `body` is then that parsed body, not parsed again. */
  unchanged: boolean;
  /** The body's bytes (kept by a watch to compare the next answer with). */
  bytes: Buffer;
}

/** What the client has seen of Consul's read path (for status and metrics). */
export interface ConsulReadStats {
  /** Requests sent and response body bytes received. */
  requests: number;
  bytes: number;
  /** From the last successful answer; null before the first. */
  knownLeader: boolean | null;
  lastContactMs: number | null;
  /** X-Consul-Effective-Consistency of the last answer (leader, stale, consistent), when sent. */
  effectiveConsistency: string | null;
  /** Stale answers older than maxStale that were read again from the leader. */
  staleRetries: number;
}

export interface ReadOptions {
  /** Blocking query: `index` (>= 1) and `wait` in ms. */
  blocking?: { index: number; waitMs: number };
  signal?: AbortSignal;
  /** Read a 404 as an empty JSON array (a KV key that does not exist yet), keeping its index. */
  notFoundIsEmpty?: boolean;
  /**
   * The last answer of the same read: when the new body is the same text, it is neither parsed
   * nor validated again (a watch whose index moves with the same content costs the transfer only).
   */
  previous?: { text: string; body: unknown; bytes?: Buffer };
}

/**
 * Reads Consul's HTTP API over one undici Pool, so the number of connections to Consul is
 * bounded by `connections` however many services there are.
 *
 * The `consul` npm client (2.0.1) was not used: its Watch re-issues on `process.nextTick`
 * with no minimum interval (a flapping or reset index becomes a busy loop), backs off without
 * jitter, and after an index reset sends the next request straight away with no rate limit.
 * Wrapping it would have meant replacing its loop anyway; undici is already the product's
 * HTTP client and gives per-request timeouts and abort signals.
 */
export class ConsulClient {
  private readonly pool: Pool;
  private readonly headers: Record<string, string>;
  readonly stats: ConsulReadStats = { requests: 0, bytes: 0, knownLeader: null, lastContactMs: null, effectiveConsistency: null, staleRetries: 0 };

  constructor(readonly connection: ConsulConnection) {
    this.pool = new Pool(connection.origin, {
      connections: connection.connections,
      pipelining: 1,
      keepAliveTimeout: 60_000,
      connect: connection.tls ? { ...connection.tls, timeout: connection.timeoutMs } : { timeout: connection.timeoutMs },
    });
    this.headers = { accept: 'application/json' };
    if (connection.token) this.headers['x-consul-token'] = connection.token;
  }

  /**
   * GETs `path` with `query` (+ dc, consistency mode, blocking params) and validates the JSON
   * body with `schema`. A stale answer whose X-Consul-LastContact exceeds maxStale is read
   * once more from the leader (consul-template's max_stale rule), so a follower cut off from
   * the leader cannot feed old data for long.
   */
  async read<S extends ResponseSchema<unknown>>(path: string, query: readonly (readonly [string, string])[], schema: S, options: ReadOptions = {}): Promise<ConsulResponse<ResponseOf<S>>> {
    if ((schema as ResponseSchema<unknown>) === RAW_TEXT) return (await this.readText(path, query, options)) as ConsulResponse<ResponseOf<S>>;
    const decode = (text: string, statusCode: number): ResponseOf<S> => {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch {
        throw new ConsulRequestError('garbage', `Consul at ${this.connection.origin} sent a body that is not JSON for ${path} (${text.length} bytes)`, statusCode);
      }
      const parsed = schema.safeParse(json);
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        throw new ConsulRequestError('garbage', `Consul at ${this.connection.origin} sent an unexpected body for ${path}: ${issue?.path.join('.') ?? ''} ${issue?.message ?? ''}`.trim(), statusCode);
      }
      return parsed.data as ResponseOf<S>;
    };
    return this.readConsistent(path, query, decode, options);
  }

  /**
   * As `read`, but the body is returned as text, neither parsed nor validated: for answers too
   * large to parse in one go on the event loop (the caller reads them in pieces). `read` with the
   * RAW_TEXT schema does the same (so a BlockingWatch can watch text).
   */
  readText(path: string, query: readonly (readonly [string, string])[], options: ReadOptions = {}): Promise<ConsulResponse<string>> {
    return this.readConsistent(path, query, (text) => text, options);
  }

  private async readConsistent<T>(path: string, query: readonly (readonly [string, string])[], decode: (text: string, statusCode: number) => T, options: ReadOptions): Promise<ConsulResponse<T>> {
    const mode = this.connection.consistency;
    const res = await this.readWith(mode, path, query, decode, options);
    if (mode !== 'stale' || this.connection.maxStaleMs <= 0 || res.lastContactMs <= this.connection.maxStaleMs) return res;
    this.stats.staleRetries += 1;
    return this.readWith('default', path, query, decode, options);
  }

  private async readWith<T>(mode: ConsulConnection['consistency'], path: string, query: readonly (readonly [string, string])[], decode: (text: string, statusCode: number) => T, options: ReadOptions): Promise<ConsulResponse<T>> {
    const params = new URLSearchParams(query as [string, string][]);
    if (this.connection.datacenter) params.set('dc', this.connection.datacenter);
    if (mode !== 'default') params.set(mode, '');
    let timeout = this.connection.timeoutMs;
    if (options.blocking) {
      params.set('index', String(Math.max(1, options.blocking.index)));
      params.set('wait', `${options.blocking.waitMs}ms`);
      // Consul may hold the request up to wait + wait/16 of jitter.
      timeout += options.blocking.waitMs + Math.ceil(options.blocking.waitMs / 16);
    }
    const qs = params.toString();
    const target = qs ? `${path}?${qs}` : path;
    let answer: ConsulAnswer;
    this.stats.requests += 1;
    try {
      answer = await consulGet(this.pool, { path: target, headers: this.headers, timeoutMs: timeout, signal: options.signal });
    } catch (err) {
      throw this.transportError(err as Error, path);
    }
    this.stats.bytes += answer.body.length;
    const { statusCode, headers } = answer;
    // The same bytes as the last answer: its text and body are reused, and this answer is never
    // decoded (a watch whose index moves with the same content, several times a second at scale,
    // costs a memcmp instead of a string of the whole answer and its garbage).
    const previous = options.previous;
    const unchanged = statusCode >= 200 && statusCode < 300 && previous?.bytes !== undefined && answer.body.equals(previous.bytes);
    let text = unchanged ? previous!.text : answer.body.toString('utf8');
    if (statusCode === 403) {
      throw new ConsulRequestError(
        'acl',
        `Consul at ${this.connection.origin} refused the ACL token (403 ${text.trim() || 'Forbidden'}) reading ${path}: set registry.token or CONSUL_HTTP_TOKEN to a valid token with service:read and node:read (and key:read on registry.stateKey)`,
        403,
      );
    }
    if (statusCode === 404 && options.notFoundIsEmpty) text = '[]';
    else if (statusCode < 200 || statusCode >= 300) {
      throw new ConsulRequestError('status', `Consul at ${this.connection.origin} answered ${statusCode} to ${path}: ${text.trim().slice(0, 200) || '(empty body)'}`, statusCode);
    }
    const same = unchanged || (previous !== undefined && text === previous.text);
    const body = same ? (previous!.body as T) : decode(text, statusCode);
    const indexHeader = headers.get('x-consul-index');
    const index = indexHeader !== undefined && DIGITS.test(indexHeader) ? Number(indexHeader) : null;
    const knownLeader = headers.get('x-consul-knownleader') !== 'false';
    const contactHeader = headers.get('x-consul-lastcontact');
    const lastContactMs = contactHeader !== undefined && DIGITS.test(contactHeader) ? Number(contactHeader) : 0;
    this.stats.knownLeader = knownLeader;
    this.stats.lastContactMs = lastContactMs;
    this.stats.effectiveConsistency = headers.get('x-consul-effective-consistency') ?? null;
    return { index, knownLeader, lastContactMs, body, text, unchanged: same, bytes: answer.body };
  }

  /** PUTs `body` to `path` (a KV write); rejects unless Consul answers 2xx with `true`. */
  async put(path: string, body: string): Promise<void> {
    const params = new URLSearchParams();
    if (this.connection.datacenter) params.set('dc', this.connection.datacenter);
    const qs = params.toString();
    let statusCode: number;
    let text: string;
    try {
      const res = await this.pool.request({
        method: 'PUT',
        path: qs ? `${path}?${qs}` : path,
        headers: { ...this.headers, 'content-type': 'application/octet-stream' },
        body,
        headersTimeout: this.connection.timeoutMs,
        bodyTimeout: this.connection.timeoutMs,
      });
      statusCode = res.statusCode;
      text = await res.body.text();
    } catch (err) {
      throw this.transportError(err as Error, path);
    }
    if (statusCode === 403) {
      throw new ConsulRequestError('acl', `Consul at ${this.connection.origin} refused the ACL token (403 ${text.trim() || 'Forbidden'}) writing ${path}: the token needs key:write on that key`, 403);
    }
    if (statusCode < 200 || statusCode >= 300 || text.trim() !== 'true') {
      throw new ConsulRequestError('status', `Consul at ${this.connection.origin} did not store ${path} (${statusCode}: ${text.trim().slice(0, 200) || '(empty body)'})`, statusCode);
    }
  }

  async close(): Promise<void> {
    await this.pool.destroy();
  }

  private transportError(err: Error, path: string): Error {
    if (err.name === 'AbortError' || (err as { code?: string }).code === 'UND_ERR_ABORTED') return err;
    if (err instanceof errors.HeadersTimeoutError || err instanceof errors.BodyTimeoutError || err instanceof errors.ConnectTimeoutError) {
      return new ConsulRequestError('timeout', `Consul at ${this.connection.origin} did not answer ${path} in time (${err.message})`);
    }
    const code = (err as { code?: string }).code;
    return new ConsulRequestError('unreachable', `cannot reach Consul at ${this.connection.origin} (${code ?? err.message}); check registry.address / CONSUL_HTTP_ADDR and that the agent runs`);
  }
}

/** True for the error an aborted request rejects with. */
export function isAbort(err: unknown): boolean {
  return err instanceof Error && (err.name === 'AbortError' || (err as { code?: string }).code === 'UND_ERR_ABORTED');
}

import { request } from 'undici';
import type { Logger } from './logger.js';
import { CounterChild } from './prepared-metrics.js';
import { redactUrlCredentials } from '../config/secret-redactor.js';

/** One finished server span, as the request recorder hands it over. */
export interface FinishedSpan {
  traceId: string;
  spanId: string;
  /** The caller's span (incoming traceparent's parent id), or "" for a trace the proxy started. */
  parentSpanId: string;
  /** Unix time in milliseconds (fractional). */
  startMs: number;
  endMs: number;
  method: string;
  path: string;
  status: number;
  route: string;
  service: string;
  upstream: string;
  /** Proxy error code when the request failed, else undefined. */
  error: string | undefined;
}

export interface OtlpExporterSettings {
  /** Base URL of the collector's OTLP/HTTP receiver; spans go to `<endpoint>/v1/traces`. */
  endpoint: string;
  /** Headers sent with every export (authorization, API keys): never logged. */
  headers?: Readonly<Record<string, string>>;
  serviceName: string;
  /** Spans waiting at most; past it new spans are dropped and counted. */
  maxQueue: number;
  /** Spans per export request at most. */
  batchSize: number;
  /** Longest a span waits before its batch is sent. */
  flushIntervalMs: number;
}

/** SpanKind SERVER in OTLP. */
const SPAN_KIND_SERVER = 2;
/** Status codes in OTLP: UNSET, ERROR. */
const STATUS_UNSET = 0;
const STATUS_ERROR = 2;

/**
 * Exports the proxy's server spans to an OpenTelemetry collector over OTLP/HTTP with the JSON
 * encoding (trace and span ids as hex, as that encoding specifies). Written here rather than
 * with the OpenTelemetry SDK: the proxy makes one span per request from values it already has,
 * and the SDK's tracer, context manager and processors would add a dependency and per-request
 * objects for nothing it needs.
 *
 * Spans wait in a bounded queue (settings.maxQueue; past it spans are dropped and counted, so
 * a slow or unreachable collector costs memory up to the bound, never more) and are sent in
 * batches of batchSize, at most flushIntervalMs after the first one waits. One export is in
 * flight at a time; a failed export is logged (at most once a minute) and its spans dropped:
 * requests never wait for the exporter. Exported and dropped spans are counted in
 * switchyard_trace_spans_total.
 */
export class OtlpSpanExporter {
  private queue: FinishedSpan[] = [];
  private timer: NodeJS.Timeout | null = null;
  private sending: Promise<void> | null = null;
  private readonly url: string;
  /** The URL as logged: credentials in it (user:password@, ?api_key=) hidden. */
  private readonly loggedUrl: string;
  private readonly headers: Record<string, string>;
  private readonly resource: unknown;
  private lastFailureLog = 0;
  private closed = false;

  constructor(
    private readonly settings: OtlpExporterSettings,
    private readonly logger: Logger,
    /** Spans the collector accepted, and spans dropped because the queue was full or their export failed. */
    private readonly counters: { exported: CounterChild; dropped: CounterChild } = { exported: new CounterChild([]), dropped: new CounterChild([]) },
  ) {
    counters.exported.touch();
    counters.dropped.touch();
    this.url = `${settings.endpoint.replace(/\/+$/, '')}/v1/traces`;
    this.loggedUrl = redactUrlCredentials(this.url);
    this.headers = { ...settings.headers, 'content-type': 'application/json' };
    this.resource = { attributes: [stringAttribute('service.name', settings.serviceName)] };
  }

  get exported(): number {
    return this.counters.exported.value;
  }

  get dropped(): number {
    return this.counters.dropped.value;
  }

  add(span: FinishedSpan): void {
    if (this.closed || this.queue.length >= this.settings.maxQueue) {
      this.counters.dropped.inc();
      return;
    }
    this.queue.push(span);
    if (this.queue.length >= this.settings.batchSize) this.flushSoon(0);
    else if (this.timer === null) this.flushSoon(this.settings.flushIntervalMs);
  }

  /** Sends what waits, then stops taking spans. */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    await this.sending;
    while (this.queue.length > 0) await this.send();
  }

  private flushSoon(delayMs: number): void {
    if (this.timer !== null) {
      if (delayMs > 0) return;
      clearTimeout(this.timer);
    }
    this.timer = setTimeout(() => {
      this.timer = null;
      if (this.sending === null) this.sending = this.send().finally(() => (this.sending = null));
    }, delayMs);
    this.timer.unref();
  }

  private async send(): Promise<void> {
    const batch = this.queue.splice(0, this.settings.batchSize);
    if (batch.length === 0) return;
    const body = JSON.stringify({ resourceSpans: [{ resource: this.resource, scopeSpans: [{ scope: { name: 'switchyard' }, spans: batch.map(otlpSpan) }] }] });
    try {
      const res = await request(this.url, { method: 'POST', headers: this.headers, body, headersTimeout: 10_000, bodyTimeout: 10_000 });
      await res.body.dump();
      if (res.statusCode >= 300) throw new Error(`the collector answered ${res.statusCode}`);
      this.counters.exported.inc(batch.length);
    } catch (err) {
      this.counters.dropped.inc(batch.length);
      const now = Date.now();
      if (now - this.lastFailureLog >= 60_000) {
        this.lastFailureLog = now;
        this.logger.warn({ url: this.loggedUrl, spans: batch.length, error: (err as Error).message }, 'span export failed: spans dropped; check tracing.otlp.endpoint and that the collector is up');
      }
    }
    if (this.queue.length > 0 && !this.closed) this.flushSoon(this.queue.length >= this.settings.batchSize ? 0 : this.settings.flushIntervalMs);
  }
}

function otlpSpan(s: FinishedSpan): unknown {
  const attributes = [
    stringAttribute('http.request.method', s.method),
    stringAttribute('url.path', s.path),
    { key: 'http.response.status_code', value: { intValue: s.status } },
    stringAttribute('http.route', s.route),
    stringAttribute('switchyard.service', s.service),
    stringAttribute('server.address', s.upstream),
  ];
  if (s.error !== undefined) attributes.push(stringAttribute('error.type', s.error));
  return {
    traceId: s.traceId,
    spanId: s.spanId,
    ...(s.parentSpanId === '' ? {} : { parentSpanId: s.parentSpanId }),
    name: `${s.method} ${s.route}`,
    kind: SPAN_KIND_SERVER,
    startTimeUnixNano: unixNanos(s.startMs),
    endTimeUnixNano: unixNanos(s.endMs),
    attributes,
    status: { code: s.status >= 500 || s.error !== undefined ? STATUS_ERROR : STATUS_UNSET },
  };
}

function stringAttribute(key: string, value: string): { key: string; value: { stringValue: string } } {
  return { key, value: { stringValue: value } };
}

/** Milliseconds since the epoch as a decimal string of nanoseconds (exact to the microsecond; a double cannot hold the nanosecond count). */
export function unixNanos(ms: number): string {
  return (BigInt(Math.round(ms * 1000)) * 1000n).toString();
}

import { pino, type Logger } from 'pino';
import { kBatchedWrite } from './logger.js';

/** Where access-log lines go: the logger's own destination (SonicBoom in production). */
interface LineSink {
  write(line: string): unknown;
  [kBatchedWrite]?: (line: string) => unknown;
}

interface PinoInternals {
  [key: symbol]: unknown;
}

/**
 * The access log: one JSON line per request, byte for byte what pino would write for
 * `logger.info({...fields}, 'request')` on the given logger (same level field, time format,
 * bindings, field order; a test compares the two), built by a serialiser for this one fixed
 * shape instead of pino's generic one: strings that need no escaping (nearly all) are copied
 * as they are, and the time field is formatted once per millisecond, not once per line.
 * Lines go to the logger's destination, so they keep their order with the other log lines and
 * share its buffering (without the prompt flush other lines get: they go out by 32 KiB or every
 * 100 ms), its bound (logging.maxBuffer: past it lines are dropped and counted)
 * and its flush on exit.
 *
 * Rare lines (refused requests, tunnels, failures with an error object) take the generic path,
 * `other()`, with the same prefix and JSON.stringify per value.
 */
export class AccessLog {
  private readonly prefix: string;
  private readonly bindings: string;
  private readonly time: () => string;
  private readonly write: (line: string) => unknown;
  private readonly stringifySafe: (value: unknown) => string;
  private lastMs = -1;
  private lastTime = '';

  constructor(logger: Logger) {
    const internals = logger as unknown as PinoInternals;
    const symbols = pino.symbols as unknown as Record<string, symbol>;
    const levels = internals[symbols.lsCacheSym!] as Record<number, string>;
    this.prefix = levels[logger.levels.values.info!]!;
    this.bindings = internals[symbols.chindingsSym!] as string;
    this.time = internals[symbols.timeSym!] as () => string;
    const sink = internals[symbols.streamSym!] as LineSink;
    // Batched without a prompt flush where the destination offers it (the process logger's).
    const batched = sink[kBatchedWrite];
    this.write = batched ?? sink.write.bind(sink);
    this.stringifySafe = internals[symbols.stringifySafeSym!] as (value: unknown) => string;
  }

  /**
   * A forwarded request (the hot path). Positional arguments, in the order the fields are
   * written, so that recording a request allocates nothing but the line. `traceId`, `host` and
   * `path` are left out when undefined, as pino leaves out undefined values.
   */
  request(
    requestId: string,
    traceId: string | undefined,
    method: string | undefined,
    host: string | undefined,
    path: string | undefined,
    status: number,
    bytesIn: number,
    bytesOut: number,
    durationMs: number,
    route: string,
    service: string,
    upstream: string,
    upstreamStatus: number,
    upstreamMs: number,
    retries: number,
    error: string | undefined,
    err: (Error & { code?: string }) | undefined,
  ): void {
    let line = `${this.start()},"requestId":${str(requestId)}`;
    if (traceId !== undefined) line += `,"traceId":${str(traceId)}`;
    if (method !== undefined) line += `,"method":${str(method)}`;
    if (host !== undefined) line += `,"host":${str(host)}`;
    if (path !== undefined) line += `,"path":${str(path)}`;
    line +=
      `,"status":${status},"bytesIn":${bytesIn},"bytesOut":${bytesOut},"durationMs":${num(durationMs)}` +
      `,"route":${str(route)},"service":${str(service)},"upstream":${str(upstream)},"upstreamStatus":${upstreamStatus}` +
      `,"upstreamMs":${num(upstreamMs)},"retries":${retries}`;
    if (error !== undefined) line += `,"error":${str(error)}`;
    if (err !== undefined) line += `,"err":${this.json(pino.stdSerializers.err(err))}`;
    this.write(`${line},"msg":"request"}\n`);
  }

  /** Any other line: `fields` in their own order (undefined values left out), then `msg`. */
  other(fields: Record<string, unknown>, msg: string): void {
    let line = this.start();
    for (const key in fields) {
      const value = fields[key];
      if (value === undefined) continue;
      line += `,${str(key)}:${typeof value === 'number' ? num(value) : this.json(value)}`;
    }
    this.write(`${line},"msg":${str(msg)}}\n`);
  }

  /**
   * A value as JSON, as pino writes it: JSON.stringify, and for what it cannot write (a circular
   * structure, such as a TLS error's certificate chain) pino's own safe stringifier.
   */
  private json(value: unknown): string {
    try {
      return JSON.stringify(value);
    } catch {
      try {
        return this.stringifySafe(value);
      } catch {
        return '"[unable to serialize, circular reference is too complex to analyze]"';
      }
    }
  }

  /** `{"level":…,"time":…` plus the logger's bindings (pid, hostname, name, component). */
  private start(): string {
    const now = Date.now();
    if (now !== this.lastMs) {
      this.lastMs = now;
      this.lastTime = this.time();
    }
    return this.prefix + this.lastTime + this.bindings;
  }
}

/** A JSON string: copied as is unless it has a character JSON must escape. */
function str(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 32 || c === 34 || c === 92 || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return `"${s}"`;
}

/** A JSON number, as pino writes it (null for NaN and infinities). */
function num(n: number): string {
  return Number.isFinite(n) ? `${n}` : 'null';
}

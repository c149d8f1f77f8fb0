/**
 * Open-loop HTTP/1.1 load: requests fall due at a fixed rate, whatever the target does, and
 * each request's latency counts from the moment it was DUE, not from when it could be sent.
 *
 * A closed-loop generator (autocannon, wrk) sends a connection's next request only when the
 * previous response arrived, so while a server stalls it sends nothing and records one slow
 * response for the whole stall: the stall hardly shows in its percentiles ("coordinated
 * omission"). Here, request i is due at start + i / rate. It goes on the first idle keep-alive
 * connection; when every connection is busy it waits (in order) for one, and that wait is part
 * of its latency. A stall of S ms at a rate R therefore shows as about R·S requests with
 * latencies from S down to 0 ms, as a user of the server would see it.
 *
 * The generator's own delays are charged too (a timer that fires late, its own GC): they show
 * in `sendLag` (due → written, for every request), which is the figure to look at before
 * blaming a target. Node's timers have a resolution of 1 ms, so requests are sent in small
 * bursts once a millisecond (or sooner, when a response's arrival wakes the loop): every
 * target's latency includes up to about 1 ms of that, the same for all.
 *
 * Connections: `connections` keep-alive connections opened before the first request, one
 * request at a time each (no pipelining). A connection that fails, closes or times out is
 * replaced; the request on it counts as an error. Responses are framed by
 * Http1ResponseReader (Content-Length or chunked).
 */
import { connect, type Socket } from 'node:net';
import { performance } from 'node:perf_hooks';
import { Http1ResponseReader } from './http1-response-reader.js';

export interface OpenLoopRequest {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer;
}

export interface OpenLoopOptions {
  /** http://host:port of the target (loopback). */
  url: string;
  request: OpenLoopRequest;
  /** Requests per second offered. */
  rate: number;
  /** Seconds over which requests fall due (the schedule's length). */
  durationSeconds: number;
  /** At most this many requests (default: rate × duration). */
  maxRequests?: number;
  /** Keep-alive connections (default 64). */
  connections?: number;
  /** A request sent this many ms or more after it was due counts as late (default 1 ms: the timer's resolution). */
  lateMs?: number;
  /** A response not complete this long after its request was sent is a timeout, its connection replaced (default 10 s). */
  timeoutMs?: number;
  /** Keep every request's latency and send lag in the result (tests, plots). */
  keepSamples?: boolean;
}

export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

export interface OpenLoopResult {
  /** Requests per second offered, and the number scheduled. */
  rate: number;
  scheduled: number;
  /** Responses received (any status), of which 2xx. */
  completed: number;
  ok: number;
  non2xx: number;
  /** Requests that failed: connection error or close, unframeable response, timeout, never sent. */
  errors: number;
  timeouts: number;
  /** Responses per second over the schedule's length plus the time the last response took. */
  achievedRps: number;
  /** Due → response complete, ms, over completed requests. */
  latency: Percentiles;
  /** Due → written to a connection, ms, over requests sent: the generator's lateness plus waits for a connection. */
  sendLag: Percentiles;
  /** Requests written `lateMs` or more after they were due. */
  late: number;
  /** Requests that found every connection busy when they fell due and waited for one. */
  waitedForConnection: number;
  /** This process's CPU during the run (user + system, every thread): the generator's own cost. */
  generatorCpu: { seconds: number; percentOfCore: number; microsPerRequest: number };
  /** Connections opened in all (the initial ones plus replacements). */
  connectionsOpened: number;
  /** Wall-clock ms since the epoch when request 0 was due; request i was due at startEpochMs + i · intervalMs. */
  startEpochMs: number;
  intervalMs: number;
  /** The first few distinct error messages. */
  errorSamples: string[];
  /** Per request (index = schedule position), when keepSamples: latency and send lag in ms, NaN when it failed / was not sent. */
  samples?: { latency: Float64Array; sendLag: Float64Array };
}

/** How often in-flight requests are checked for the timeout. */
const TIMEOUT_SWEEP_MS = 100;

class Connection {
  readonly reader = new Http1ResponseReader();
  socket: Socket | null = null;
  /** Schedule index of the request on this connection, -1 when idle. */
  index = -1;
  sentAt = 0;
  /** The server said it closes after the current response. */
  closing = false;
}

/** Builds the bytes of one request, once per run. */
export function requestBytes(url: URL, request: OpenLoopRequest): Buffer {
  const method = request.method ?? (request.body ? 'POST' : 'GET');
  const lines = [`${method} ${request.path} HTTP/1.1`, `host: ${url.host}`];
  const headers = request.headers ?? {};
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`);
  if (request.body !== undefined && !Object.keys(headers).some((h) => h.toLowerCase() === 'content-length')) {
    lines.push(`content-length: ${request.body.length}`);
  }
  const head = Buffer.from(`${lines.join('\r\n')}\r\n\r\n`, 'latin1');
  return request.body === undefined ? head : Buffer.concat([head, request.body]);
}

/** Nearest-rank percentiles of the finite values of `values` (NaN everywhere when there are none). */
export function percentiles(values: Float64Array): Percentiles {
  const finite = values.filter((v) => Number.isFinite(v)).sort();
  const n = finite.length;
  if (n === 0) return { p50: NaN, p90: NaN, p99: NaN, p999: NaN, max: NaN, mean: NaN };
  const at = (p: number) => finite[Math.min(n - 1, Math.max(0, Math.ceil(p * n) - 1))]!;
  let sum = 0;
  for (const v of finite) sum += v;
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), p999: at(0.999), max: finite[n - 1]!, mean: sum / n };
}

/** Checks options as every open-loop generator takes them; throws naming the bad one. */
export function checkOpenLoopOptions(options: OpenLoopOptions): { url: URL; connectionCount: number } {
  const url = new URL(options.url);
  if (url.protocol !== 'http:') throw new Error(`open-loop load speaks plain HTTP/1.1; ${options.url} is not an http:// URL`);
  if (!(options.rate > 0) || !Number.isFinite(options.rate)) throw new Error(`rate must be a positive number of requests per second, got ${options.rate}`);
  if (!(options.durationSeconds > 0)) throw new Error(`durationSeconds must be positive, got ${options.durationSeconds}`);
  const connectionCount = options.connections ?? 64;
  if (!Number.isInteger(connectionCount) || connectionCount < 1) throw new Error(`connections must be a positive integer, got ${connectionCount}`);
  return { url, connectionCount };
}

/** Runs one open-loop load and resolves when every scheduled request ended (or timed out). */
export async function runOpenLoop(options: OpenLoopOptions): Promise<OpenLoopResult> {
  const { url, connectionCount } = checkOpenLoopOptions(options);
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const port = Number(url.port || 80);
  const bytes = requestBytes(url, options.request);
  const intervalMs = 1000 / options.rate;
  const scheduled = Math.max(1, Math.min(options.maxRequests ?? Infinity, Math.floor(options.rate * options.durationSeconds)));
  const lateMs = options.lateMs ?? 1;
  const timeoutMs = options.timeoutMs ?? 10_000;

  const latency = new Float64Array(scheduled).fill(NaN);
  const sendLag = new Float64Array(scheduled).fill(NaN);
  const connections: Connection[] = [];
  const idle: Connection[] = [];
  const errorSamples: string[] = [];
  let completed = 0;
  let ok = 0;
  let non2xx = 0;
  let errors = 0;
  let timeouts = 0;
  let late = 0;
  let waitedForConnection = 0;
  let connectionsOpened = 0;
  let lastResponseAt = 0;
  /** Next schedule index to fall due; requests [firstWaiting, next) wait for a connection. */
  let next = 0;
  let firstWaiting = 0;
  let ended = 0;
  let t0 = 0;
  let timer: NodeJS.Timeout | null = null;
  let finished: () => void = () => undefined;
  let stopping = false;

  const noteError = (message: string): void => {
    if (errorSamples.length < 5 && !errorSamples.includes(message)) errorSamples.push(message);
  };

  const requestEnded = (): void => {
    if (++ended === scheduled) finished();
  };

  const send = (c: Connection, index: number, now: number): void => {
    c.index = index;
    c.sentAt = now;
    c.reader.expect();
    const lag = now - (t0 + index * intervalMs);
    sendLag[index] = lag;
    if (lag >= lateMs) late++;
    c.socket!.write(bytes);
  };

  /** A connection is free: it takes the oldest waiting request, or becomes idle. */
  const release = (c: Connection, now: number): void => {
    c.index = -1;
    if (stopping) return;
    if (firstWaiting < next) send(c, firstWaiting++, now);
    else idle.push(c);
  };

  /** Sends (or queues) every request due by now and sets the timer for the next. */
  const dispatchDue = (): void => {
    const now = performance.now();
    while (next < scheduled && t0 + next * intervalMs <= now) {
      if (firstWaiting === next && idle.length > 0) {
        send(idle.pop()!, next, now);
        firstWaiting++;
      } else {
        waitedForConnection++;
      }
      next++;
    }
    if (timer === null && next < scheduled) {
      timer = setTimeout(onTimer, Math.max(0, t0 + next * intervalMs - now));
    }
  };
  const onTimer = (): void => {
    timer = null;
    dispatchDue();
  };

  /** The request on `c` failed (`reason`); the connection is replaced. */
  const fail = (c: Connection, reason: string, isTimeout = false): void => {
    if (c.index !== -1) {
      errors++;
      if (isTimeout) timeouts++;
      noteError(reason);
      c.index = -1;
      requestEnded();
    }
    const dead = c.socket;
    c.socket = null;
    if (dead !== null) {
      dead.removeAllListeners('close');
      dead.destroy();
    }
    const at = idle.indexOf(c);
    if (at !== -1) idle.splice(at, 1);
    if (!stopping) open(c).then(() => release(c, performance.now()), (err: Error) => {
      noteError(`reconnect failed: ${err.message}`);
      // Without a connection the requests it would have carried wait for the others.
    });
  };

  const onData = (c: Connection, data: Buffer): void => {
    if (c.index === -1) {
      noteError(`${data.length} bytes received on an idle connection`);
      fail(c, 'unrequested bytes');
      return;
    }
    const end = c.reader.feed(data);
    if (end === null) return;
    if (end === undefined) {
      fail(c, `response could not be framed: ${c.reader.error}`);
      return;
    }
    const now = performance.now();
    const index = c.index;
    latency[index] = now - (t0 + index * intervalMs);
    lastResponseAt = now;
    completed++;
    if (end.status >= 200 && end.status < 300) ok++;
    else non2xx++;
    requestEnded();
    if (end.close) {
      c.index = -1;
      fail(c, 'server closed the connection');
      return;
    }
    release(c, now);
    // A response is a chance to send what fell due since the last timer, without waiting for it.
    dispatchDue();
  };

  const open = (c: Connection): Promise<void> =>
    new Promise((resolve, reject) => {
      const socket = connect({ host, port, noDelay: true });
      connectionsOpened++;
      socket.once('connect', () => {
        socket.off('error', reject);
        socket.on('error', (err) => fail(c, `connection error: ${err.message}`));
        socket.on('close', () => fail(c, 'connection closed by the server'));
        socket.on('data', (data: Buffer) => onData(c, data));
        c.socket = socket;
        resolve();
      });
      socket.once('error', reject);
    });

  for (let i = 0; i < connectionCount; i++) connections.push(new Connection());
  await Promise.all(connections.map(open));
  idle.push(...connections);

  const sweep = setInterval(() => {
    const now = performance.now();
    for (const c of connections) if (c.index !== -1 && now - c.sentAt > timeoutMs) fail(c, `no complete response within ${timeoutMs} ms`, true);
  }, TIMEOUT_SWEEP_MS);

  const cpuBefore = process.cpuUsage();
  const wallBefore = performance.now();
  t0 = performance.now();
  const startEpochMs = performance.timeOrigin + t0;
  const done = new Promise<void>((resolve) => {
    finished = resolve;
  });
  dispatchDue();
  // Requests that never got a connection (every connection lost) end with the schedule plus the timeout.
  const deadline = setTimeout(() => {
    stopping = true;
    const unsent = scheduled - firstWaiting;
    if (unsent > 0) noteError(`${unsent} requests never sent: no connection became free`);
    errors += unsent;
    ended += unsent;
    firstWaiting = next = scheduled;
    for (const c of connections) if (c.index !== -1) fail(c, `no complete response within ${timeoutMs} ms`, true);
    finished();
  }, (scheduled * intervalMs) + timeoutMs + TIMEOUT_SWEEP_MS * 2);
  await done;
  stopping = true;
  clearTimeout(deadline);
  clearInterval(sweep);
  if (timer !== null) clearTimeout(timer);
  const cpu = process.cpuUsage(cpuBefore);
  const wallSeconds = (performance.now() - wallBefore) / 1000;
  for (const c of connections) {
    c.socket?.removeAllListeners('close');
    c.socket?.destroy();
  }
  const cpuSeconds = (cpu.user + cpu.system) / 1e6;
  const result: OpenLoopResult = {
    rate: options.rate,
    scheduled,
    completed,
    ok,
    non2xx,
    errors,
    timeouts,
    achievedRps: completed / Math.max((scheduled * intervalMs) / 1000, (lastResponseAt - t0) / 1000),
    latency: percentiles(latency),
    sendLag: percentiles(sendLag),
    late,
    waitedForConnection,
    generatorCpu: { seconds: cpuSeconds, percentOfCore: (100 * cpuSeconds) / wallSeconds, microsPerRequest: (cpuSeconds * 1e6) / Math.max(1, completed) },
    connectionsOpened,
    startEpochMs,
    intervalMs,
    errorSamples,
  };
  if (options.keepSamples) result.samples = { latency, sendLag };
  return result;
}

import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createInterface } from 'node:readline';

/** How a fault upstream answers requests (other than its health path). */
export type FaultMode =
  /** 200 with JSON {instance, method, url, bodyBytes}. */
  | { kind: 'ok' }
  /** This status (after `delayMs`), JSON body. */
  | { kind: 'status'; status: number; delayMs?: number }
  /** Reads the request and never answers (until release() or close()). */
  | { kind: 'hang' }
  /** Answers 200 after `delayMs`. */
  | { kind: 'slowHeaders'; delayMs: number }
  /** Reads the request, then destroys the connection without a response. */
  | { kind: 'resetBeforeResponse' }
  /** Sends headers and half the body, then destroys the connection. */
  | { kind: 'resetMidBody' }
  /** Answers 200 with keep-alive, then destroys the connection as soon as the response is flushed. */
  | { kind: 'closeAfterResponse' };

export interface ReceivedRequest {
  method: string;
  url: string;
  bodyBytes: number;
}

/**
 * A real HTTP server on 127.0.0.1 that misbehaves on command: see FaultMode, plus refuse()
 * (stop listening and cut every connection: connection refused until restore()). Its health
 * path answers `healthStatus`. Counts every request it receives (health probes apart).
 */
export class FaultUpstream {
  readonly server: Server;
  port = 0;
  mode: FaultMode = { kind: 'ok' };
  healthStatus = 200;
  /** Requests received, health probes excluded, in arrival order. */
  readonly received: ReceivedRequest[] = [];
  healthProbes = 0;
  private readonly sockets = new Set<Socket>();
  private readonly hung = new Set<ServerResponse>();

  private constructor(
    readonly name: string,
    private readonly healthPath: string,
  ) {
    this.server = createServer((req, res) => this.handle(req, res));
    this.server.keepAliveTimeout = 30_000;
    this.server.on('connection', (s: Socket) => {
      this.sockets.add(s);
      s.once('close', () => this.sockets.delete(s));
    });
  }

  static async start(name: string, options: { healthPath?: string } = {}): Promise<FaultUpstream> {
    const upstream = new FaultUpstream(name, options.healthPath ?? '/health');
    await upstream.listen(0);
    return upstream;
  }

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  get attempts(): number {
    return this.received.length;
  }

  setMode(mode: FaultMode): void {
    this.mode = mode;
  }

  /** Answers every hung request, with 200 unless told otherwise. */
  release(status = 200): void {
    for (const res of this.hung) this.answer(res, status, { instance: this.name, released: true });
    this.hung.clear();
  }

  /** Stops listening and destroys every connection: from now on, connections are refused. */
  async refuse(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of this.sockets) s.destroy();
    this.hung.clear();
    await closed;
  }

  /** Listens again on the same port. */
  async restore(): Promise<void> {
    await this.listen(this.port);
  }

  async close(): Promise<void> {
    if (!this.server.listening) return;
    await this.refuse();
  }

  private async listen(port: number): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(port, '127.0.0.1', () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    this.port = (this.server.address() as AddressInfo).port;
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    let bodyBytes = 0;
    req.on('data', (c: Buffer) => (bodyBytes += c.length));
    req.on('end', () => {
      if (req.url === this.healthPath) {
        this.healthProbes++;
        this.answer(res, this.healthStatus, { instance: this.name, health: this.healthStatus });
        return;
      }
      const info: ReceivedRequest = { method: req.method!, url: req.url!, bodyBytes };
      this.received.push(info);
      const mode = this.mode;
      const reply = { instance: this.name, ...info };
      switch (mode.kind) {
        case 'ok':
          this.answer(res, 200, reply);
          return;
        case 'status':
          if (mode.delayMs) setTimeout(() => this.answer(res, mode.status, reply), mode.delayMs);
          else this.answer(res, mode.status, reply);
          return;
        case 'hang':
          this.hung.add(res);
          res.once('close', () => this.hung.delete(res));
          return;
        case 'slowHeaders':
          setTimeout(() => this.answer(res, 200, reply), mode.delayMs);
          return;
        case 'resetBeforeResponse':
          req.socket.destroy();
          return;
        case 'resetMidBody': {
          res.writeHead(200, { 'content-type': 'application/json', 'content-length': 1000, 'x-instance': this.name });
          res.write('x'.repeat(500), () => setTimeout(() => req.socket.destroy(), 10));
          return;
        }
        case 'closeAfterResponse': {
          const socket = req.socket;
          this.answer(res, 200, reply, { connection: 'keep-alive', 'keep-alive': 'timeout=30' });
          res.once('finish', () => setImmediate(() => socket.destroy()));
          return;
        }
      }
    });
  }

  private answer(res: ServerResponse, status: number, body: object, extra: Record<string, string> = {}): void {
    if (res.destroyed || res.headersSent) return;
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), 'x-instance': this.name, ...extra });
    res.end(text);
  }
}

/** A plain echo upstream in its own process, so a test can kill it with SIGKILL. */
export interface ChildUpstream {
  readonly name: string;
  readonly port: number;
  readonly process: ChildProcess;
  /** kill -9, resolved when the process is gone. */
  kill(): Promise<void>;
}

const CHILD_SERVER = `
const http = require('node:http');
const name = process.argv[1];
const server = http.createServer((req, res) => {
  req.resume();
  req.on('end', () => {
    const body = JSON.stringify({ instance: name, method: req.method, url: req.url });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
});
server.keepAliveTimeout = 30000;
server.listen(0, '127.0.0.1', () => console.log(server.address().port));
`;

export async function startChildUpstream(name: string): Promise<ChildUpstream> {
  const child = spawn(process.execPath, ['-e', CHILD_SERVER, name], { stdio: ['ignore', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! });
    lines.once('line', (line) => resolve(Number(line)));
    child.once('exit', (code) => reject(new Error(`child upstream ${name} exited with code ${code} before listening`)));
  });
  return {
    name,
    port,
    process: child,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}
